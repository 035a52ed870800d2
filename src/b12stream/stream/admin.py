"""Create the topics b12stream owns when they are missing, and check the ones that must line up."""

from __future__ import annotations

import time
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from b12stream.errors import ConfigError
from b12stream.log import get_logger
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import KafkaSettings

__all__ = ["ensure_topics", "partition_mismatch", "topic_ids"]

_UNKNOWN_TOPIC = 3
_NO_TOPIC_ID = "00000000-0000-0000-0000-000000000000"
_log = get_logger("stream.admin")


def _partition_counts(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Partition count of each existing topic among ``topics``."""
    counts: dict[str, int] = {}
    for described in admin.describe_topics(topics):
        if described["error_code"] == _UNKNOWN_TOPIC:
            continue
        counts[described["name"]] = len(described["partitions"])
    return counts


def _wait_for(admin: KafkaAdminClient, topics: list[str], timeout_s: float = 15.0) -> dict[str, int]:
    """Partition counts of ``topics`` once the broker's metadata shows them all (a topic created by
    another instance a moment ago may not be visible yet). Raises TransientBrokerError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = _partition_counts(admin, topics)
        if all(counts.get(topic) for topic in topics):
            return counts
        if time.monotonic() > deadline:
            raise TransientBrokerError(f"topics not visible in metadata: {sorted(set(topics) - set(counts))}")
        time.sleep(0.2)


def ensure_topics(settings: KafkaSettings) -> int:
    """Create missing topics and return the partition count of the stateful topic.

    Missing topics take ``kafka.partitions`` partitions, except a missing unkeyed input, which takes
    ``kafka.input_partitions`` (default 1: an ordered feed, as an interface engine sends it, so that one
    patient's results keep their order; the repartition topic spreads patients over
    ``kafka.partitions``). A missing input is logged: it is normally the interface engine's. The
    compacted changelog takes the stateful topic's count; ConfigError when an existing changelog does
    not match it, since a patient's changelog partition must equal its stateful partition. Existing
    topics b12stream owns are brought in line with the settings (``_line_up``).
    Idempotent; safe when several instances start together.
    """
    topics = settings.topics
    admin = KafkaAdminClient(**settings.client_options())
    try:
        existing = _partition_counts(admin, [getattr(topics, name) for name in topics.__slots__])
        keyed = settings.input_keyed_by_patient
        plain = {"num_partitions": settings.partitions, "replication_factor": settings.replication_factor}
        # Every output takes the largest record b12stream produces (the process stage dead-letters a
        # message whose alerts, orders or pages would be larger), not the broker's default limit.
        carrying = {**plain, "configs": {"max.message.bytes": str(settings.record_limit)}}
        wanted: dict[str, dict[str, Any]] = {
            name: carrying for name in (topics.alerts, topics.orders, topics.pager, topics.dlq)
        }
        wanted[topics.input] = {
            **plain,
            "num_partitions": settings.partitions if keyed else settings.input_partitions,
        }
        if topics.input not in existing:
            _log.warning("input topic missing; creating it", topic=topics.input, **wanted[topics.input])
        if not keyed:
            wanted[topics.repartition] = carrying
        stateful = existing.get(settings.stateful_topic, wanted[settings.stateful_topic]["num_partitions"])
        wanted[topics.changelog] = {
            **plain,
            "num_partitions": stateful,
            "configs": {"cleanup.policy": "compact", "max.message.bytes": str(settings.state_record_limit)},
        }
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        for name, spec in missing.items():
            try:
                admin.create_topics({name: spec}, wait_for_metadata=True)
                _log.info("topic created", topic=name, partitions=spec["num_partitions"])
            except TopicAlreadyExistsError:
                pass  # another instance created it first
        counts = _wait_for(admin, [settings.stateful_topic, topics.changelog])
        _line_up(admin, settings, wanted, set(existing))
    finally:
        admin.close()
    stateful = counts[settings.stateful_topic]
    if counts[topics.changelog] != stateful:
        raise partition_mismatch(settings, stateful, counts[topics.changelog])
    return stateful


