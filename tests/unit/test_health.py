"""/health/live and /health/ready: what they answer for each state of the engine loop."""

from __future__ import annotations

import dataclasses

import pytest

from b12stream.stream.health import liveness, readiness, stall_limit_s
from b12stream.stream.restore import RESTORE_TIMEOUT_S
from b12stream.stream.settings import BatchSettings, KafkaSettings, RetrySettings
from b12stream.stream.status import EngineStatus, Snapshot

_LIMIT = 60.0


def _snapshot(**changes: object) -> Snapshot:
    """A loop that cycled at t=100 and has joined its group, holding 4 restored partitions."""
    status = EngineStatus(lambda: 100.0)
    status.group(joined=True, held=4)
    return dataclasses.replace(status.snapshot(), **changes)


def test_a_loop_that_cycled_within_the_limit_is_live_and_one_that_did_not_is_not() -> None:
    live = liveness(_snapshot(), 100.0 + _LIMIT, _LIMIT)
    assert live.ok and live.body["status"] == "live"
    stalled = liveness(_snapshot(), 100.0 + _LIMIT + 0.5, _LIMIT)
    assert not stalled.ok
    assert stalled.body == {
        "status": "stalled",
        "reason": "the engine loop has not cycled in time",
        "seconds_since_last_cycle": _LIMIT + 0.5,
        "limit_s": _LIMIT,
    }


@pytest.mark.parametrize(
    ("changes", "now", "reason"),
    [
        ({"joined": False, "partitions_held": 0}, 101.0, "joining the consumer group"),
        ({"partitions_unrestored": 2}, 101.0, "restoring partitions from the changelog"),
        ({}, 100.0 + _LIMIT + 1, "the engine loop has not cycled in time"),
    ],
    ids=["joining", "restoring", "stalled"],
)
def test_not_ready_says_why(changes: dict[str, object], now: float, reason: str) -> None:
    verdict = readiness(_snapshot(**changes), now, _LIMIT)
    assert not verdict.ok
    assert (verdict.body["status"], verdict.body["reason"]) == ("not ready", reason)
    assert "partitions_restoring" in verdict.body


def test_ready_with_every_partition_restored_and_with_none_assigned() -> None:
    """A process the group gives nothing (more processes than partitions) is a standby: ready."""
    held = readiness(_snapshot(), 101.0, _LIMIT)
    assert held.ok and held.body == {"status": "ready", "partitions_assigned": 4, "partitions_restoring": 0}
    idle = readiness(_snapshot(partitions_held=0), 101.0, _LIMIT)
    assert idle.ok


def test_the_stall_limit_is_the_longest_step_of_a_cycle_plus_one_retry_wait() -> None:
    settings = KafkaSettings(retry=RetrySettings(max_backoff_s=5.0))
    assert stall_limit_s(settings) == 300.0 + 5.0  # kafka-python's max_poll_interval_ms
    polls_often = dataclasses.replace(settings, consumer={"max_poll_interval_ms": 30_000})
    assert stall_limit_s(polls_often) == RESTORE_TIMEOUT_S + 5.0  # a restore may take longer
    slow_commits = dataclasses.replace(
        polls_often, consumer={"max_poll_interval_ms": 30_000}, producer={"transaction_timeout_ms": 900_000}
    )
    assert stall_limit_s(slow_commits) == 900.0 + 5.0
    idle_polls = dataclasses.replace(polls_often, batch=BatchSettings(poll_timeout_ms=1_000_000))
    assert stall_limit_s(idle_polls) == 1000.0 + 5.0
