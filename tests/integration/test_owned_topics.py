"""Topics b12stream owns that already exist when it starts (made by an operator, or by an earlier
release with lower limits) are brought in line: a record limit below what the engine writes to the
topic is raised; a changelog that deletes by retention, or a compacted topic that would refuse the
engine's keyless records, stops the engine with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from tests.conftest import SAMPLES
from tests.integration.harness import (
    EngineProcess,
    create_topic,
    events,
    hl7_messages,
    produce,
    read_topic,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

_PARTITIONS = 4  # the shipped kafka.partitions: the repartition topic's, hence the changelog's


def _record_limits(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, {"max.message.bytes": None}) for name in topics
        ]
        described = admin.describe_configs(resources, config_filter="all")["topic"]
    finally:
        admin.close()
    return {name: int(described[name]["max.message.bytes"]["value"]) for name in topics}


def test_record_limits_of_existing_topics_are_raised(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("limits")
    low = {"max.message.bytes": "1000"}
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["changelog"], _PARTITIONS, {"cleanup.policy": "compact", **low})
    create_topic(bootstrap, names["repartition"], _PARTITIONS, low)
    for output in ("dlq", "alerts", "orders", "pager"):
        create_topic(bootstrap, names[output], _PARTITIONS, low)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", max_state_bytes=2_000_000)
    produce(
        bootstrap, names["input"], hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    )
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        # A state, a repartition record and an alert each over 1,000 bytes: refused before the raise.
        assert events(read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= 1))
        assert engine.terminate() == 0
    raised = {
        line["topic"]: line for line in engine.log_lines() if line.get("event") == "topic record limit raised"
    }
    carrying = [names[topic] for topic in ("repartition", "dlq", "alerts", "orders", "pager")]
    assert set(raised) == {names["changelog"], *carrying}
    limits = _record_limits(bootstrap, [names["changelog"], *carrying])
    assert limits[names["changelog"]] > 2_000_000
    assert all(limits[name] == limits[names["dlq"]] > 1_000_000 for name in carrying)
    assert all(
        raised[name]["was"] == 1000 and raised[name]["max_message_bytes"] == limit
        for name, limit in limits.items()
    )


@pytest.mark.parametrize(
    ("topic", "policy", "reason"),
    [
        ("changelog", "delete", "it must be compact alone"),
        ("changelog", "compact,delete", "it must be compact alone"),
        ("repartition", "compact", "b12stream writes records without a key to it"),
    ],
)
def test_a_topic_whose_cleanup_policy_loses_data_stops_the_engine(
    bootstrap: str, tmp_path: Path, topic: str, policy: str, reason: str
) -> None:
    names = topic_names("policy")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names[topic], _PARTITIONS, {"cleanup.policy": policy})
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        assert engine.process is not None
        assert engine.process.wait(timeout=60) == 2  # a configuration error, not retried
    output = engine.log.read_text()
    assert f"{names[topic]} has cleanup.policy={policy}; {reason}" in output, output[-2000:]
