"""`run --processes N`: N engine processes under one supervisor give what `replay` gives and stop as one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.harness import (
    SAMPLES,
    EngineProcess,
    assert_same_events_and_orders,
    create_topic,
    events,
    hl7_messages,
    owned_partitions,
    produce,
    read_topic,
    reference_outputs,
    replay_events,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration


def _two_process_engine(bootstrap: str, tmp_path: Path, prefix: str) -> tuple[EngineProcess, dict[str, str]]:
    names = topic_names(prefix)
    create_topic(bootstrap, names["input"], 1)  # an ordered, unkeyed feed as interface engines send it
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", processes=2)
    return EngineProcess(config, tmp_path / "state", tmp_path / "engine.log"), names


def _workers_sharing_partitions(engine: EngineProcess, count: int, after: int = 0) -> dict[int, int]:
    """Worker index -> pid, once every worker owns stateful partitions (the group has rebalanced);
    only log lines from index ``after`` on count (a restart appends to the same log). The wait covers
    a join the engine has to redo (three session timeouts, then a fresh join)."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        lines = engine.log_lines()[after:]
        pids = {line["worker"]: line["pid"] for line in lines if line.get("event") == "worker started"}
        owned = owned_partitions(lines)
        if len(pids) == count and sorted(owned) == sorted(pids) and all(owned.values()):
            return pids
        assert engine.process is not None and engine.process.poll() is None, engine.log.read_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"workers never shared the partitions:\n{engine.log.read_text()[-3000:]}")


def _running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has finished running; its parent just has not reaped it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _stopped_workers(engine: EngineProcess) -> list[int]:
    return sorted(
        line["process"] for line in engine.log_lines() if line.get("event") == "stopped" and "process" in line
    )


def _transactional_ids(lines: list[dict]) -> dict[int, str]:
    return {line["process"]: line["transactional_id"] for line in lines if line.get("event") == "connected"}


def test_two_processes_give_exactly_what_replay_gives(bootstrap: str, tmp_path: Path) -> None:
    engine, names = _two_process_engine(bootstrap, tmp_path, "processes")
    expected_events = replay_events(engine.config)
    _, expected_orders, _ = reference_outputs(SAMPLES, engine.config)
    assert expected_events and expected_orders

    with engine:
        _workers_sharing_partitions(engine, 2)
        produce(bootstrap, names["input"], hl7_messages(SAMPLES))
        alerts = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events)
        )
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= len(expected_orders))
        assert engine.terminate() == 0

    assert_same_events_and_orders(alerts, orders, expected_events, expected_orders)
    state = tmp_path / "state"
    assert sorted(p.name for p in state.iterdir()) == ["process-1", "process-2"]
    instance_ids = {(state / f"process-{k}" / "instance-id").read_text() for k in (1, 2)}
    assert len(instance_ids) == 2  # own transactional id per worker
    assert _stopped_workers(engine) == [1, 2]


def test_sigterm_stops_every_worker_and_the_supervisor_exits_0(bootstrap: str, tmp_path: Path) -> None:
    engine, _ = _two_process_engine(bootstrap, tmp_path, "processes-stop")
    with engine:
        pids = _workers_sharing_partitions(engine, 2)
        assert engine.terminate(timeout_s=10) == 0

    assert [pid for pid in pids.values() if _running(pid)] == []
    assert _stopped_workers(engine) == [1, 2]


def test_a_killed_worker_stops_the_other_the_supervisor_exits_1_and_a_restart_reuses_the_ids(
    bootstrap: str, tmp_path: Path
) -> None:
    engine, _ = _two_process_engine(bootstrap, tmp_path, "processes-crash")
    with engine:
        pids = _workers_sharing_partitions(engine, 2)
        os.kill(pids[2], signal.SIGKILL)
        assert engine.process is not None
        assert engine.process.wait(timeout=10) == 1

    assert [pid for pid in pids.values() if _running(pid)] == []
    crash = [
        line for line in engine.log_lines() if line.get("event") == "worker exited; stopping the instance"
    ]
    assert [(line["worker"], line["exit_code"], line["signal"]) for line in crash] == [(2, -9, "SIGKILL")]
    assert _stopped_workers(engine) == [1]  # the other one committed and left cleanly

    first_run = engine.log_lines()
    with engine:  # as the orchestrator restarts it, same state folder: each worker fences its predecessor
        _workers_sharing_partitions(engine, 2, after=len(first_run))
        assert engine.terminate() == 0
    restarted = _transactional_ids(engine.log_lines()[len(first_run) :])
    assert restarted == _transactional_ids(first_run)
    assert len(set(restarted.values())) == 2
