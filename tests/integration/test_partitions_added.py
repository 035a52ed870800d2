"""Partitions added to the input while the engine runs: an unkeyed input's new partitions are
consumed; a keyed input, whose partitions hold patient state, stops the engine with a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewPartitions

from tests.integration.harness import (
    SAMPLES,
    TEST_CONSUMER,
    EngineProcess,
    committed_offsets,
    create_topic,
    end_offsets,
    hl7_messages,
    produce,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

# The consumer sees new partitions at its next metadata refresh; the shipped config refreshes every
# 30 s, the test every 2 s.
_CONSUMER = {**TEST_CONSUMER, "metadata_max_age_ms": 2000}


def _add_partitions(bootstrap: str, topic: str, total: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_partitions({topic: NewPartitions(total)})
    finally:
        admin.close()


def test_partitions_added_to_an_unkeyed_input_are_consumed(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("grown")
    group = f"app-{names['input']}"
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, group, consumer=_CONSUMER)
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        engine.wait_for_log("partitions assigned")
        _add_partitions(bootstrap, names["input"], 4)
        produce(bootstrap, names["input"], hl7_messages(SAMPLES) * 2, key=lambda index: b"%d" % index)
        ends = end_offsets(bootstrap, names["input"])
        assert len(ends) == 4 and all(ends.values()), ends  # every new partition holds messages
        deadline = time.monotonic() + 60
        while committed_offsets(bootstrap, group, names["input"]) != ends:
            assert time.monotonic() < deadline, (committed_offsets(bootstrap, group, names["input"]), ends)
            time.sleep(0.5)
        assert engine.terminate() == 0


def test_partitions_added_to_a_keyed_input_stop_the_engine(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("regrown")
    create_topic(bootstrap, names["input"], 2)
    config = write_config(
        tmp_path,
        bootstrap,
        names,
        f"app-{names['input']}",
        consumer=_CONSUMER,
        input_keyed_by_patient=True,
        partitions=2,
    )
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        engine.wait_for_log("partitions assigned")
        _add_partitions(bootstrap, names["input"], 3)
        assert engine.process is not None
        # A configuration error (exit 2), whichever notices first: the next rebalance, or the check
        # of the topics when the consumer is replaced (adding partitions can lose kafka-python's
        # rejoin, see StreamApp._replace_if_stuck).
        assert engine.process.wait(timeout=60) == 2
        output = engine.log.read_text()
        assert "has 2 partitions but" in output and "has 3; they must be equal" in output, output[-2000:]
        assert "partitions were added" in output
