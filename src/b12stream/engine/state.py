"""One patient's engine state: the patient history plus what was already said (memory), as bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring

from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import PatientKey
from b12stream.engine.memory import Memory
from b12stream.errors import ClinicalError, StateError, cause

__all__ = ["STATE_FORMAT", "PatientState"]

STATE_FORMAT = 1
# Every new patient's state starts from this one (a Memory is immutable; changes return new ones).
_NOTHING_SAID = Memory()


@dataclass(frozen=True, slots=True)
class PatientState:
    """Immutable; ``process`` returns a new one. Byte form is compact JSON with a format version."""

    history: PatientHistory
    memory: Memory = field(default_factory=Memory)
    # PID-8 as the latest message that stated it gave it ('' until one does): a message that leaves
    # it empty or unknown (another sending system, say) does not make the patient's sex unknown again.
    sex: str = ""

    @property
    def patient(self) -> PatientKey:
        return self.history.patient

    @classmethod
    def empty(cls, patient: PatientKey) -> PatientState:
        return cls(PatientHistory.empty(patient), _NOTHING_SAID)

    def to_bytes(self) -> bytes:
        """Deterministic: equal states give equal bytes (fixed key order, no whitespace). The bytes
        are ``json.dumps`` of ``{"format", "history": history.to_dict(), "memory": memory.to_dict()}``
        (compact, UTF-8), written from the texts the history and the memory keep (their ``to_json``),
        and ``"sex"`` after them once a message has stated it."""
        history = self.history.to_json()
        memory = self.memory.to_json()
        sex = f',"sex":{encode_basestring(self.sex)}' if self.sex else ""
        return f'{{"format":{STATE_FORMAT},"history":{history},"memory":{memory}{sex}}}'.encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PatientState:
        """Inverse of ``to_bytes``. Raises StateError when the bytes are not a stored state of this format.

        The records' text is kept with the history for the next ``to_bytes``, which therefore writes
        back what it read for unchanged records: bytes are expected to come from ``to_bytes``.
        """
        try:
            text = data.decode("utf-8")
            document = json.loads(text)
            if document["format"] != STATE_FORMAT:
                raise StateError(f"patient state format {document['format']!r} is not supported")
            history = PatientHistory.from_dict(document["history"], _record_texts(text))
            sex = document.get("sex", "")
            if not isinstance(sex, str):
                raise StateError("stored patient state is unreadable: sex is not text")
            return cls(history, Memory.from_dict(document["memory"]), sex)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ClinicalError) as error:
            raise StateError(f"stored patient state is unreadable: {cause(error)}") from error


_RECORDS_START = '"records":['
_RECORDS_END = ']},"memory":'
_RECORD_START = '{"analyte":'


def _record_texts(text: str) -> list[str] | None:
    """Each history record's JSON text as ``to_bytes`` wrote it, in stored order; None when the text
    is not laid out that way. Unambiguous: inside a JSON string every quote is escaped, so the
    markers (which contain unescaped quotes) can only be the document's own structure."""
    if text.count(_RECORDS_START) != 1 or text.count(_RECORDS_END) != 1:
        return None
    start = text.find(_RECORDS_START)
    end = text.find(_RECORDS_END, start)
    if end < 0:
        return None
    body = text[start + len(_RECORDS_START) : end]
    if not body:
        return []
    if not body.startswith(_RECORD_START) or not body.endswith("}"):
        return None
    parts = body[len(_RECORD_START) : -1].split("}," + _RECORD_START)
    return [f"{_RECORD_START}{part}}}" for part in parts]
