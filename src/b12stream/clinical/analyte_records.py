"""A patient history's records grouped by analyte, the index every view selects from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from b12stream.clinical.model import Observation
from b12stream.clinical.result_status import EVIDENCE_STATUSES, PENDING_STATUSES, status_of
from b12stream.hl7.records import slot_constructor

__all__ = ["AnalyteRecords", "extended", "grouped", "without_oldest"]


@dataclass(frozen=True, slots=True)
class AnalyteRecords:
    """One history's records by analyte: evidence (F/C/U) and pending (ordered or provisional), each
    in history order, with parallel tuples of collection times for selection by time."""

    evidence: Mapping[str, tuple[Observation, ...]]
    evidence_times: Mapping[str, tuple[datetime, ...]]
    pending: Mapping[str, tuple[Observation, ...]]
    pending_times: Mapping[str, tuple[datetime, ...]]
    latest: datetime | None  # collection time of the last record of the history


# Built at least once per message: the frozen class's own constructor sets each field through
# object.__setattr__.
_new_records = slot_constructor(AnalyteRecords)


def extended(records: AnalyteRecords, later: Sequence[Observation]) -> AnalyteRecords:
    """``records`` with records collected after all of its own appended (same result as ``grouped``
    of the whole sequence)."""
    evidence = dict(records.evidence)
    evidence_times = dict(records.evidence_times)
    pending = dict(records.pending)
    pending_times = dict(records.pending_times)
    for record in later:
        status = status_of(record)
        if status in EVIDENCE_STATUSES:
            chosen, times = evidence, evidence_times
        elif status in PENDING_STATUSES:
            chosen, times = pending, pending_times
        else:
            continue
        name = record.analyte
        chosen[name] = (*chosen.get(name, ()), record)
        times[name] = (*times.get(name, ()), record.observed_at)
    latest = later[-1].observed_at if later else records.latest
    return _new_records(evidence, evidence_times, pending, pending_times, latest)


def without_oldest(records: AnalyteRecords, oldest: Sequence[Observation]) -> AnalyteRecords:
    """``records`` without ``oldest``, the first records of its history in history order (same
    result as ``grouped`` of the rest): within each analyte they are the first ones too."""
    evidence = dict(records.evidence)
    evidence_times = dict(records.evidence_times)
    pending = dict(records.pending)
    pending_times = dict(records.pending_times)
    counts: dict[tuple[str, bool], int] = {}
    for record in oldest:
        status = status_of(record)
        if status in EVIDENCE_STATUSES or status in PENDING_STATUSES:
            group = (record.analyte, status in EVIDENCE_STATUSES)
            counts[group] = counts.get(group, 0) + 1
    for (name, is_evidence), count in counts.items():
        chosen, times = (evidence, evidence_times) if is_evidence else (pending, pending_times)
        if count < len(chosen[name]):
            chosen[name], times[name] = chosen[name][count:], times[name][count:]
        else:
            del chosen[name], times[name]
    return _new_records(evidence, evidence_times, pending, pending_times, records.latest)


def grouped(records: Sequence[Observation]) -> AnalyteRecords:
    """``records`` (in history order) by analyte."""
    evidence: dict[str, list[Observation]] = {}
    pending: dict[str, list[Observation]] = {}
    for record in records:
        status = status_of(record)
        if status in EVIDENCE_STATUSES:
            evidence.setdefault(record.analyte, []).append(record)
        elif status in PENDING_STATUSES:
            pending.setdefault(record.analyte, []).append(record)
    return _new_records(
        {name: tuple(items) for name, items in evidence.items()},  # evidence
        {name: tuple(r.observed_at for r in items) for name, items in evidence.items()},  # evidence_times
        {name: tuple(items) for name, items in pending.items()},  # pending
        {name: tuple(r.observed_at for r in items) for name, items in pending.items()},  # pending_times
        records[-1].observed_at if records else None,  # latest
    )
