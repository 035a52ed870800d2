"""A patient history as seen at one evaluation time: evidence and pending records by analyte."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from b12stream.clinical.history import PatientHistory, history_order
from b12stream.clinical.model import Observation, PatientKey
from b12stream.hl7.records import slot_constructor

__all__ = ["HistoryView", "days", "hours"]

T = TypeVar("T")


def days(count: float) -> timedelta:
    return timedelta(days=count)


def hours(count: float) -> timedelta:
    return timedelta(hours=count)


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
    # Values derived from this view (see ``derived``).
    _derived: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, history: PatientHistory, at: datetime) -> HistoryView:
        """The view of ``history`` at ``at`` (a naive time is UTC); one instance per history and time."""
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        # The time zone is part of the key: equal instants in other zones are other views.
        return history.derived((HistoryView, moment, moment.tzinfo), lambda: cls._build(history, moment))

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value ``make()`` computes from this view, computed once per ``key`` (a view is
        immutable). ``key`` must name everything ``make`` depends on besides the view."""
        if key in self._derived:
            found: T = self._derived[key]
            return found
        value = self._derived[key] = make()
        return value

    @classmethod
    def _build(cls, history: PatientHistory, moment: datetime) -> HistoryView:
        grouped = history.by_analyte()
        if grouped.latest is None or grouped.latest <= moment:  # the usual case: the whole history
            evidence, pending = grouped.evidence, grouped.pending
            evidence_times, pending_times = dict(grouped.evidence_times), dict(grouped.pending_times)
        else:
            evidence, evidence_times = _until(grouped.evidence, grouped.evidence_times, moment)
            pending, pending_times = _until(grouped.pending, grouped.pending_times, moment)
        return _new_view(history.patient, moment, evidence, pending, evidence_times, pending_times)

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
        if isinstance(analytes, str):  # the usual call: one analyte, already in order
            return _between(source, times, analytes, since, end)
        chosen: list[Observation] = []
        for name in analytes:
            chosen.extend(_between(source, times, name, since, end))
        chosen.sort(key=history_order)
        return tuple(chosen)


# Views are built at least once per message: the frozen class's own constructor sets each field
# through object.__setattr__.
_new_view = slot_constructor(HistoryView)


def _between(
    source: Mapping[str, tuple[Observation, ...]],
    times: dict[str, tuple[datetime, ...]],
    name: str,
    since: datetime | None,
    end: datetime,
) -> tuple[Observation, ...]:
    """One analyte's records collected in [since, end] (``times`` caches their collection times)."""
    records = source.get(name)
    if not records:
        return ()
    stamps = times.get(name)
    if stamps is None:
        stamps = times[name] = tuple(record.observed_at for record in records)
    first = 0 if since is None else bisect_left(stamps, since)
    return records[first : bisect_right(stamps, end)]


def _until(
    records: Mapping[str, tuple[Observation, ...]],
    times: Mapping[str, tuple[datetime, ...]],
    moment: datetime,
) -> tuple[dict[str, tuple[Observation, ...]], dict[str, tuple[datetime, ...]]]:
    """Each analyte's records collected at or before ``moment`` (analytes with none left out)."""
    kept: dict[str, tuple[Observation, ...]] = {}
    kept_times: dict[str, tuple[datetime, ...]] = {}
    for name, items in records.items():
        stamps = times[name]
        end = bisect_right(stamps, moment)
        if end:
            kept[name] = items if end == len(items) else items[:end]
            kept_times[name] = stamps if end == len(stamps) else stamps[:end]
    return kept, kept_times
