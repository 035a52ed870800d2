"""A buffered write set over one state partition: reads see its own writes; one atomic flush."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from b12stream.errors import StateError
from b12stream.state.sqlite_partition import SqlitePartition, TopicPartitionKey

__all__ = ["StoreTransaction", "TransactionStatus"]


class TransactionStatus(enum.Enum):
    """started --prepare()--> prepared --flush()--> complete; any failure --> failed (terminal)."""

    STARTED = "started"
    PREPARED = "prepared"
    COMPLETE = "complete"
    FAILED = "failed"


class StoreTransaction:
    """Writes for one batch, held in memory until :meth:`flush`.

    Nothing reaches the file before ``flush``, so a batch whose Kafka transaction aborts is dropped by
    simply discarding this object. ``flush`` writes the rows, each stamped with the source offset, and
    the offsets given to :meth:`prepare` in one SQLite transaction.
    """

    def __init__(self, partition: SqlitePartition) -> None:
        self._partition = partition
        self._rows: dict[str, bytes] = {}
        self._offsets: dict[TopicPartitionKey, int] = {}
        self._source_offset: int | None = None
        self.status = TransactionStatus.STARTED

    @property
    def rows(self) -> Mapping[str, bytes]:
        """The rows written so far (a read-only view)."""
        return self._rows

    def get(self, key: str) -> bytes | None:
        if key in self._rows:
            return self._rows[key]
        return self._partition.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = list(keys)
        found = self._partition.get_many(k for k in wanted if k not in self._rows)
        found.update((k, self._rows[k]) for k in wanted if k in self._rows)
        return found

    def put(self, key: str, state: bytes) -> None:
        self._require(TransactionStatus.STARTED, "put")
        self._rows[key] = state

    def prepare(self, offsets: Mapping[TopicPartitionKey, int], source_offset: int | None) -> None:
        """Fix the offsets the rows reflect, and the stateful-topic offset every row is stamped with
        (None: not known). No more puts after this."""
        self._require(TransactionStatus.STARTED, "prepare")
        self._offsets = dict(offsets)
        self._source_offset = source_offset
        self.status = TransactionStatus.PREPARED

    def flush(self) -> None:
        """Write rows and offsets atomically. Raises StateError and marks the transaction failed."""
        self._require(TransactionStatus.PREPARED, "flush")
        try:
            stamps = dict.fromkeys(self._rows, self._source_offset)
            self._partition.write(self._rows, self._offsets, stamps)
        except StateError:
            self.status = TransactionStatus.FAILED
            raise
        self.status = TransactionStatus.COMPLETE

    def fail(self) -> None:
        """Discard the buffered writes; the file is untouched."""
        self._rows.clear()
        self.status = TransactionStatus.FAILED

    def _require(self, status: TransactionStatus, action: str) -> None:
        if self.status is not status:
            raise StateError(f"cannot {action} a state transaction that is {self.status.value}")
