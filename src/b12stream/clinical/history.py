"""One patient's results as immutable data, with the HL7 result-status semantics of spec 2.1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.errors import ClinicalError

__all__ = [
    "CANCELLED_STATUSES",
    "EVIDENCE_STATUSES",
    "ORDERED_STATUSES",
    "PENDING_STATUSES",
    "PROVISIONAL_STATUSES",
    "REMOVAL_STATUSES",
    "HistoryChange",
    "PatientHistory",
    "Retention",
    "is_evidence",
    "is_pending",
]

EVIDENCE_STATUSES = frozenset({"F", "C", "U"})
PROVISIONAL_STATUSES = frozenset({"P", "S", "R"})
ORDERED_STATUSES = frozenset({"I", "O"})
CANCELLED_STATUSES = frozenset({"X"})
REMOVAL_STATUSES = frozenset({"D", "W"})
# Provisional results count as pending for suggestion coverage (R11 b) and ADAMTS13 status.
PENDING_STATUSES = PROVISIONAL_STATUSES | ORDERED_STATUSES
_STORED_STATUSES = EVIDENCE_STATUSES | PENDING_STATUSES | CANCELLED_STATUSES

_FORMAT_VERSION = 1


def _status(observation: Observation) -> str:
    return observation.status.strip().upper()


def is_evidence(observation: Observation) -> bool:
    """True for final, corrected and 'changed to final' results: the only ones rules may use."""
    return _status(observation) in EVIDENCE_STATUSES


def is_pending(observation: Observation) -> bool:
    """True for an ordered, in-lab or provisional record: an order whose result has not arrived."""
    return _status(observation) in PENDING_STATUSES


def _aware(moment: datetime) -> datetime:
    # The HL7 layer reads a timestamp without an offset as UTC; records built elsewhere follow suit.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _normalised(observation: Observation) -> Observation:
    status = _status(observation)
    moment = _aware(observation.observed_at)
    if status == observation.status and moment is observation.observed_at:
        return observation
    return replace(observation, status=status, observed_at=moment)


def _same_content(a: Observation, b: Observation) -> bool:
    """Equal apart from the message that carried it: a re-sent result is not a new result."""
    return replace(a, source_message_id="") == replace(b, source_message_id="")


def _same_order(a: Observation, b: Observation) -> bool:
    """Two records of one order for one analyte (an order-level row and its OBX result, say)."""
    return (
        a.analyte == b.analyte
        and a.result_key.filler_order_number != ""
        and a.result_key.filler_order_number == b.result_key.filler_order_number
    )


@dataclass(frozen=True, slots=True)
class Retention:
    """How long results are kept: antibodies (IFAB, PCA) 5 years, everything else 400 days."""

    default_days: float = 400.0
    long_lived_analytes: frozenset[str] = frozenset({"intrinsic_factor_ab", "parietal_cell_ab"})
    long_lived_days: float = 1826.0

    def days_for(self, analyte: str) -> float:
        return self.long_lived_days if analyte in self.long_lived_analytes else self.default_days


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """What one ``PatientHistory.apply`` did.

    ``corrected``: keys whose stored evidence was replaced by different content (OBX-11 C, or a new
    final for the same key). ``deleted``: keys removed by D/W. ``added``: the observations that were
    stored (evidence, provisional, ordered and cancelled records), in the order applied.
    """

    changed: bool
    corrected: frozenset[ResultKey]
    deleted: frozenset[ResultKey]
    added: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """Every stored record of one patient, one per result key, sorted by collection time then key.

    A record is evidence (F/C/U), provisional (P/S/R), ordered (I/O) or cancelled (X). The value is
    a pure function of the set of applied observations for distinct keys, so the order in which
    unrelated results arrive does not matter.
    """

    patient: PatientKey
    records: tuple[Observation, ...] = ()

    def __post_init__(self) -> None:
        # Views stop scanning at the first record past their time, so the order is an invariant.
        ordered = _sorted(self.records)
        if ordered != self.records:
            object.__setattr__(self, "records", ordered)

    @classmethod
    def empty(cls, patient: PatientKey) -> PatientHistory:
        return cls(patient=patient)

    def apply(self, observations: Sequence[Observation]) -> tuple[PatientHistory, HistoryChange]:
        """Apply results in order with the spec 2.1 status semantics; never mutates ``self``.

        - F/C/U replace the record with the same key (and clear pending records of the same order);
        - P/S/R and I/O are stored unless evidence for that key already exists (a late preliminary
          never downgrades a final);
        - X stores a cancelled record, which clears the pending records of that order;
        - D/W remove the record with that key;
        - an identical re-send, or an unknown status, changes nothing.
        """
        by_key: dict[ResultKey, Observation] = {record.result_key: record for record in self.records}
        corrected: set[ResultKey] = set()
        deleted: set[ResultKey] = set()
        added: list[Observation] = []
        for raw in observations:
            observation = _normalised(raw)
            status = observation.status
            key = observation.result_key
            prior = by_key.get(key)
            if status in REMOVAL_STATUSES:
                if prior is not None:
                    del by_key[key]
                    deleted.add(key)
                    corrected.discard(key)
                continue
            if status not in _STORED_STATUSES:
                continue
            if prior is not None and _same_content(prior, observation):
                continue
            if status in EVIDENCE_STATUSES:
                if (
                    prior is not None
                    and is_evidence(prior)
                    and not _same_content(replace(prior, status=status), observation)
                ):
                    corrected.add(key)
                _clear_pending_of_order(by_key, observation)
            elif prior is not None and is_evidence(prior):
                continue
            elif status in CANCELLED_STATUSES:
                _clear_pending_of_order(by_key, observation)
            by_key[key] = observation
            added.append(observation)
        changed = bool(added or deleted)
        if not changed:
            return self, HistoryChange(False, frozenset(), frozenset(), ())
        history = PatientHistory(self.patient, tuple(by_key.values()))
        return history, HistoryChange(True, frozenset(corrected), frozenset(deleted), tuple(added))

    def pruned(self, at: datetime, retention: Retention) -> PatientHistory:
        """Drop records collected longer ago than their analyte's retention before ``at``."""
        moment = _aware(at)
        kept = tuple(
            record
            for record in self.records
            if record.observed_at >= moment - timedelta(days=retention.days_for(record.analyte))
        )
        return self if len(kept) == len(self.records) else PatientHistory(self.patient, kept)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; ``from_dict(to_dict())`` is equal to the original."""
        return {
            "version": _FORMAT_VERSION,
            "patient": {"id": self.patient.id, "assigning_authority": self.patient.assigning_authority},
            "records": [_observation_to_dict(record) for record in self.records],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientHistory:
        """Inverse of ``to_dict``; raises ClinicalError when the data is not a stored history."""
        try:
            if data["version"] != _FORMAT_VERSION:
                raise ClinicalError(f"patient history format {data['version']!r} is not supported")
            patient = PatientKey(str(data["patient"]["id"]), str(data["patient"]["assigning_authority"]))
            records = tuple(_observation_from_dict(item) for item in data["records"])
        except (KeyError, TypeError, ValueError) as error:
            raise ClinicalError(f"stored patient history is malformed: {error!r}") from error
        return cls(patient, records)


def _clear_pending_of_order(by_key: dict[ResultKey, Observation], observation: Observation) -> None:
    stale = [
        key
        for key, record in by_key.items()
        if key != observation.result_key and is_pending(record) and _same_order(record, observation)
    ]
    for key in stale:
        del by_key[key]


def _sorted(records: Sequence[Observation]) -> tuple[Observation, ...]:
    return tuple(sorted(records, key=lambda record: (record.observed_at, record.result_key)))


def _observation_to_dict(observation: Observation) -> dict[str, Any]:
    key = observation.result_key
    return {
        "analyte": observation.analyte,
        "code": observation.code,
        "value": observation.value,
        "unit": observation.unit,
        "observed_at": observation.observed_at.isoformat(),
        "status": observation.status,
        "result_key": [key.filler_order_number, key.code, key.sub_id],
        "source_message_id": observation.source_message_id,
        "comparator": observation.comparator,
        "text": observation.text,
        "reference_low": observation.reference_low,
        "reference_high": observation.reference_high,
        "flags": list(observation.flags),
        "unusable_reason": observation.unusable_reason,
    }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _observation_from_dict(data: Mapping[str, Any]) -> Observation:
    filler, code, sub_id = data["result_key"]
    return Observation(
        analyte=str(data["analyte"]),
        code=str(data["code"]),
        value=_optional_float(data["value"]),
        unit=str(data["unit"]),
        observed_at=_aware(datetime.fromisoformat(data["observed_at"])),
        status=str(data["status"]),
        result_key=ResultKey(str(filler), str(code), str(sub_id)),
        source_message_id=str(data["source_message_id"]),
        comparator=str(data["comparator"]),
        text=str(data["text"]),
        reference_low=_optional_float(data["reference_low"]),
        reference_high=_optional_float(data["reference_high"]),
        flags=tuple(str(flag) for flag in data["flags"]),
        unusable_reason=str(data["unusable_reason"]),
    )
