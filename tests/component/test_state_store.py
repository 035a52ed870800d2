"""SqlitePatientStore and PartitionedStore on temporary SQLite files."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from b12stream.errors import ConfigError, StateError
from b12stream.state import PartitionedStore, SqlitePatientStore
from b12stream.stream.restore import claim_changelog, claim_source


@pytest.fixture
def store(tmp_path: Path):
    with SqlitePatientStore.open(tmp_path / "state" / "patients.sqlite") as opened:
        yield opened


def test_missing_patient_reads_as_none(store: SqlitePatientStore) -> None:
    assert store.get("MRN|1") is None
    assert store.offset("b12stream.repartition", 0) is None


def test_rows_and_offsets_round_trip_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "patients.sqlite"
    with SqlitePatientStore.open(path) as store:
        store.put_many({"HOSP|1": b"\x00state-1", "HOSP|2": b"state-2"}, {("topic", 3): 17})
        store.put_many({"HOSP|1": b"state-1b"}, {("topic", 3): 18, ("changelog", 3): 4})
    with SqlitePatientStore.open(path) as store:
        assert store.get("HOSP|1") == b"state-1b"
        assert store.get_many(["HOSP|1", "HOSP|2", "HOSP|9"]) == {"HOSP|1": b"state-1b", "HOSP|2": b"state-2"}
        assert store.offsets() == {("topic", 3): 18, ("changelog", 3): 4}
        assert store.keys() == ["HOSP|1", "HOSP|2"]


def test_get_many_reads_more_keys_than_one_statement_holds(store: SqlitePatientStore) -> None:
    rows = {f"A|{n}": str(n).encode() for n in range(1_234)}
    store.put_many(rows)
    assert store.get_many(rows) == rows


def test_a_failed_write_leaves_neither_rows_nor_offsets(store: SqlitePatientStore) -> None:
    store.put_many({"A|1": b"old"}, {("topic", 0): 1})
    unstorable = {"A|1": b"new", "A|2": object()}  # sqlite3 cannot bind an arbitrary object
    with pytest.raises(StateError):
        store.put_many(unstorable, {("topic", 0): 2})  # type: ignore[arg-type]
    assert store.get("A|1") == b"old"
    assert store.get("A|2") is None
    assert store.offset("topic", 0) == 1


def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError):
        SqlitePatientStore.open(path)


def test_partitioned_store_keeps_one_file_per_partition_and_wipe_forgets(tmp_path: Path) -> None:
    stores = PartitionedStore(tmp_path)
    stores.open(0).put_many({"A|1": b"zero"}, {("changelog", 0): 1})
    stores.open(1).put_many({"A|1": b"one"})
    assert stores.open(0) is stores.open(0)
    stores.close_partition(1)
    assert stores.get(1) is None
    assert stores.open(1).get("A|1") == b"one"
    stores.wipe(0)
    assert not stores.path(0).exists()
    assert stores.open(0).get("A|1") is None
    assert stores.open(0).offset("changelog", 0) is None
    stores.close()


def test_a_changelog_topic_id_is_recorded_once_and_a_different_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "partition-0.sqlite"
    with SqlitePatientStore.open(path) as store:
        claim_changelog(store, "app.changelog", None)  # a broker without topic ids: nothing recorded
        assert store.topic_id("app.changelog") is None
        store.put_many({"A|1": b"state"}, {("app.changelog", 0): 1})
        claim_changelog(store, "app.changelog", "id-1")  # a file that never recorded one takes it
        claim_changelog(store, "app.changelog", "id-1")
    with SqlitePatientStore.open(path) as store:
        assert store.topic_id("app.changelog") == "id-1"
        with pytest.raises(ConfigError, match=r"app\.changelog was deleted and created again"):
            claim_changelog(store, "app.changelog", "id-2")
        assert store.topic_id("app.changelog") == "id-1"
        assert store.get("A|1") == b"state"


def test_rows_keep_their_source_offsets(store: SqlitePatientStore) -> None:
    store.put_many({"A|1": b"one", "A|2": b"two"}, {("changelog", 0): 2}, {"A|1": 7})
    transaction = store.begin()
    transaction.put("A|3", b"three")
    transaction.prepare({("topic", 0): 9}, 9)
    transaction.flush()
    assert store.source_offsets(["A|1", "A|2", "A|3", "A|4"]) == {"A|1": 7, "A|2": None, "A|3": 9}
    store.put_many({"A|1": b"one again"})
    assert store.source_offsets(["A|1"]) == {"A|1": None}


def test_a_file_written_before_rows_carried_source_offsets_opens_with_them_unknown(tmp_path: Path) -> None:
    path = tmp_path / "partition-0.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE patient_state (key TEXT PRIMARY KEY, state BLOB NOT NULL)")
        db.execute(
            "CREATE TABLE stored_offset (topic TEXT NOT NULL, partition INTEGER NOT NULL,"
            " next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO patient_state VALUES ('A|1', x'00ff')")
        db.execute("INSERT INTO stored_offset VALUES ('app.changelog', 0, 5)")
    for _ in range(2):  # the second open finds the column there
        with SqlitePatientStore.open(path) as store:
            assert store.get("A|1") == b"\x00\xff"
            assert store.offset("app.changelog", 0) == 5
            assert store.source_offsets(["A|1"]) == {"A|1": None}
    with SqlitePatientStore.open(path) as store:
        store.put_many({"A|2": b"new"}, {("app.changelog", 0): 6}, {"A|2": 3})
        assert store.source_offsets(["A|1", "A|2"]) == {"A|1": None, "A|2": 3}


def test_a_stateful_topic_created_again_makes_row_source_offsets_unknown(store: SqlitePatientStore) -> None:
    claim_source(store, "app.repartition", None)  # a broker without topic ids: nothing recorded
    assert store.topic_id("app.repartition") is None
    store.put_many({"A|1": b"one", "A|2": b"two"}, {}, {"A|1": 7, "A|2": 3})
    claim_source(store, "app.repartition", "id-1")  # a file that never recorded one takes it
    claim_source(store, "app.repartition", "id-1")
    assert store.source_offsets(["A|1", "A|2"]) == {"A|1": 7, "A|2": 3}
    claim_source(store, "app.repartition", "id-2")
    assert store.topic_id("app.repartition") == "id-2"
    assert store.source_offsets(["A|1", "A|2"]) == {"A|1": None, "A|2": None}
    assert store.get_many(["A|1", "A|2"]) == {"A|1": b"one", "A|2": b"two"}
