"""A patient history as seen at one evaluation time: evidence and pending records by analyte."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from b12stream.clinical.history import PatientHistory, is_evidence, is_pending
from b12stream.clinical.model import Observation, PatientKey

__all__ = ["HistoryView", "days", "hours"]


def days(count: float) -> timedelta:
    return timedelta(days=count)


def hours(count: float) -> timedelta:
    return timedelta(hours=count)


def _names(analytes: str | Iterable[str]) -> tuple[str, ...]:
    return (analytes,) if isinstance(analytes, str) else tuple(analytes)


@dataclass(frozen=True, slots=True)
class HistoryView:
    """Records collected at or before ``at`` (event time: later collections are not yet known).

    ``evidence`` holds final/corrected results and ``pending`` ordered or provisional records, each
    by analyte in ascending collection time (ties broken by result key, so the view is deterministic).
    """

    patient: PatientKey
    at: datetime
    evidence: Mapping[str, tuple[Observation, ...]]
    pending: Mapping[str, tuple[Observation, ...]]
    # Collection times parallel to the tuples above, filled on first use, for bisection.
    _evidence_times: dict[str, tuple[datetime, ...]] = field(default_factory=dict, repr=False, compare=False)
    _pending_times: dict[str, tuple[datetime, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, history: PatientHistory, at: datetime) -> HistoryView:
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        evidence: dict[str, list[Observation]] = {}
        pending: dict[str, list[Observation]] = {}
        for record in history.records:  # already sorted by (observed_at, result_key)
            if record.observed_at > moment:
                break
            if is_evidence(record):
                evidence.setdefault(record.analyte, []).append(record)
            elif is_pending(record):
                pending.setdefault(record.analyte, []).append(record)
        return cls(
            patient=history.patient,
            at=moment,
            evidence={name: tuple(items) for name, items in evidence.items()},
            pending={name: tuple(items) for name, items in pending.items()},
        )

    def results(
        self,
        analytes: str | Iterable[str],
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[Observation, ...]:
        """Final results of the analytes collected in [since, until] (until defaults to ``at``)."""
        return self._select(self.evidence, self._evidence_times, analytes, since, until)

    def latest(
        self,
        analytes: str | Iterable[str],
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Observation | None:
        """The most recent final result of the analytes in [since, until], or None."""
        found = self.results(analytes, since, until)
        return found[-1] if found else None

    def pending_records(
        self, analytes: str | Iterable[str], since: datetime | None = None
    ) -> tuple[Observation, ...]:
        """Ordered or provisional records of the analytes collected in [since, at]."""
        return self._select(self.pending, self._pending_times, analytes, since, None)

    def _select(
        self,
        source: Mapping[str, tuple[Observation, ...]],
        times: dict[str, tuple[datetime, ...]],
        analytes: str | Iterable[str],
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[Observation, ...]:
        end = self.at if until is None else min(until, self.at)
        chosen: list[Observation] = []
        for name in _names(analytes):
            records = source.get(name, ())
            if not records:
                continue
            stamps = times.get(name)
            if stamps is None:
                stamps = times[name] = tuple(record.observed_at for record in records)
            first = 0 if since is None else bisect_left(stamps, since)
            chosen.extend(records[first : bisect_right(stamps, end)])
        if isinstance(analytes, str):
            return tuple(chosen)
        chosen.sort(key=lambda record: (record.observed_at, record.result_key))
        return tuple(chosen)