def _line_up(
    admin: KafkaAdminClient, settings: KafkaSettings, wanted: dict[str, dict[str, Any]], existing: set[str]
) -> None:
    """Check the ``existing`` topics among those b12stream owns (``wanted``, as it creates them)
    against what the engine writes to them: its largest record, and records without a key.

    A record limit below the largest record is raised: the broker would refuse such a record and the
    engine could not get past its batch. These stop the engine with a ConfigError naming the topic:
    a changelog that is not compacted only (deleting by retention loses the histories of patients who
    have not come back within it, and a restore brings them back without their earlier results); a
    compacted topic that takes keyless records (the broker refuses them); a limit that cannot be
    raised. A topic whose configuration this login may not read is left as it is, with a warning.
    """
    topics = settings.topics
    limits = {
        name: int(spec["configs"]["max.message.bytes"]) for name, spec in wanted.items() if "configs" in spec
    }
    keyless = {topics.alerts, topics.dlq, topics.repartition} & wanted.keys()  # rejected events, dead letters
    checked = sorted((limits.keys() | keyless) & existing)
    if not checked:
        return
    keys = {"max.message.bytes", "cleanup.policy"}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys)) for name in checked]
    described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    readable = {name: configs for name, configs in described.items() if keys <= configs.keys()}
    for name in sorted(set(checked) - readable.keys()):
        _log.warning("topic configuration not readable; not checked", topic=name)
    for name, configs in readable.items():
        _check_policy(settings, name, set(configs["cleanup.policy"]["value"].split(",")), keyless)
    for name, configs in readable.items():
        current, limit = int(configs["max.message.bytes"]["value"]), limits.get(name, 0)
        if current >= limit:
            continue
        outcome = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {"max.message.bytes": str(limit)})]
        )["topic"][name]
        if outcome != "OK":
            raise ConfigError(
                f"topic {name} takes records up to max.message.bytes={current:,} but b12stream writes "
                f"records up to {limit:,} bytes to it (kafka.max_message_bytes, kafka.max_state_bytes), "
                f"and raising the topic's limit failed: {outcome}. Raise it on the broker, or lower the "
                "setting"
            )
        _log.info("topic record limit raised", topic=name, max_message_bytes=limit, was=current)


def _check_policy(settings: KafkaSettings, name: str, policy: set[str], keyless: set[str]) -> None:
    shown = ",".join(sorted(policy))
    if name == settings.topics.changelog and policy != {"compact"}:
        raise ConfigError(
            f"kafka.topics.changelog: {name} has cleanup.policy={shown}; it must be compact alone, or "
            "the broker deletes the histories of patients who have not come back within the topic's "
            "retention, and a restore loses their earlier results. Set cleanup.policy=compact on the topic"
        )
    if name in keyless and "compact" in policy:
        raise ConfigError(
            f"topic {name} has cleanup.policy={shown}; b12stream writes records without a key to it, "
            "which a compacted topic refuses. Set cleanup.policy=delete on the topic"
        )


def partition_mismatch(settings: KafkaSettings, stateful: int, changelog: int) -> ConfigError:
    """The error for a changelog whose partition count is not the stateful topic's (found at start,
    or when partitions were added while the engine ran)."""
    return ConfigError(
        f"kafka.topics.changelog: {settings.topics.changelog} has {changelog} partitions but "
        f"{settings.stateful_topic} has {stateful}; they must be equal, since a patient's history "
        f"lives in the changelog partition of its {settings.stateful_topic} partition. If partitions "
        f"were added to {settings.stateful_topic}, its patients' results now go to other partitions "
        "than their histories: restore the partition count, or start over with a new application_id"
    )


def topic_ids(settings: KafkaSettings, topics: list[str]) -> dict[str, str | None]:
    """The broker's id of each of ``topics`` (KIP-516: a topic deleted and created again under the
    same name gets a new one); None for a topic that is missing, or when the broker does not give ids
    (before 2.8)."""
    admin = KafkaAdminClient(**settings.client_options())
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    found: dict[str, str | None] = dict.fromkeys(topics)
    for entry in described:
        if entry.get("name") in found and entry.get("error_code") != _UNKNOWN_TOPIC:
            text = str(entry.get("topic_id") or "")
            found[entry["name"]] = text if text and text != _NO_TOPIC_ID else None
    return found
