"""Whether an engine process is live (its loop cycles) and ready (it runs every partition it holds).

Liveness: the loop marks a cycle when it polls, when it has restored a partition and when a rebalance
assigns or revokes partitions (stream/app.py). Between two marks a healthy loop runs at most one
cycle: a poll (``batch.poll_timeout_ms``), a restore of one partition (``RESTORE_TIMEOUT_S`` at
most), the batch's processing and its delivery (``flush_timeout_s``, the transaction timeout), and,
after an error, one retry wait (``retry.max_backoff_s``). Kafka takes a consumer that does not poll
within ``max_poll_interval_ms`` for failed and gives its partitions to others; the loop is taken as
stalled past the longest of those bounds plus one retry wait (``stall_limit_s``): an idle poll
can wait its whole timeout, and Kafka's bound, if the longest, already says the loop has failed. A
loop retrying a broker outage still cycles: it is live, and exits on its own when its retry budget
runs out.

Readiness: live, in its consumer group, and none of the stateful partitions it holds still waits for
its restore. A process the group gives no partition (more processes than partitions) is ready: it is
a standby doing what it should, and counting it unready would stall a rolling update for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from b12stream.stream.restore import RESTORE_TIMEOUT_S
from b12stream.stream.settings import KafkaSettings
from b12stream.stream.status import Snapshot

__all__ = ["Verdict", "liveness", "readiness", "stall_limit_s"]

_DEFAULT_MAX_POLL_INTERVAL_MS = 300_000  # kafka-python's


@dataclass(frozen=True, slots=True)
class Verdict:
    """An answer of a health endpoint: ``ok`` (200) or not (503), and a small JSON body saying why."""

    ok: bool
    body: dict[str, Any]


def stall_limit_s(settings: KafkaSettings) -> float:
    """How long the loop may go without marking a cycle before it counts as stalled (module doc)."""
    max_poll_interval_ms = settings.consumer.get("max_poll_interval_ms", _DEFAULT_MAX_POLL_INTERVAL_MS)
    max_poll_interval_s = float(max_poll_interval_ms) / 1000
    poll_s = settings.batch.poll_timeout_ms / 1000
    longest_step = max(max_poll_interval_s, RESTORE_TIMEOUT_S, settings.flush_timeout_s, poll_s)
    return longest_step + settings.retry.max_backoff_s


def liveness(snapshot: Snapshot, now: float, limit_s: float) -> Verdict:
    """Live while the loop marked a cycle within ``limit_s`` of ``now`` (``time.monotonic``)."""
    waited = now - snapshot.last_cycle
    body: dict[str, Any] = {"seconds_since_last_cycle": round(waited, 3), "limit_s": limit_s}
    if waited <= limit_s:
        return Verdict(True, {"status": "live", **body})
    return Verdict(False, {"status": "stalled", "reason": "the engine loop has not cycled in time", **body})


def readiness(snapshot: Snapshot, now: float, limit_s: float) -> Verdict:
    """Ready while live, in the group, with every stateful partition it holds restored."""
    partitions = {
        "partitions_assigned": snapshot.partitions_held,
        "partitions_restoring": snapshot.partitions_unrestored,
    }
    live = liveness(snapshot, now, limit_s)
    if not live.ok:
        return Verdict(False, {**live.body, "status": "not ready", **partitions})
    if not snapshot.joined:
        return Verdict(False, {"status": "not ready", "reason": "joining the consumer group", **partitions})
    if snapshot.partitions_unrestored:
        reason = "restoring partitions from the changelog"
        return Verdict(False, {"status": "not ready", "reason": reason, **partitions})
    return Verdict(True, {"status": "ready", **partitions})
