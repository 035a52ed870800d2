"""A changelog topic deleted and created again under the same name holds none of the records the state
files were built from: the engine stops with an error naming the topic, and never wipes the files
(they may be the only copy left of the patients' histories) nor restores them from the new topic."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from b12stream.engine.engine import Engine
from b12stream.errors import ConfigError
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.app import StreamApp
from b12stream.stream.lifecycle import PartitionPhase
from b12stream.stream.settings import load_kafka_settings
from tests.integration.harness import create_topic, topic_names, write_config

pytestmark = pytest.mark.integration


def _states(bootstrap: str, changelog: str, keys: list[str]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key in keys:
        producer.send(changelog, f"state of {key}".encode(), key=key.encode(), partition=0)
    producer.flush()
    producer.close()


def _restored(config: Path, state: Path) -> StreamApp:
    """An engine instance that was assigned partition 0 and restored it (or failed to: raised)."""
    app = StreamApp(load_kafka_settings(config), Engine.load(config), state, threading.Event())
    try:
        app._connect()  # creates the topics that are missing, as a start does
        app.assign([0])
        app._restore_assigned()
    except BaseException:
        app._close()
        raise
    return app


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


def _create_again(bootstrap: str, topic: str) -> None:
    deadline = time.monotonic() + 30
    while True:  # the broker may still be removing the old topic
        try:
            create_topic(bootstrap, topic, 1, {"cleanup.policy": "compact"})
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
    _restored(config, state)._close()
    file = state / "partition-0.sqlite"
    with SqlitePatientStore.open(file) as store:
        assert store.keys() == ["A|1", "A|2"]
        assert store.offset(names["changelog"], 0) == 2
        assert store.topic_id(names["changelog"]) is not None

    _delete(bootstrap, names["changelog"])
    if new_records:  # recreated elsewhere and written to, past the offset the file stands at
        _create_again(bootstrap, names["changelog"])
        _states(bootstrap, names["changelog"], [f"B|{n}" for n in range(new_records)])
    # (with none, the engine's start creates the missing changelog again, empty)

    with pytest.raises(ConfigError) as raised:
        _restored(config, state)
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
    _restored(config, state)._close()
    _states(bootstrap, names["changelog"], ["A|2"])
    app = _restored(config, state)
    try:
        assert app._table.phase(0) is PartitionPhase.RUNNING
        assert app._stores.open(0).keys() == ["A|1", "A|2"]
    finally:
        app._close()
