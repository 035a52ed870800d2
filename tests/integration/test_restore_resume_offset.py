"""At-least-once: a restore keeps the changelog records whose input is never read again, measured
against where the instance resumes reading its stateful partition, also when the group has no
committed offset there (offsets expired, group reset) and the partition no longer starts at 0."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from b12stream.engine.engine import Engine
from b12stream.stream.app import StreamApp
from b12stream.stream.lifecycle import PartitionPhase
from b12stream.stream.settings import load_kafka_settings
from tests.integration.harness import changelog_states, create_topic, produce, topic_names, write_config

pytestmark = pytest.mark.integration


def test_with_no_committed_offset_a_restore_keeps_what_the_input_no_longer_holds(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("resume")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["repartition"], 1)
    create_topic(bootstrap, names["changelog"], 1, {"cleanup.policy": "compact"})
    produce(bootstrap, names["repartition"], [b"x"] * 5)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # the broker's retention removed offsets 0..2: the partition now starts at 3
        admin.delete_records({TopicPartition(names["repartition"], 0): 3})
    finally:
        admin.close()
    # A|1 and A|2 come from input that is gone; A|3's batch (offsets 3 and 4) will be read again.
    stamps = {"A|1": 2, "A|2": 3, "A|3": 5}
    changelog_states(
        bootstrap, names["changelog"], [(k, f"state of {k}".encode(), s) for k, s in stamps.items()]
    )
    guarantee = {"processing_guarantee": "at_least_once", "partitions": 1}
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", **guarantee)
    app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", threading.Event())
    try:
        app._connect()  # the group never committed an offset for the repartition topic
        app.assign([0])
        app._restore_assigned()
        assert app._table.phase(0) is PartitionPhase.RUNNING
        store = app._stores.open(0)
        assert store.get("A|1") == b"state of A|1"
        assert store.get("A|2") == b"state of A|2"
        assert store.get("A|3") is None
        assert store.offset(names["changelog"], 0) == 3
    finally:
        app._close()
