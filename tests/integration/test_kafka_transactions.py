"""kafka-python's transactional producer against the real broker: the ground the engine stands on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tests.integration.harness import committed_offsets, create_topic, produce, read_topic, topic_names

pytestmark = pytest.mark.integration


def test_outputs_and_offsets_commit_together_and_aborted_records_stay_invisible(bootstrap: str) -> None:
    names = topic_names("txn")
    create_topic(bootstrap, names["input"], 2)
    create_topic(bootstrap, names["alerts"], 2)
    produce(
        bootstrap, names["input"], (f"m{n}".encode() for n in range(10)), key=lambda n: str(n % 2).encode()
    )
    group = f"group-{names['input']}"
    consumer = KafkaConsumer(
        names["input"],
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{names['input']}")
    producer.init_transactions()
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 10 and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        if not batch:
            continue
        producer.begin_transaction()
        for records in batch.values():
            for record in records:
                producer.send(names["alerts"], record.value.upper(), key=record.key)
                seen += 1
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    producer.begin_transaction()
    producer.send(names["alerts"], b"ABORTED", key=b"0")
    producer.flush()
    producer.abort_transaction()
    producer.close()
    consumer.close(autocommit=False)

    values = [r.value for r in read_topic(bootstrap, names["alerts"], until=lambda rs: len(rs) >= 10)]
    assert sorted(values) == sorted(f"M{n}".encode() for n in range(10))
    uncommitted = read_topic(
        bootstrap, names["alerts"], until=lambda rs: len(rs) >= 11, isolation_level="read_uncommitted"
    )
    assert b"ABORTED" in [r.value for r in uncommitted]
    assert committed_offsets(bootstrap, group, names["input"]) == {0: 5, 1: 5}


_HANGING_PRODUCER = textwrap.dedent(
    """
    import sys, time
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=sys.argv[1], transactional_id=sys.argv[2])
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(sys.argv[3], b"from-a-killed-producer")
    producer.flush()
    print("sent", flush=True)
    time.sleep(120)
    """
)


def test_a_killed_producers_open_transaction_is_aborted_when_its_successor_starts(bootstrap: str) -> None:
    names = topic_names("zombie")
    create_topic(bootstrap, names["alerts"], 1)
    transactional_id = f"tx-{names['alerts']}"
    child = subprocess.Popen(
        [sys.executable, "-c", _HANGING_PRODUCER, bootstrap, transactional_id, names["alerts"]],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == b"sent"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    successor = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=transactional_id)
    successor.init_transactions()  # fences the killed producer and aborts its open transaction
    successor.begin_transaction()
    successor.send(names["alerts"], b"from-the-successor")
    successor.commit_transaction()
    successor.close()

    records = read_topic(bootstrap, names["alerts"], until=lambda rs: len(rs) >= 1, timeout_s=20)
    assert [r.value for r in records] == [b"from-the-successor"]
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, isolation_level="read_committed")
    tp = TopicPartition(names["alerts"], 0)
    assert reader.end_offsets([tp])[tp] >= 2  # the aborted record and markers are in the log, unseen
    reader.close()
