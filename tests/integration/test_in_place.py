"""Messages taken in place never overtake earlier messages of their patients still in the repartition
topic (stream/in_place.py): the engine reads a partition to the end it had when it started running it
before it takes that partition's new messages in place."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Keyed, patient_of
from b12stream.stream.app import StreamApp
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.repartition import envelopes, partition_of
from b12stream.stream.settings import load_kafka_settings
from tests.conftest import SAMPLES
from tests.integration.harness import (
    TEST_CONSUMER,
    EngineProcess,
    assert_same_events_and_orders,
    committed_offsets,
    create_topic,
    end_offsets,
    events,
    for_patient_copy,
    hl7_messages,
    produce,
    read_topic,
    reference_outputs,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2
# Normal blood counts of other patients ahead of each waiting message, many more than the engine reads
# in the cycles it needs to read the later messages from the input (one record per poll here).
QUEUED_AHEAD = 40
# Scenarios whose outputs change when a later message is applied first: a correction (S11) and a
# recovery that is read against the episode's earlier counts (S14).
ORDERED = [SAMPLES / "s11-corrected-platelet-clumping.hl7", SAMPLES / "s14-recovery-after-b12-deficiency.hl7"]
NORMAL = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
# One record per poll, and a fetch returns one record batch per partition: the input's messages are
# read while the repartition topic's queue is still being read, not after it.
ONE_AT_A_TIME = {
    "batch": {"max_records": 1, "poll_timeout_ms": 50},
    "consumer": {**TEST_CONSUMER, "max_partition_fetch_bytes": 1024},
}


def _partition(message: bytes, engine: Engine) -> int:
    keyed = patient_of(message, engine)
    assert isinstance(keyed, Keyed)
    return partition_of(keyed.patient.as_text().encode(), PARTITIONS)


def _topics_and_config(bootstrap: str, tmp_path: Path, prefix: str, **kafka: object) -> tuple[dict, Path]:
    names = topic_names(prefix)
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["repartition"], PARTITIONS)
    config = write_config(
        tmp_path, bootstrap, names, f"app-{names['input']}", partitions=PARTITIONS, **kafka
    )
    return names, config


def _envelope(topic: str, partition: int, message: bytes, offset: int) -> tuple[str, bytes, int]:
    """A repartition record holding ``message`` alone, as an engine's ingest stage sends it."""
    [record] = envelopes([(partition, Message(message, SourceRef("hl7.oru", 0, offset)))], topic)
    assert record.partition is not None
    return record.topic, record.value, record.partition


def _queue_behind(bootstrap: str, topic: str, engine_api: Engine) -> list[bytes]:
    """What an earlier owner left in the repartition topic: each scenario's first message, behind
    other patients' results, a record batch each (a fetch each). Returns the rest of each scenario,
    which comes later, from the input."""
    waiting: list[tuple[int, bytes]] = []
    later: list[bytes] = []
    for path in ORDERED:
        first, *rest = hl7_messages([path])
        partition = _partition(first, engine_api)
        waiting.extend((partition, for_patient_copy(NORMAL, n)) for n in range(QUEUED_AHEAD))
        waiting.append((partition, first))
        later.extend(rest)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for offset, (partition, message) in enumerate(waiting):
        record_topic, value, at = _envelope(topic, partition, message, offset)
        producer.send(record_topic, value, partition=at).get(timeout=30)
    producer.close()
    return later


def test_later_messages_wait_for_earlier_ones_still_in_the_repartition_topic(
    bootstrap: str, tmp_path: Path
) -> None:
    names, config = _topics_and_config(bootstrap, tmp_path, "inplace", **ONE_AT_A_TIME)
    expected_events, expected_orders, _ = reference_outputs(ORDERED, config)
    assert expected_events, "the scenarios should raise alerts"
    later = _queue_behind(bootstrap, names["repartition"], Engine.load(config))

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produce(bootstrap, names["input"], later)
        alerts = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events)
        )
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= len(expected_orders))
        # Everything waiting is read by now: from here on, messages are taken in place.
        produce(bootstrap, names["input"], [for_patient_copy(NORMAL, QUEUED_AHEAD + n) for n in range(5)])
        _wait_until_committed(bootstrap, f"app-{names['input']}", names["input"])
        assert engine.terminate() == 0
    assert_same_events_and_orders(alerts, orders, expected_events, expected_orders)
    stopped = [line for line in engine.log_lines() if line.get("event") == "stopped"][-1]
    assert stopped.get("in_place", 0) >= 5


