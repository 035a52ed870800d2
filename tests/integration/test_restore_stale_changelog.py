"""At-least-once: a member that lost its partition while holding a batch (a long pause, a session
timeout) still writes that batch's changelog states after the new owner has written newer ones. A
later restore keeps, per patient, the state that reflects the most of the partition's input, not the
state written last, and writes it to the changelog again so that compaction keeps it; the new owner,
finding the other member's records among its own, restores the partition to do so."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from b12stream.engine.engine import Engine
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.app import StreamApp
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.lifecycle import PartitionPhase
from b12stream.stream.restore import StampedState, restore_partition
from b12stream.stream.settings import load_kafka_settings
from tests.conftest import SAMPLES
from tests.integration.harness import (
    changelog_states,
    create_topic,
    for_patient_copy,
    hl7_messages,
    produce,
    read_to_end,
    restored_app,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

# One patient: a platelet count of 140 on day 0, then 138 on day 7, which fires the persistence rule.
# A state without the day-7 count neither knows the alert was given nor the count it rests on.
_MESSAGES = hl7_messages([SAMPLES / "s04-persistence-gate.hl7"])
_PATIENT = "EASTGATE|EG400004"


def _first_record(bootstrap: str, topic: str) -> dict[TopicPartition, list]:
    """The batch the paused member had polled: the partition's first record alone."""
    tp = TopicPartition(topic, 0)
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        reader.assign([tp])
        reader.seek(tp, 0)
        deadline = time.monotonic() + 30
        while True:
            records = reader.poll(timeout_ms=200, max_records=1).get(tp, [])
            if records:
                return {tp: records[:1]}
            assert time.monotonic() < deadline, "the first input record was never read"
    finally:
        reader.close()


@pytest.mark.parametrize("owner_runs", [True, False], ids=["the owner runs on", "the owner stopped"])
def test_a_stale_changelog_state_from_a_member_that_lost_its_partition_does_not_win_a_restore(
    bootstrap: str, tmp_path: Path, owner_runs: bool
) -> None:
    names = topic_names("stale")
    create_topic(bootstrap, names["input"], 1)
    produce(bootstrap, names["input"], _MESSAGES, key=lambda _: _PATIENT.encode())
    config = write_config(
        tmp_path,
        bootstrap,
        names,
        f"app-{names['input']}",
        processing_guarantee="at_least_once",
        input_keyed_by_patient=True,
        partitions=1,
    )
    settings = load_kafka_settings(config)

    # Member A owns the partition and has processed its first message (day 0); then it pauses
    # before sending anything, and the group gives the partition to B.
    paused = restored_app(config, tmp_path / "a")
    checkpoint = Checkpoint(
        paused._producer, paused._consumer, names["changelog"], names["repartition"], False, 10.0
    )
    results, _ = paused._run_stages(_first_record(bootstrap, names["input"]), checkpoint, {})

    owner = StreamApp(settings, Engine.load(config), tmp_path / "b", threading.Event())
    try:
        owner._connect()
        _cycle_until(owner, lambda: owner.status.totals()["processed"] == len(_MESSAGES))  # day 0 and day 7
        newest = owner._stores.open(0).get(_PATIENT)
        assert newest is not None
        if not owner_runs:
            owner._close()

        # A wakes up and sends its batch: its day-0 state lands in the changelog after B's day-7
        # state. (Its offset commit would then be refused: it is no longer in the group.)
        try:
            for result in results:
                checkpoint.send(result.records)
            checkpoint.flush()
        finally:
            paused._close()
        stale = [r.value for result in results for r in result.records if r.topic == names["changelog"]]
        assert stale and stale[0] != newest

        if owner_runs:  # B's next batch finds A's record among its own, and restores the partition
            produce(bootstrap, names["input"], [for_patient_copy(_MESSAGES[0], 1)])
            _cycle_until(owner, lambda: owner.status.totals()["processed"] == len(_MESSAGES) + 1)
            assert owner._table.phase(0) is PartitionPhase.ASSIGNED
            _cycle_until(owner, lambda: owner._table.is_running(0))
            assert _written_last(bootstrap, names["changelog"]) == newest
    finally:
        owner._close()

    for state in (tmp_path / "b", tmp_path / "c"):  # the new owner again, and a fresh instance
        app = restored_app(config, state)
        try:
            assert app._stores.open(0).get(_PATIENT) == newest, state.name
        finally:
            app._close()
        assert _written_last(bootstrap, names["changelog"]) == newest, state.name


