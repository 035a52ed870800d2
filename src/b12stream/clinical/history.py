"""One patient's results as immutable data, with the HL7 result-status semantics of spec 2.1."""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.clinical.observation_json import aware, observation_from_dict, observation_to_dict
from b12stream.errors import ClinicalError

__all__ = [
    "CANCELLED_STATUSES",
    "EVIDENCE_STATUSES",
    "ORDERED_STATUSES",
    "PENDING_STATUSES",
    "PROVISIONAL_STATUSES",
    "REMOVAL_STATUSES",
    "AnalyteRecords",
    "HistoryChange",
    "PatientHistory",
    "Retention",
    "history_order",
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
_NORMALISED_STATUSES = _STORED_STATUSES | REMOVAL_STATUSES

_FORMAT_VERSION = 1
T = TypeVar("T")


def _status(observation: Observation) -> str:
    status = observation.status
    # Stored records already carry the normalised code; only raw input needs stripping and folding.
    return status if status in _NORMALISED_STATUSES else status.strip().upper()


def is_evidence(observation: Observation) -> bool:
    """True for final, corrected and 'changed to final' results: the only ones rules may use."""
    return _status(observation) in EVIDENCE_STATUSES


def is_pending(observation: Observation) -> bool:
    """True for an ordered, in-lab or provisional record: an order whose result has not arrived."""
    return _status(observation) in PENDING_STATUSES


def _normalised(observation: Observation) -> Observation:
    status = _status(observation)
    moment = aware(observation.observed_at)
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
    # Derived from ``records`` on first use and never part of equality: records by key (and the
    # pending ones), and records by analyte (see ``by_analyte``).
    _keyed: _Keyed | None = field(default=None, init=False, repr=False, compare=False)
    _by_analyte: AnalyteRecords | None = field(default=None, init=False, repr=False, compare=False)
    _derived: dict[Hashable, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Views select by time within each analyte's records, so the order is an invariant.
        ordered = _sorted(self.records)
        if ordered != self.records:
            object.__setattr__(self, "records", ordered)

    @classmethod
    def empty(cls, patient: PatientKey) -> PatientHistory:
        return cls(patient=patient)

    @classmethod
    def _in_order(
        cls,
        patient: PatientKey,
        records: tuple[Observation, ...],
        keyed: _Keyed | None = None,
        by_analyte: AnalyteRecords | None = None,
    ) -> PatientHistory:
        """A history from records the caller keeps in history order (skips the re-sort), with the
        derived indexes when the caller already has them."""
        history = cls.__new__(cls)
        object.__setattr__(history, "patient", patient)
        object.__setattr__(history, "records", records)
        object.__setattr__(history, "_keyed", keyed)
        object.__setattr__(history, "_by_analyte", by_analyte)
        object.__setattr__(history, "_derived", None)
        return history

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value ``make()`` computes from this history, computed once per ``key``.

        A history is immutable, so what is derived from it (a view at one time, say) can be kept
        with it: one message asks for the same view several times. ``key`` must name everything
        ``make`` depends on besides the history.
        """
        derived = self._derived
        if derived is None:
            derived = {}
            object.__setattr__(self, "_derived", derived)
        if key in derived:
            found: T = derived[key]
            return found
        value = derived[key] = make()
        return value

    def by_analyte(self) -> AnalyteRecords:
        """Evidence and pending records grouped by analyte, each group in history order, with their
        collection times. Computed once per history (it is immutable)."""
        found = self._by_analyte
        if found is None:
            found = _group(self.records)
            object.__setattr__(self, "_by_analyte", found)
        return found

    def _index(self) -> _Keyed:
        found = self._keyed
        if found is None:
            by_key = {record.result_key: record for record in self.records}
            found = _Keyed(by_key, {key: record for key, record in by_key.items() if is_pending(record)})
            object.__setattr__(self, "_keyed", found)
        return found

    def apply(self, observations: Sequence[Observation]) -> tuple[PatientHistory, HistoryChange]:
        """Apply results in order with the spec 2.1 status semantics; never mutates ``self``.

        - F/C/U replace the record with the same key (and clear pending records of the same order);
        - P/S/R and I/O are stored unless evidence for that key already exists (a late preliminary
          never downgrades a final);
        - X stores a cancelled record, which clears the pending records of that order;
        - D/W remove the record with that key;
        - an identical re-send, or an unknown status, changes nothing.
        """
        index = self._index()
        by_key = dict(index.by_key)
        # Pending records by key, kept in step with by_key: most patients have none, and a final
        # result only has to look among these for pending records of its order.
        pending = dict(index.pending)
        corrected: set[ResultKey] = set()
        deleted: set[ResultKey] = set()
        stored: dict[ResultKey, None] = {}  # keys given a new record, in order
        added: list[Observation] = []
        reshaped = False  # a stored record was replaced or removed (not only new keys added)
        for raw in observations:
            observation = _normalised(raw)
            status = observation.status
            key = observation.result_key
            prior = by_key.get(key)
            if status in REMOVAL_STATUSES:
                if prior is not None:
                    del by_key[key]
                    if pending:
                        pending.pop(key, None)
                    deleted.add(key)
                    corrected.discard(key)
                    reshaped = True
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
                if pending:
                    reshaped = _clear_pending_of_order(by_key, pending, observation) or reshaped
            elif prior is not None and is_evidence(prior):
                continue
            elif status in CANCELLED_STATUSES and pending:
                reshaped = _clear_pending_of_order(by_key, pending, observation) or reshaped
            by_key[key] = observation
            if status in PENDING_STATUSES:
                pending[key] = observation
            elif pending:
                pending.pop(key, None)
            reshaped = reshaped or prior is not None
            stored[key] = None
            added.append(observation)
        changed = bool(added or deleted)
        if not changed:
            return self, HistoryChange(False, frozenset(), frozenset(), ())
        history = self._with(by_key, pending, stored, added, reshaped)
        return history, HistoryChange(True, frozenset(corrected), frozenset(deleted), tuple(added))

    def _with(
        self,
        by_key: dict[ResultKey, Observation],
        pending: dict[ResultKey, Observation],
        stored: Mapping[ResultKey, None],
        added: Sequence[Observation],
        reshaped: bool,
    ) -> PatientHistory:
        """The history holding exactly ``by_key``'s records. When the change only added records
        collected after every stored one (the usual case in a time-ordered feed), the records and
        the analyte groups are extended rather than rebuilt."""
        keyed = _Keyed(by_key, pending)
        # Unless reshaped, every stored key is new and still present: its records are ``added``.
        fresh = sorted(
            [by_key[key] for key in stored if key in by_key] if reshaped else added, key=history_order
        )
        if reshaped:
            kept = [record for record in self.records if record.result_key in by_key]
            kept = [record for record in kept if record.result_key not in stored]
        elif not self.records or (fresh and history_order(self.records[-1]) < history_order(fresh[0])):
            grouped = self._by_analyte
            extended = None if grouped is None else _extended(grouped, fresh)
            return PatientHistory._in_order(self.patient, (*self.records, *fresh), keyed, extended)
        else:
            kept = list(self.records)
        for record in fresh:
            insort(kept, record, key=history_order)
        return PatientHistory._in_order(self.patient, tuple(kept), keyed)

    def pruned(self, at: datetime, retention: Retention) -> PatientHistory:
        """Drop records collected longer ago than their analyte's retention before ``at``."""
        if not self.records:
            return self
        moment = aware(at)
        shortest = min(retention.default_days, retention.long_lived_days)
        if self.records[0].observed_at >= moment - timedelta(days=shortest):
            return self  # even the oldest record is inside every retention
        default_horizon = moment - timedelta(days=retention.default_days)
        long_horizon = moment - timedelta(days=retention.long_lived_days)
        long_lived = retention.long_lived_analytes
        kept = tuple(
            record
            for record in self.records
            if record.observed_at >= (long_horizon if record.analyte in long_lived else default_horizon)
        )
        return self if len(kept) == len(self.records) else PatientHistory._in_order(self.patient, kept)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; ``from_dict(to_dict())`` is equal to the original."""
        return {
            "version": _FORMAT_VERSION,
            "patient": {"id": self.patient.id, "assigning_authority": self.patient.assigning_authority},
            "records": [observation_to_dict(record) for record in self.records],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientHistory:
        """Inverse of ``to_dict``; raises ClinicalError when the data is not a stored history."""
        try:
            if data["version"] != _FORMAT_VERSION:
                raise ClinicalError(f"patient history format {data['version']!r} is not supported")
            patient = PatientKey(str(data["patient"]["id"]), str(data["patient"]["assigning_authority"]))
            records = tuple(observation_from_dict(item) for item in data["records"])
        except (KeyError, TypeError, ValueError) as error:
            raise ClinicalError(f"stored patient history is malformed: {error!r}") from error
        return cls(patient, records)


def _clear_pending_of_order(
    by_key: dict[ResultKey, Observation], pending: dict[ResultKey, Observation], observation: Observation
) -> bool:
    """Drop the pending records of ``observation``'s order (other keys); True when there were any."""
    stale = [
        key
        for key, record in pending.items()
        if key != observation.result_key and _same_order(record, observation)
    ]
    for key in stale:
        del by_key[key]
        del pending[key]
    return bool(stale)


def history_order(record: Observation) -> tuple[datetime, str, str, str]:
    """The sort key of a history's records: collection time, then result key (by its fields, which
    is how ResultKey itself orders; plain strings compare faster)."""
    key = record.result_key
    return (record.observed_at, key.filler_order_number, key.code, key.sub_id)


def _sorted(records: Sequence[Observation]) -> tuple[Observation, ...]:
    return tuple(sorted(records, key=history_order))


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A history's records by result key, and the pending ones among them. Never mutated."""

    by_key: dict[ResultKey, Observation]
    pending: dict[ResultKey, Observation]


@dataclass(frozen=True, slots=True)
class AnalyteRecords:
    """One history's records by analyte: evidence (F/C/U) and pending (ordered or provisional), each
    in history order, with parallel tuples of collection times for selection by time."""

    evidence: Mapping[str, tuple[Observation, ...]]
    evidence_times: Mapping[str, tuple[datetime, ...]]
    pending: Mapping[str, tuple[Observation, ...]]
    pending_times: Mapping[str, tuple[datetime, ...]]
    latest: datetime | None  # collection time of the last record of the history


def _extended(grouped: AnalyteRecords, later: Sequence[Observation]) -> AnalyteRecords:
    """``grouped`` with records collected after all of its own appended (same result as ``_group``)."""
    evidence = dict(grouped.evidence)
    evidence_times = dict(grouped.evidence_times)
    pending = dict(grouped.pending)
    pending_times = dict(grouped.pending_times)
    for record in later:
        status = _status(record)
        if status in EVIDENCE_STATUSES:
            records, times = evidence, evidence_times
        elif status in PENDING_STATUSES:
            records, times = pending, pending_times
        else:
            continue
        name = record.analyte
        records[name] = (*records.get(name, ()), record)
        times[name] = (*times.get(name, ()), record.observed_at)
    latest = later[-1].observed_at if later else grouped.latest
    return AnalyteRecords(evidence, evidence_times, pending, pending_times, latest)


def _group(records: Sequence[Observation]) -> AnalyteRecords:
    evidence: dict[str, list[Observation]] = {}
    pending: dict[str, list[Observation]] = {}
    for record in records:
        status = _status(record)
        if status in EVIDENCE_STATUSES:
            evidence.setdefault(record.analyte, []).append(record)
        elif status in PENDING_STATUSES:
            pending.setdefault(record.analyte, []).append(record)
    return AnalyteRecords(
        evidence={name: tuple(items) for name, items in evidence.items()},
        evidence_times={name: tuple(r.observed_at for r in items) for name, items in evidence.items()},
        pending={name: tuple(items) for name, items in pending.items()},
        pending_times={name: tuple(r.observed_at for r in items) for name, items in pending.items()},
        latest=records[-1].observed_at if records else None,
    )
