"""An engine whose consumer is stuck (a group join that never finishes, committed offsets it cannot
read) replaces it, rejoins and goes on processing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.future import Future

from b12stream.engine.engine import Engine
from b12stream.stream import group_offsets
from b12stream.stream.app import StreamApp
from b12stream.stream.lifecycle import PartitionPhase
from b12stream.stream.settings import load_kafka_settings
from tests.integration.harness import (
    SAMPLES,
    create_topic,
    events,
    hl7_messages,
    produce,
    read_topic,
    reference_outputs,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration


def _wait(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_join_that_never_finishes_gets_a_fresh_consumer(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("rejoin")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    settings = load_kafka_settings(config)
    expected, _, _ = reference_outputs(SAMPLES, config)
    stop = threading.Event()
    app = StreamApp(settings, Engine.load(config), tmp_path / "state", stop)
    runner = threading.Thread(target=app.run, name="engine")
    runner.start()
    try:
        _wait(lambda: app._table.in_phase(PartitionPhase.RUNNING), 60, "the first assignment")
        first_consumer = app._consumer
        # What a lost JoinGroup answer leaves behind: a join begun long ago, never finished.
        app.joining_since = time.monotonic() - 10 * app._join_limit_s
        _wait(lambda: app._consumer is not first_consumer and app._consumer is not None, 30, "a new consumer")
        _wait(lambda: app._table.in_phase(PartitionPhase.RUNNING), 60, "the new consumer's assignment")
        assert app.joining_since is None
        produce(bootstrap, names["input"], hl7_messages(SAMPLES))
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected))
        assert len(events(alerts)) == len(expected)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()


def test_a_rewind_that_cannot_read_committed_offsets_gets_a_fresh_consumer(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_offsets, "COMMITTED_TIMEOUT_MS", 1000)
    names = topic_names("rewind")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    expected, _, _ = reference_outputs(SAMPLES, config)
    stop = threading.Event()
    app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", stop)
    runner = threading.Thread(target=app.run, name="engine")
    runner.start()
    try:
        _wait(lambda: app._table.in_phase(PartitionPhase.RUNNING), 60, "the first assignment")
        first_consumer = app._consumer
        assert first_consumer is not None
        source = TopicPartition(names["input"], 0)
        # What a broker restart can leave in kafka-python 3.0.12: an offset fetch for the partition
        # that stays pending, which every later read of its committed offset waits on. Then a batch
        # of that partition is abandoned, and its rewind must read the committed offset.
        first_consumer._coordinator._offset_fetch_futures[frozenset([source])] = Future()
        app._rewind[source] = 0
        _wait(lambda: app._consumer is not first_consumer and app._consumer is not None, 30, "a new consumer")
        _wait(lambda: app._table.in_phase(PartitionPhase.RUNNING), 60, "the new consumer's assignment")
        produce(bootstrap, names["input"], hl7_messages(SAMPLES))
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected))
        assert len(events(alerts)) == len(expected)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
