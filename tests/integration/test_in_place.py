"""Messages taken in place never overtake earlier messages of their patients still in the repartition
topic (stream/in_place.py): the engine reads a partition to the end it had when it started running it
before it takes that partition's new messages in place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Keyed, patient_of
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.repartition import envelopes, partition_of
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


def test_later_messages_wait_for_earlier_ones_still_in_the_repartition_topic(
    bootstrap: str, tmp_path: Path
) -> None:
    names, config = _topics_and_config(
        bootstrap,
        tmp_path,
        "inplace",
        batch={"max_records": 1, "poll_timeout_ms": 50},
        # A fetch returns one record batch per partition: the input's messages are read while the
        # repartition topic's queue is still being read, not after it.
        consumer={**TEST_CONSUMER, "max_partition_fetch_bytes": 1024},
    )
    expected_events, expected_orders, _ = reference_outputs(ORDERED, config)
    assert expected_events, "the scenarios should raise alerts"
    engine_api = Engine.load(config)
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]

    # What an earlier owner left in the repartition topic: each scenario's first message, behind other
    # patients' results; the rest of each scenario comes later, from the input.
    waiting: list[tuple[int, bytes]] = []
    later: list[bytes] = []
    for path in ORDERED:
        first, *rest = hl7_messages([path])
        partition = _partition(first, engine_api)
        waiting.extend((partition, for_patient_copy(normal, n)) for n in range(QUEUED_AHEAD))
        waiting.append((partition, first))
        later.extend(rest)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for offset, (partition, message) in enumerate(waiting):  # a record batch each: a fetch each
        topic, value, at = _envelope(names["repartition"], partition, message, offset)
        producer.send(topic, value, partition=at).get(timeout=30)
    producer.close()

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produce(bootstrap, names["input"], later)
        alerts = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events)
        )
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= len(expected_orders))
        # Everything waiting is read by now: from here on, messages are taken in place.
        produce(bootstrap, names["input"], [for_patient_copy(normal, QUEUED_AHEAD + n) for n in range(5)])
        _wait_until_committed(bootstrap, f"app-{names['input']}", names["input"])
        assert engine.terminate() == 0
    assert_same_events_and_orders(alerts, orders, expected_events, expected_orders)
    stopped = [line for line in engine.log_lines() if line.get("event") == "stopped"][-1]
    assert stopped.get("in_place", 0) >= 5


def test_later_messages_wait_for_earlier_ones_behind_another_instances_open_transaction(
    bootstrap: str, tmp_path: Path
) -> None:
    """An earlier owner's records can stand behind a transaction another instance still has open:
    a read_committed reader's end (the last stable offset) is then before them, so the engine must
    wait for the log's end as it was, which it reaches once that transaction is resolved."""
    names, config = _topics_and_config(bootstrap, tmp_path, "inplace-open")
    expected_events, expected_orders, _ = reference_outputs(ORDERED, config)
    engine_api = Engine.load(config)
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
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
        topic, value, at = _envelope(names["repartition"], partition, for_patient_copy(normal, n), n)
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
