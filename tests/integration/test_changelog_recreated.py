"""A changelog topic deleted and created again under the same name holds none of the records the state
files were built from: the engine stops with an error naming the topic, and never wipes the files
(they may be the only copy left of the patients' histories) nor restores them from the new topic.
A stateful topic deleted and created again starts its offsets over, and the changelog's stamps from
the old one mean nothing against them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from b12stream.errors import ConfigError
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.admin import topic_ids
from b12stream.stream.lifecycle import PartitionPhase
from b12stream.stream.settings import load_kafka_settings
from tests.integration.harness import (
    changelog_states,
    create_topic,
    produce,
    restored_app,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration


def _states(bootstrap: str, changelog: str, keys: list[str]) -> None:
    changelog_states(bootstrap, changelog, [(key, f"state of {key}".encode(), None) for key in keys])


def _delete(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 30
        while topic in admin.list_topics():
            assert time.monotonic() < deadline, f"topic {topic} not deleted"
            time.sleep(0.2)
    finally:
        admin.close()


def _create_again(bootstrap: str, topic: str, configs: dict[str, str] | None) -> None:
    deadline = time.monotonic() + 30
    while True:  # the broker may still be removing the old topic
        try:
            create_topic(bootstrap, topic, 1, configs)
            return
        except TopicAlreadyExistsError:
            assert time.monotonic() < deadline, f"topic {topic} not created again"
            time.sleep(0.5)


@pytest.mark.parametrize("new_records", [0, 3], ids=["new topic empty", "new topic past the old end"])
def test_a_recreated_changelog_stops_the_engine_and_keeps_the_state_file(
    bootstrap: str, tmp_path: Path, new_records: int
) -> None:
    names = topic_names("recreated")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["repartition"], 1)
    create_topic(bootstrap, names["changelog"], 1, {"cleanup.policy": "compact"})
    _states(bootstrap, names["changelog"], ["A|1", "A|2"])
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=1)
    state = tmp_path / "state"
    restored_app(config, state)._close()
    file = state / "partition-0.sqlite"
    with SqlitePatientStore.open(file) as store:
        assert store.keys() == ["A|1", "A|2"]
        assert store.offset(names["changelog"], 0) == 2
        assert store.topic_id(names["changelog"]) is not None

    _delete(bootstrap, names["changelog"])
    if new_records:  # recreated elsewhere and written to, past the offset the file stands at
        _create_again(bootstrap, names["changelog"], {"cleanup.policy": "compact"})
        _states(bootstrap, names["changelog"], [f"B|{n}" for n in range(new_records)])
    # (with none, the engine's start creates the missing changelog again, empty)

    with pytest.raises(ConfigError) as raised:
        restored_app(config, state)
    message = str(raised.value)
    assert names["changelog"] in message and "deleted and created again" in message
    assert str(file) in message
    with SqlitePatientStore.open(file) as store:
        assert store.keys() == ["A|1", "A|2"]  # neither wiped nor mixed with the new topic's records
        assert store.get("A|1") == b"state of A|1"
        assert store.offset(names["changelog"], 0) == 2


def test_a_state_file_keeps_its_changelog_across_restarts(bootstrap: str, tmp_path: Path) -> None:
    """The same changelog topic, restored from again: no error, and what was added since is read."""
    names = topic_names("same-changelog")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["repartition"], 1)
    create_topic(bootstrap, names["changelog"], 1, {"cleanup.policy": "compact"})
    _states(bootstrap, names["changelog"], ["A|1"])
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=1)
    state = tmp_path / "state"
    restored_app(config, state)._close()
    _states(bootstrap, names["changelog"], ["A|2"])
    app = restored_app(config, state)
    try:
        assert app._table.phase(0) is PartitionPhase.RUNNING
        assert app._stores.open(0).keys() == ["A|1", "A|2"]
    finally:
        app._close()


def test_at_least_once_states_from_a_recreated_stateful_topic_are_neither_skipped_nor_ranked_by_offset(
    bootstrap: str, tmp_path: Path
) -> None:
    """The stateful topic deleted and created again counts its offsets anew, and the group's offsets
    went with the old one. A state stamped from the old topic is kept though its offset is past where
    reading resumes (its input is gone), and it does not outrank a later state of the new topic."""
    names = topic_names("source-recreated")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["changelog"], 1, {"cleanup.policy": "compact"})
    guarantee = {"processing_guarantee": "at_least_once", "input_keyed_by_patient": True, "partitions": 1}
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", **guarantee)
    settings = load_kafka_settings(config)
    produce(bootstrap, names["input"], [b"x"] * 9)
    old = topic_ids(settings, [names["input"]])[names["input"]]
    changelog_states(bootstrap, names["changelog"], [("A|1", b"old A|1", 9), ("A|2", b"old A|2", 5)], old)
    _delete(bootstrap, names["input"])
    _create_again(bootstrap, names["input"], None)
    produce(bootstrap, names["input"], [b"y"] * 6)
    new = topic_ids(settings, [names["input"]])[names["input"]]
    assert old is not None and new not in (None, old)
    changelog_states(bootstrap, names["changelog"], [("A|2", b"new A|2", 3)], new)
    _commit(bootstrap, f"app-{names['input']}", TopicPartition(names["input"], 0), 6)
    app = restored_app(config, tmp_path / "state")
    try:
        store = app._stores.open(0)
        assert store.get_many(["A|1", "A|2"]) == {"A|1": b"old A|1", "A|2": b"new A|2"}
        assert store.source_offsets(["A|1", "A|2"]) == {"A|1": None, "A|2": 3}
    finally:
        app._close()


def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Commit ``offset`` for ``tp`` in ``group``, which has no member."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close(autocommit=False)
