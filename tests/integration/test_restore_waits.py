"""A restore under exactly-once reads the changelog past every transaction open in it when it starts,
waiting for it to end, and gives up at once when the engine is asked to stop meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kafka import KafkaProducer

from b12stream.engine.engine import Engine
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.app import StreamApp
from b12stream.stream.clients import log_end_reader, restore_consumer
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.restore import restore_partition
from b12stream.stream.settings import load_kafka_settings
from tests.integration.harness import create_topic, topic_names, write_config

pytestmark = pytest.mark.integration

WAITED_S = 2.0  # long enough for a restore that does not wait to have finished


def _open_transaction(bootstrap: str, changelog: str, partitions: int = 1) -> KafkaProducer:
    """A committed state for patient A|1, then a state for A|2 in a transaction left open: an owner's
    last batch whose commit markers are not written yet."""
    create_topic(bootstrap, changelog, partitions, {"cleanup.policy": "compact"})
    earlier = KafkaProducer(bootstrap_servers=bootstrap)
    earlier.send(changelog, b"state of A|1", key=b"A|1", partition=0).get(timeout=30)
    earlier.close()
    owner = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"owner-{changelog}")
    owner.init_transactions()
    owner.begin_transaction()
    owner.send(changelog, b"state of A|2", key=b"A|2", partition=0).get(timeout=30)
    return owner


def _restoring(bootstrap: str, tmp_path: Path, changelog: str, stop: threading.Event) -> tuple[
    threading.Thread, list[BaseException], SqlitePatientStore
]:
    names = topic_names("settle")
    settings = load_kafka_settings(write_config(tmp_path, bootstrap, {**names, "changelog": changelog}, "g"))
    store = SqlitePatientStore.open(tmp_path / "partition-0.sqlite")
    errors: list[BaseException] = []

    def restore() -> None:
        reader, log_ends = restore_consumer(settings), log_end_reader(settings)
        try:
            restore_partition(reader, store, changelog, 0, None, log_ends, stop)
        except BaseException as error:
            errors.append(error)
        finally:
            reader.close()
            log_ends.close()

    runner = threading.Thread(target=restore)
    runner.start()
    return runner, errors, store


def test_a_restore_waits_for_a_transaction_open_in_the_changelog_and_reads_what_it_commits(
    bootstrap: str, tmp_path: Path
) -> None:
    changelog = topic_names("settle")["changelog"]
    owner = _open_transaction(bootstrap, changelog)
    runner, errors, store = _restoring(bootstrap, tmp_path, changelog, threading.Event())
    runner.join(timeout=WAITED_S)
    assert runner.is_alive(), "the restore did not wait for the open transaction"
    owner.commit_transaction()
    owner.close()
    runner.join(timeout=30)
    assert not runner.is_alive() and errors == []
    assert store.get("A|1") == b"state of A|1"
    assert store.get("A|2") == b"state of A|2"
    store.close()


def test_a_restore_waiting_for_a_transaction_stops_when_asked(bootstrap: str, tmp_path: Path) -> None:
    changelog = topic_names("settle-stop")["changelog"]
    owner = _open_transaction(bootstrap, changelog)
    stop = threading.Event()
    runner, errors, store = _restoring(bootstrap, tmp_path, changelog, stop)
    runner.join(timeout=WAITED_S)
    assert runner.is_alive(), "the restore did not wait for the open transaction"
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive(), "the restore went on waiting after the stop"
    assert [type(error) for error in errors] == [TransientBrokerError]
    assert "stopping" in str(errors[0])
    assert store.get("A|1") is None  # nothing restored: the next restore starts from the beginning
    owner.abort_transaction()
    owner.close()
    store.close()


def test_an_engine_asked_to_stop_while_a_restore_waits_stops_cleanly(bootstrap: str, tmp_path: Path) -> None:
    """A stop asked for while the engine retries (here: waits to restore) is a clean stop, not a
    failure: ``run`` returns 0 promptly, and nothing of the unfinished cycle was committed."""
    names = topic_names("settle-run")
    create_topic(bootstrap, names["input"], 1)
    create_topic(bootstrap, names["repartition"], 2)
    owner = _open_transaction(bootstrap, names["changelog"], partitions=2)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=2)
    stop = threading.Event()
    app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", stop)
    returned: list[int] = []
    runner = threading.Thread(target=lambda: returned.append(app.run()))
    runner.start()
    try:
        runner.join(timeout=8.0)  # joined, assigned, and waiting on the open transaction by now
        assert runner.is_alive()
        stop.set()
        runner.join(timeout=10)
        assert not runner.is_alive(), "the engine did not stop within 10 s"
        assert returned == [0]
    finally:
        stop.set()
        owner.abort_transaction()
        owner.close()
