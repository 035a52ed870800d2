"""What the engine loop says about itself, kept for the HTTP endpoint's thread to read."""

from __future__ import annotations

import copy
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from b12stream.stream.stages import StageResult

__all__ = ["BATCH_SECONDS_BUCKETS", "EngineStatus", "Snapshot"]

# Upper bounds (seconds) of the batch-duration histogram: a batch of a few messages takes milliseconds,
# a full one (batch.max_records) of busy patients a second or more; past 10 s something waits.
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class Snapshot:
    """The engine process's counts since it started, and where its loop and partitions stand.

    Counts by ``stage`` are ``ingest`` (the input, when it is re-keyed by patient) and ``process``
    (the stateful topic: the repartition topic, or the input keyed by patient). ``alerts`` counts
    alert, alert_update and retraction events by (type, rule, severity); every dead letter comes with
    one ``rejected`` event. Times are ``time.monotonic`` seconds."""

    started: float
    records_read: Counter[str] = field(default_factory=Counter)
    processed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    in_place: int = 0
    alerts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    orders_not_written: int = 0
    batches: int = 0
    abandoned: int = 0
    restores: int = 0
    restored_records: int = 0
    # Batches by the first bucket of BATCH_SECONDS_BUCKETS they fit in (the last: over every bound).
    batch_buckets: list[int] = field(default_factory=lambda: [0] * (len(BATCH_SECONDS_BUCKETS) + 1))
    batch_seconds: float = 0.0
    last_commit: float | None = None
    last_cycle: float = 0.0
    joined: bool = False
    partitions_held: int = 0
    partitions_unrestored: int = 0


class EngineStatus:
    """Updated by the engine loop (and its rebalance listener), read by the HTTP endpoint: each
    method takes the lock, so a reader always sees a whole batch or none of it. The loop calls it a
    few times per batch, never per message."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._now = Snapshot(started=now, last_cycle=now)  # a start counts as the loop's first cycle

    def snapshot(self) -> Snapshot:
        """A copy of everything, as it stands now."""
        with self._lock:
            return copy.deepcopy(self._now)

    def totals(self) -> dict[str, int]:
        """The counts the engine's "progress" and "stopped" log lines carry."""
        with self._lock:
            now = self._now
            return {
                "processed": now.processed,
                "dead_lettered": sum(now.dead_lettered.values()),
                "in_place": now.in_place,
                "records": sum(now.records_read.values()),
                "batches": now.batches,
            }

    def cycled(self, unrestored: int) -> None:
        """The loop is cycling (it polled, restored a partition or went through a rebalance); of the
        stateful partitions it holds, ``unrestored`` are not yet restored from the changelog."""
        with self._lock:
            self._now.last_cycle = self._clock()
            self._now.partitions_unrestored = unrestored

    def group(self, joined: bool, held: int) -> None:
        """The consumer has ``joined`` the group (an assignment, maybe empty, came after the last
        revocation) and holds ``held`` partitions of the topics it reads."""
        with self._lock:
            self._now.joined = joined
            self._now.partitions_held = held

    def committed(
        self, results: Iterable[StageResult], records_read: Mapping[str, int], seconds: float
    ) -> None:
        """A batch of ``records_read`` records (by stage) was committed with the stages' ``results``;
        it took ``seconds`` from the start of its processing to its commit."""
        with self._lock:
            now = self._now
            for result in results:
                now.processed += result.processed
                now.dead_lettered[result.stage] += result.dead_lettered
                now.in_place += sum(len(kept) for kept in result.in_place.values())
                now.alerts.update(result.alerts)
                now.pages.update(result.pages)
                now.orders += result.orders
                now.orders_not_written += result.orders_not_written
            now.records_read.update(records_read)
            now.batches += 1
            now.batch_buckets[_bucket(seconds)] += 1
            now.batch_seconds += seconds
            now.last_commit = self._clock()

    def abandoned(self) -> None:
        """A batch was abandoned (its transaction aborted); its records are read again."""
        with self._lock:
            self._now.abandoned += 1

    def restored(self, records: int) -> None:
        """A stateful partition was restored from the changelog, reading ``records`` records."""
        with self._lock:
            self._now.restores += 1
            self._now.restored_records += records


def _bucket(seconds: float) -> int:
    return bisect_left(BATCH_SECONDS_BUCKETS, seconds)  # the first bound >= seconds; past all: the last