def _written_last(bootstrap: str, changelog: str) -> bytes:
    """The patient's state written last to the changelog: the one compaction keeps."""
    return [r.value for r in read_to_end(bootstrap, changelog) if r.key == _PATIENT.encode()][-1]


def _cycle_until(app: StreamApp, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "the engine never got there"
        app._cycle()


def _old_format_file(path: Path, state: bytes, changelog: str) -> None:
    """A state file as b12stream wrote it before rows carried source offsets."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE patient_state (key TEXT PRIMARY KEY, state BLOB NOT NULL)")
        db.execute(
            "CREATE TABLE stored_offset (topic TEXT NOT NULL, partition INTEGER NOT NULL,"
            " next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO patient_state VALUES ('A|1', ?)", (state,))
        db.execute("INSERT INTO stored_offset VALUES (?, 0, 0)", (changelog,))


_DAY_7 = ("A|1", b"day 7", 8)


@pytest.mark.parametrize(
    ("stored", "states", "resume", "restored", "republished"),
    [
        # at-least-once: the highest stamp up to where reading resumes, against the file's row too;
        # one kept over a stale state written after it is written again
        (None, [(b"day 7", 8), (b"day 0", 4)], 9, (b"day 7", 8), [_DAY_7]),
        (None, [(b"day 0", 4), (b"day 7", 8), (b"redone", 8)], 9, (b"redone", 8), []),
        (None, [(b"day 7", 8), (b"day 0", 4), (b"day 9", 9)], 9, (b"day 9", 9), []),
        (None, [(b"day 0", 4), (b"day 7", 8)], 6, (b"day 0", 4), []),
        ((b"day 7", 8), [(b"day 0", 4)], 9, (b"day 7", 8), [_DAY_7]),
        # offsets set back to 5: the file's row reflects input read again, and gives way
        ((b"day 7", 8), [(b"day 0", 4)], 5, (b"day 0", 4), []),
        # a row written before rows carried stamps, a record without one: the written order
        ("old format", [(b"day 0", 4)], 9, (b"day 0", 4), []),
        ((b"day 7", 8), [(b"unstamped", None)], 9, (b"unstamped", None), []),
        # exactly-once: the state written last, as before
        (None, [(b"day 7", 8), (b"day 0", 4)], None, (b"day 0", 4), []),
    ],
    ids=[
        "a stale state written last",
        "equal stamps, the later",
        "a stale state, then a newer one",
        "a state past the resume offset",
        "a stale state against the file",
        "the file past the resume offset",
        "an old-format file",
        "a record without a stamp",
        "exactly-once",
    ],
)
def test_a_restore_keeps_the_state_reflecting_the_most_input(
    bootstrap: str,
    tmp_path: Path,
    stored: tuple[bytes, int] | str | None,
    states: list[tuple[bytes, int | None]],
    resume: int | None,
    restored: tuple[bytes, int | None],
    republished: list[StampedState],
) -> None:
    changelog = topic_names("kept")["changelog"]
    create_topic(bootstrap, changelog, 1, {"cleanup.policy": "compact"})
    path = tmp_path / "partition-0.sqlite"
    if stored == "old format":
        _old_format_file(path, b"old", changelog)
    elif stored is not None:
        with SqlitePatientStore.open(path) as store:
            store.put_many({"A|1": stored[0]}, {(changelog, 0): 0}, {"A|1": stored[1]})
    changelog_states(bootstrap, changelog, [("A|1", state, stamp) for state, stamp in states])
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, isolation_level="read_committed")
    sent: list[StampedState] = []
    try:
        with SqlitePatientStore.open(path) as store:
            read = restore_partition(reader, store, changelog, 0, resume, republish=sent.extend)
            assert read == len(states)
            assert (store.get("A|1"), store.source_offsets(["A|1"])["A|1"]) == restored
            assert store.offset(changelog, 0) == len(states)
    finally:
        reader.close()
    assert sent == republished