def test_a_partition_is_not_taken_in_place_before_what_this_instance_sent_to_it_is_read(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While it catches up, the engine sends the later messages through the topic, after the end it
    learned; it must read those too before it takes the partition in place. Checked at every
    decision, whether or not a message of those patients is there to overtake in that cycle."""
    names, config = _topics_and_config(bootstrap, tmp_path, "inplace-own", **ONE_AT_A_TIME)
    expected_events, _, _ = reference_outputs(ORDERED, config)
    later = _queue_behind(bootstrap, names["repartition"], Engine.load(config))
    sent: dict[int, int] = {}  # per partition, the offset after this engine's last committed record
    early: list[tuple[int, int, int]] = []
    taken: list[int] = []
    ends = Checkpoint.repartition_ends
    positions = StreamApp._in_place_positions

    def recording_ends(self: Checkpoint) -> dict[int, int]:
        found = ends(self)
        for partition, end in found.items():
            sent[partition] = max(sent.get(partition, 0), end)
        return found

    def checked_positions(self: StreamApp) -> dict[int, int]:
        ready = positions(self)
        taken.extend(ready)
        early.extend((p, at, sent[p]) for p, at in ready.items() if at < sent.get(p, 0))
        return ready

    monkeypatch.setattr(Checkpoint, "repartition_ends", recording_ends)
    monkeypatch.setattr(StreamApp, "_in_place_positions", checked_positions)
    stop = threading.Event()
    app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", stop)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        produce(bootstrap, names["input"], later)
        read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events))
        produce(bootstrap, names["input"], [for_patient_copy(NORMAL, QUEUED_AHEAD + n) for n in range(5)])
        _wait_until_committed(bootstrap, f"app-{names['input']}", names["input"])
    finally:
        stop.set()
        runner.join(timeout=30)
    assert sent, "while catching up, the engine should have sent the later messages through the topic"
    assert taken, "once caught up, the engine should have taken partitions in place"
    assert early == [], "taken in place at (partition, position) before its own records (end) were read"


def test_later_messages_wait_for_earlier_ones_behind_another_instances_open_transaction(
    bootstrap: str, tmp_path: Path
) -> None:
    """An earlier owner's records can stand behind a transaction another instance still has open:
    a read_committed reader's end (the last stable offset) is then before them, so the engine must
    wait for the log's end as it was, which it reaches once that transaction is resolved."""
    names, config = _topics_and_config(bootstrap, tmp_path, "inplace-open")
    expected_events, expected_orders, _ = reference_outputs(ORDERED, config)
    engine_api = Engine.load(config)
    other = KafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"other-{names['input']}", transaction_timeout_ms=60_000
    )
    other.init_transactions()
    other.begin_transaction()
    earlier_owner = KafkaProducer(bootstrap_servers=bootstrap)
    later: list[bytes] = []
    for n, path in enumerate(ORDERED):
        first, *rest = hl7_messages([path])
        partition = _partition(first, engine_api)
        topic, value, at = _envelope(names["repartition"], partition, for_patient_copy(NORMAL, n), n)
        other.send(topic, value, partition=at).get(timeout=30)
        topic, value, at = _envelope(names["repartition"], partition, first, 10 + n)
        earlier_owner.send(topic, value, partition=at).get(timeout=30)
        later.extend(rest)
    earlier_owner.close()

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produce(bootstrap, names["input"], later)
        _wait_until_committed(bootstrap, f"app-{names['input']}", names["input"])
        other.commit_transaction()
        other.close()
        alerts = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events)
        )
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= len(expected_orders))
        assert engine.terminate() == 0
    assert_same_events_and_orders(alerts, orders, expected_events, expected_orders)


def _wait_until_committed(bootstrap: str, group: str, topic: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while committed_offsets(bootstrap, group, topic) != end_offsets(bootstrap, topic):
        assert time.monotonic() < deadline, f"{topic} not consumed within {timeout_s} s"
        time.sleep(0.5)
