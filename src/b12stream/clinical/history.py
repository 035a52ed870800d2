"""One patient's results as immutable data, with the HL7 result-status semantics of spec 2.1."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from b12stream.clinical.analyte_records import AnalyteRecords, extended, grouped, without_oldest
from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.clinical.observation_json import (
    aware,
    compact_json,
    observation_json,
    observation_to_dict,
    observations_from_dicts,
    patient_json,
)
from b12stream.clinical.result_status import (
    CANCELLED_STATUSES,
    CORRECTION,
    EVIDENCE_STATUSES,
    ORDERED_STATUSES,
    PENDING_STATUSES,
    PROVISIONAL_STATUSES,
    REMOVAL_STATUSES,
    STORED_STATUSES,
    is_evidence,
    is_pending,
    normalised,
)
from b12stream.errors import ClinicalError, cause
from b12stream.hl7.records import slot_constructor

__all__ = [
    "CANCELLED_STATUSES",
    "EVIDENCE_STATUSES",
    "ORDERED_STATUSES",
    "PENDING_STATUSES",
    "PROVISIONAL_STATUSES",
    "REMOVAL_STATUSES",
    "AnalyteRecords",
    "DeletedResult",
    "HistoryChange",
    "PatientHistory",
    "Retention",
    "history_order",
    "is_evidence",
    "is_pending",
]

_FORMAT_VERSION = 1
T = TypeVar("T")
# Values derived from the records up to a time (see ``PatientHistory.settled``): by key, moment and
# the moment's time zone.
_Settled = dict[tuple[Hashable, datetime, Any], Any]


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
class DeletedResult:
    """A result key the laboratory deleted (OBX-11 D) or posted to the wrong patient (W).

    Kept for as long as the result itself would have been (its collection time and analyte decide,
    see ``Retention``), so that the original result sent again never counts as new.
    """

    result_key: ResultKey
    status: str  # D or W: the first removal of the key
    observed_at: datetime  # collection time of the deleted result
    analyte: str


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """What one ``PatientHistory.apply`` did.

    ``changed``: the history differs, in its records or in the result keys it remembers as deleted
    (a D or W for a key it held no record of changes only those). ``corrected``: keys whose stored
    evidence was replaced by different content (OBX-11 C, or a new final for the same key).
    ``deleted``: keys whose record D/W removed. ``added``: the observations that were stored
    (evidence, provisional, ordered and cancelled records), in the order applied.
    """

    changed: bool
    corrected: frozenset[ResultKey]
    deleted: frozenset[ResultKey]
    added: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """Every stored record of one patient, one per result key, sorted by collection time then key,
    and the keys of results deleted (D/W) since, sorted the same way.

    A record is evidence (F/C/U), provisional (P/S/R), ordered (I/O) or cancelled (X). The value is
    a pure function of the set of applied observations for distinct keys, so the order in which
    unrelated results arrive does not matter.
    """

    patient: PatientKey
    records: tuple[Observation, ...] = ()
    deleted: tuple[DeletedResult, ...] = ()
    # Derived from ``records`` on first use and never part of equality: records by key (and the
    # pending ones), records by analyte (see ``by_analyte``), and the JSON text of the first records
    # (see ``to_json``), which a history shares with the histories that grew from it.
    _keyed: _Keyed | None = field(default=None, init=False, repr=False, compare=False)
    _by_analyte: AnalyteRecords | None = field(default=None, init=False, repr=False, compare=False)
    _derived: dict[Hashable, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _texts: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _settled: _Settled | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Views select by time within each analyte's records, so the order is an invariant (and equal
        # histories write equal JSON).
        ordered = _sorted(self.records)
        if ordered != self.records:
            object.__setattr__(self, "records", ordered)
        deleted = _sorted_deletions(self.deleted)
        if deleted != self.deleted:
            object.__setattr__(self, "deleted", deleted)

    @classmethod
    def empty(cls, patient: PatientKey) -> PatientHistory:
        return cls._in_order(patient, (), ())

    @classmethod
    def _in_order(
        cls,
        patient: PatientKey,
        records: tuple[Observation, ...],
        deleted: tuple[DeletedResult, ...],
        keyed: _Keyed | None = None,
        by_analyte: AnalyteRecords | None = None,
        texts: tuple[str, ...] = (),
        settled: _Settled | None = None,
    ) -> PatientHistory:
        """A history from records and deleted keys the caller keeps in history order (skips the
        re-sort), with the derived indexes when the caller already has them (``texts``: JSON of the
        first records)."""
        return _new_history(patient, records, deleted, keyed, by_analyte, None, texts, settled)

    def _with_deleted(self, deleted: tuple[DeletedResult, ...]) -> PatientHistory:
        """This history with other deleted keys: same records, so the same indexes and texts (what is
        derived from a history depends on its records alone)."""
        return PatientHistory._in_order(
            self.patient, self.records, deleted, self._keyed, self._by_analyte, self._texts, self._settled
        )

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

    def settled(self, moment: datetime, key: Hashable, make: Callable[[], T]) -> T:
        """The value ``make()`` computes from the records collected at or before ``moment`` alone,
        computed once per ``key`` and moment (a naive moment is UTC). Unlike ``derived``, it is kept
        by the histories that grow from this one by records collected after ``moment``: a patient's
        earlier states are asked about again at every later result. ``key`` must name everything
        ``make`` depends on besides those records."""
        if self._settled is None:
            object.__setattr__(self, "_settled", {})
        settled = cast(_Settled, self._settled)
        moment = aware(moment)
        entry = (key, moment, moment.tzinfo)
        if entry not in settled:
            settled[entry] = make()
        found: T = settled[entry]
        return found

    def by_analyte(self) -> AnalyteRecords:
        """Evidence and pending records grouped by analyte, each group in history order, with their
        collection times. Computed once per history (it is immutable)."""
        found = self._by_analyte
        if found is None:
            found = grouped(self.records)
            object.__setattr__(self, "_by_analyte", found)
        return found

    def _index(self) -> _Keyed:
        found = self._keyed
        if found is None:
            by_key = {record.result_key: record for record in self.records}
            found = _new_keyed(by_key, {key: record for key, record in by_key.items() if is_pending(record)})
            object.__setattr__(self, "_keyed", found)
        return found

    def apply(self, observations: Sequence[Observation]) -> tuple[PatientHistory, HistoryChange]:
        """Apply results in order with the spec 2.1 status semantics; never mutates ``self``.

        - F/C/U replace the record with the same key (and clear pending records of the same order);
        - P/S/R and I/O are stored unless evidence for that key already exists (a late preliminary
          never downgrades a final), and F/U unless a correction does (a re-sent final never undoes
          the correction: R10 idempotency);
        - X stores a cancelled record, which clears the pending records of that order;
        - D/W remove the record with that key and remember the key as deleted (also when no record
          was held); from then on the key takes a correction (C) alone: the original result sent
          again, or any earlier status of it, changes nothing (R10 idempotency);
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
        # Never both a record and a deleted key: a removal drops the record, a correction the key.
        removals = {gone.result_key: gone for gone in self.deleted}
        removals_changed = False
        for raw in observations:
            observation = normalised(raw)
            status = observation.status
            key = observation.result_key
            prior = by_key.get(key)
            if status in REMOVAL_STATUSES:
                if key not in removals:
                    withdrawn = observation if prior is None else prior
                    removals[key] = _new_deleted(key, status, withdrawn.observed_at, withdrawn.analyte)
                    removals_changed = True
                if prior is not None:
                    del by_key[key]
                    if pending:
                        pending.pop(key, None)
                    deleted.add(key)
                    corrected.discard(key)
                    reshaped = True
                continue
            if status not in STORED_STATUSES:
                continue
            if key in removals:
                if status != CORRECTION:
                    continue  # the deleted result (or an earlier status of it) sent again
                # A correction of a deleted result is applied, as a new result: C is how HL7 lets
                # the laboratory post a result under that key again on purpose, where a resend or a
                # replay repeats the statuses it had (F, P, I...). From then on the key is corrected.
                del removals[key]
                removals_changed = True
            if prior is not None and _same_content(prior, observation):
                continue
            if status in EVIDENCE_STATUSES:
                if prior is not None and prior.status == CORRECTION and status != CORRECTION:
                    continue  # the final it corrected, re-sent: it never undoes the correction
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
        remembered = _sorted_deletions(removals.values()) if removals_changed else self.deleted
        if not (added or deleted):
            if not removals_changed:
                return self, _new_change(False, frozenset(), frozenset(), ())
            return self._with_deleted(remembered), _new_change(True, frozenset(), frozenset(), ())
        history = self._with(by_key, pending, stored, added, reshaped, remembered)
        return history, _new_change(True, frozenset(corrected), frozenset(deleted), tuple(added))

    def _with(
        self,
        by_key: dict[ResultKey, Observation],
        pending: dict[ResultKey, Observation],
        stored: Mapping[ResultKey, None],
        added: Sequence[Observation],
        reshaped: bool,
        deleted: tuple[DeletedResult, ...],
    ) -> PatientHistory:
        """The history holding exactly ``by_key``'s records, and the ``deleted`` keys. When the change
        only added records collected after every stored one (the usual case in a time-ordered feed),
        the records and the analyte groups are extended rather than rebuilt."""
        keyed = _new_keyed(by_key, pending)
        # Unless reshaped, every stored key is new and still present: its records are ``added``.
        fresh = sorted(
            [by_key[key] for key in stored if key in by_key] if reshaped else added, key=history_order
        )
        if reshaped:
            kept = [record for record in self.records if record.result_key in by_key]
            kept = [record for record in kept if record.result_key not in stored]
        elif not self.records or (fresh and history_order(self.records[-1]) < history_order(fresh[0])):
            known = self._by_analyte
            groups = None if known is None else extended(known, fresh)
            records = (*self.records, *fresh)
            settled = _before(self._settled, fresh[0].observed_at)
            texts = self._texts
            return PatientHistory._in_order(self.patient, records, deleted, keyed, groups, texts, settled)
        else:
            kept = list(self.records)
        for record in fresh:
            insort(kept, record, key=history_order)
        # Unless reshaped, records were only added: what was settled before the first of them holds.
        settled = None if reshaped else _before(self._settled, fresh[0].observed_at)
        return PatientHistory._in_order(self.patient, tuple(kept), deleted, keyed, settled=settled)

    def pruned(self, at: datetime, retention: Retention) -> PatientHistory:
        """Drop records, and deleted keys, collected longer ago than their analyte's retention
        before ``at``: a deleted result is remembered for as long as it would have been kept."""
        moment = aware(at)
        history = self._records_pruned(moment, retention)
        if not self.deleted or self.deleted[0].observed_at >= moment - timedelta(
            days=min(retention.default_days, retention.long_lived_days)
        ):
            return history
        deleted = tuple(
            gone
            for gone in self.deleted
            if gone.observed_at >= moment - timedelta(days=retention.days_for(gone.analyte))
        )
        return history if len(deleted) == len(self.deleted) else history._with_deleted(deleted)

    def _records_pruned(self, moment: datetime, retention: Retention) -> PatientHistory:
        """``pruned`` for the records (an aware ``moment``), the deleted keys left as they are."""
        if not self.records:
            return self
        shortest = min(retention.default_days, retention.long_lived_days)
        if self.records[0].observed_at >= moment - timedelta(days=shortest):
            return self  # even the oldest record is inside every retention
        default_horizon = moment - timedelta(days=retention.default_days)
        long_horizon = moment - timedelta(days=retention.long_lived_days)
        long_lived = retention.long_lived_analytes
        # Records go in collection order: those before both horizons all go, those after both all
        # stay, and only the ones between depend on their analyte.
        records = self.records
        first = bisect_left(records, min(default_horizon, long_horizon), key=_collected_at)
        last = bisect_left(records, max(default_horizon, long_horizon), key=_collected_at)
        between = [
            record
            for record in records[first:last]
            if record.observed_at >= (long_horizon if record.analyte in long_lived else default_horizon)
        ]
        kept = (*between, *records[last:])
        dropped = len(self.records) - len(kept)
        if not dropped:
            return self
        if not kept or kept[0] is not self.records[dropped]:  # all went, or not only the oldest
            return PatientHistory._in_order(self.patient, kept, self.deleted)
        # Usually only the oldest records go (a long stay at the retention's edge loses a day at
        # every new day): the others keep their JSON text and their indexes, less the ones gone.
        gone = self.records[:dropped]
        keyed = None if self._keyed is None else self._keyed.without(gone)
        groups = None if self._by_analyte is None else without_oldest(self._by_analyte, gone)
        texts = self._texts[dropped:]
        return PatientHistory._in_order(self.patient, kept, self.deleted, keyed, groups, texts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; ``from_dict(to_dict())`` is equal to the original. ``"deleted"`` only when
        there are deleted keys, so a history without any is written as before they were kept; and
        before ``"records"``, which stay last in a stored state (where ``PatientState`` finds their
        text)."""
        data: dict[str, Any] = {
            "version": _FORMAT_VERSION,
            "patient": {"id": self.patient.id, "assigning_authority": self.patient.assigning_authority},
        }
        if self.deleted:
            data["deleted"] = [_deleted_to_dict(gone) for gone in self.deleted]
        data["records"] = [observation_to_dict(record) for record in self.records]
        return data

    def to_json(self) -> str:
        """``compact_json(self.to_dict())``. A record's text is written once and kept with the
        history and the histories that grow from it, so writing a long history after a new result
        costs little more than the new records."""
        texts = self._texts
        if len(texts) < len(self.records):
            texts = (*texts, *[observation_json(record) for record in self.records[len(texts) :]])
            object.__setattr__(self, "_texts", texts)
        records = ",".join(texts)
        deleted = ""
        if self.deleted:
            deleted = f',"deleted":{compact_json([_deleted_to_dict(gone) for gone in self.deleted])}'
        return (
            f'{{"version":{_FORMAT_VERSION},"patient":{patient_json(self.patient)}{deleted},'
            f'"records":[{records}]}}'
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], texts: Sequence[str] | None = None) -> PatientHistory:
        """Inverse of ``to_dict``; raises ClinicalError when the data is not a stored history.

        ``texts``, when given, are the records' JSON text as ``to_json`` wrote them (in the order of
        ``data["records"]``): they are kept for the next ``to_json`` when the records are stored
        as ``to_json`` writes them (in history order, with the JSON types it writes).
        """
        try:
            if data["version"] != _FORMAT_VERSION:
                raise ClinicalError(f"patient history format {data['version']!r} is not supported")
            patient = PatientKey(str(data["patient"]["id"]), str(data["patient"]["assigning_authority"]))
            records, as_written = observations_from_dicts(data["records"])
            # Absent from every history stored before deleted keys were kept.
            deleted = tuple(_deleted_from_dict(item) for item in data.get("deleted", ()))
        except (KeyError, TypeError, ValueError) as error:
            raise ClinicalError(f"stored patient history is malformed: {cause(error)}") from error
        history = cls(patient, records, deleted)
        if texts is not None and as_written and len(texts) == len(records) and history.records is records:
            object.__setattr__(history, "_texts", tuple(texts))
        return history


def _deleted_to_dict(gone: DeletedResult) -> dict[str, Any]:
    key = gone.result_key
    return {
        "result_key": [key.filler_order_number, key.code, key.sub_id],
        "status": gone.status,
        "observed_at": gone.observed_at.isoformat(),
        "analyte": gone.analyte,
    }


def _deleted_from_dict(data: Mapping[str, Any]) -> DeletedResult:
    """Inverse of ``_deleted_to_dict``; raises KeyError, TypeError or ValueError when malformed."""
    filler, code, sub_id = data["result_key"]
    status = data["status"]
    if status not in REMOVAL_STATUSES:
        raise ValueError(f"a deleted result's status is {status!r}, not D or W")
    fields = (filler, code, sub_id, data["analyte"], data["observed_at"])
    if not all(type(value) is str for value in fields):
        raise TypeError("a deleted result's key, analyte and time are text")
    moment = aware(datetime.fromisoformat(data["observed_at"]))
    return _new_deleted(_new_result_key(filler, code, sub_id), status, moment, data["analyte"])


def _before(settled: _Settled | None, moment: datetime) -> _Settled | None:
    """The settled values that records collected at ``moment`` or later cannot change."""
    return {entry: value for entry, value in settled.items() if entry[1] < moment} if settled else None


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


def _collected_at(record: Observation) -> datetime:
    return record.observed_at


def history_order(record: Observation) -> tuple[datetime, str, str, str]:
    """The sort key of a history's records: collection time, then result key (by its fields, which
    is how ResultKey itself orders; plain strings compare faster)."""
    key = record.result_key
    return (record.observed_at, key.filler_order_number, key.code, key.sub_id)


def _sorted(records: Sequence[Observation]) -> tuple[Observation, ...]:
    return tuple(sorted(records, key=history_order))


def _sorted_deletions(deleted: Iterable[DeletedResult]) -> tuple[DeletedResult, ...]:
    """Deleted keys in history order: by collection time, then result key."""
    return tuple(sorted(deleted, key=lambda gone: (gone.observed_at, gone.result_key)))


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A history's records by result key, and the pending ones among them. Never mutated."""

    by_key: dict[ResultKey, Observation]
    pending: dict[ResultKey, Observation]

    def without(self, records: Sequence[Observation]) -> _Keyed:
        """These indexes less ``records``, records of the history they index."""
        by_key = dict(self.by_key)
        pending = dict(self.pending)
        for record in records:
            del by_key[record.result_key]
            pending.pop(record.result_key, None)
        return _new_keyed(by_key, pending)


# Built once or twice per message (a new patient's, then each change): the classes' own constructors
# set each field through object.__setattr__, and the history's would sort records already in order.
_new_history = slot_constructor(PatientHistory, without_post_init=True)
_new_change = slot_constructor(HistoryChange)
_new_deleted = slot_constructor(DeletedResult)
_new_result_key = slot_constructor(ResultKey)
_new_keyed = slot_constructor(_Keyed)
