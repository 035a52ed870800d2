"""StoreTransaction: buffered writes, read-your-writes, statuses, atomic flush."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.errors import StateError
from b12stream.state import SqlitePatientStore, TransactionStatus


@pytest.fixture
def store(tmp_path: Path):
    with SqlitePatientStore.open(tmp_path / "patients.sqlite") as opened:
        opened.put_many({"A|1": b"committed"}, {("in", 0): 10})
        yield opened


def test_reads_see_own_writes_but_the_file_does_not_until_flush(store: SqlitePatientStore) -> None:
    transaction = store.begin()
    transaction.put("A|1", b"buffered")
    transaction.put("A|2", b"new")
    assert transaction.get("A|1") == b"buffered"
    assert transaction.get_many(["A|1", "A|2", "A|3"]) == {"A|1": b"buffered", "A|2": b"new"}
    assert store.get("A|1") == b"committed"
    transaction.prepare({("in", 0): 12}, 12)
    transaction.flush()
    assert transaction.status is TransactionStatus.COMPLETE
    assert store.get("A|1") == b"buffered"
    assert store.offset("in", 0) == 12


def test_a_failed_transaction_never_reaches_the_file(store: SqlitePatientStore) -> None:
    transaction = store.begin()
    transaction.put("A|1", b"never")
    transaction.fail()
    assert transaction.status is TransactionStatus.FAILED
    assert store.get("A|1") == b"committed"
    with pytest.raises(StateError):
        transaction.prepare({("in", 0): 11}, 11)


def test_status_transitions_are_checked(store: SqlitePatientStore) -> None:
    transaction = store.begin()
    with pytest.raises(StateError):
        transaction.flush()
    transaction.prepare({}, None)
    with pytest.raises(StateError):
        transaction.put("A|1", b"late")
    transaction.flush()
    with pytest.raises(StateError):
        transaction.flush()


def test_a_failing_flush_marks_the_transaction_failed_and_writes_nothing(store: SqlitePatientStore) -> None:
    transaction = store.begin()
    transaction.put("A|1", b"new")
    transaction.put("A|2", object())  # type: ignore[arg-type]
    transaction.prepare({("in", 0): 20}, 20)
    with pytest.raises(StateError):
        transaction.flush()
    assert transaction.status is TransactionStatus.FAILED
    assert store.get("A|1") == b"committed"
    assert store.offset("in", 0) == 10
