"""One patient's engine state: the patient history plus what was already said (memory), as bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import PatientKey
from b12stream.engine.memory import Memory
from b12stream.errors import ClinicalError, StateError

__all__ = ["STATE_FORMAT", "PatientState"]

STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class PatientState:
    """Immutable; ``process`` returns a new one. Byte form is compact JSON with a format version."""

    history: PatientHistory
    memory: Memory = field(default_factory=Memory)

    @property
    def patient(self) -> PatientKey:
        return self.history.patient

    @classmethod
    def empty(cls, patient: PatientKey) -> PatientState:
        return cls(PatientHistory.empty(patient))

    def to_bytes(self) -> bytes:
        """Deterministic: equal states give equal bytes (fixed key order, no whitespace)."""
        document = {
            "format": STATE_FORMAT,
            "history": self.history.to_dict(),
            "memory": self.memory.to_dict(),
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PatientState:
        """Inverse of ``to_bytes``. Raises StateError when the bytes are not a stored state of this format."""
        try:
            document = json.loads(data.decode("utf-8"))
            if document["format"] != STATE_FORMAT:
                raise StateError(f"patient state format {document['format']!r} is not supported")
            return cls(PatientHistory.from_dict(document["history"]), Memory.from_dict(document["memory"]))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ClinicalError) as error:
            raise StateError(f"stored patient state is unreadable: {error!r}") from error
