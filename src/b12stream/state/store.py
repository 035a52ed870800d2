"""Patient-state stores: one SQLite file (`replay`), or one file per Kafka partition (`run`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from b12stream.state.sqlite_partition import SqlitePartition, TopicPartitionKey
from b12stream.state.transaction import StoreTransaction

__all__ = ["PartitionedStore", "SqlitePatientStore"]


class SqlitePatientStore:
    """PatientState bytes by patient key text, with the offsets those rows reflect, in one SQLite file.

    API (stable): ``open(path)``, ``get(key)``, ``get_many(keys)``, ``source_offsets(keys)``,
    ``forget_source_offsets()``, ``put_many(rows, offsets, source_offsets)``, ``offset(topic,
    partition)``, ``topic_id(topic)``, ``set_topic_id(topic, id)``, ``begin()``, ``close()``.
    ``put_many`` writes rows, their source offsets and the offsets in one SQLite transaction. Raises
    StateError when the file cannot be read or written. A file written before rows carried source
    offsets opens as it is, its rows' source offsets unknown.
    """

    def __init__(self, partition: SqlitePartition) -> None:
        self._partition = partition

    @classmethod
    def open(cls, path: Path) -> SqlitePatientStore:
        return cls(SqlitePartition.open(path))

    @property
    def path(self) -> Path:
        return self._partition.path

    def get(self, key: str) -> bytes | None:
        return self._partition.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        return self._partition.get_many(keys)

    def keys(self) -> list[str]:
        return self._partition.keys()

    def source_offsets(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The source offset of each stored row among ``keys``: the offset of the stateful topic's
        partition after the last message its state reflects; None when not known."""
        return self._partition.source_offsets(keys)

    def forget_source_offsets(self) -> None:
        """Make every row's source offset unknown: they count offsets of a topic that is gone."""
        self._partition.forget_source_offsets()

    def put_many(
        self,
        rows: Mapping[str, bytes],
        offsets: Mapping[TopicPartitionKey, int] | None = None,
        source_offsets: Mapping[str, int | None] | None = None,
    ) -> None:
        """Store ``rows`` (a row absent from ``source_offsets`` has no source offset known) and
        ``offsets``."""
        self._partition.write(rows, offsets or {}, source_offsets)

    def offset(self, topic: str, partition: int) -> int | None:
        """The stored next offset for (topic, partition), or None."""
        return self._partition.offset(topic, partition)

    def offsets(self) -> dict[TopicPartitionKey, int]:
        return self._partition.offsets()

    def topic_id(self, topic: str) -> str | None:
        """The id ``topic`` had when this file first took its offsets, or None if never recorded."""
        return self._partition.topic_id(topic)

    def set_topic_id(self, topic: str, topic_id: str) -> None:
        self._partition.set_topic_id(topic, topic_id)

    def begin(self) -> StoreTransaction:
        """A buffered transaction over this store; see StoreTransaction."""
        return StoreTransaction(self._partition)

    def close(self) -> None:
        self._partition.close()

    def __enter__(self) -> SqlitePatientStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class PartitionedStore:
    """A folder of SqlitePatientStores, one per partition number of the stateful topic.

    A partition's file is opened when the partition is assigned and closed when it is revoked; its
    rows stay on disk, so regaining the partition only replays the changelog written since.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: dict[int, SqlitePatientStore] = {}

    def path(self, partition: int) -> Path:
        return self.directory / f"partition-{partition}.sqlite"

    def open(self, partition: int) -> SqlitePatientStore:
        """The store of ``partition``, opened on first use. Idempotent."""
        if partition not in self._open:
            self._open[partition] = SqlitePatientStore.open(self.path(partition))
        return self._open[partition]

    def get(self, partition: int) -> SqlitePatientStore | None:
        return self._open.get(partition)

    def close_partition(self, partition: int) -> None:
        store = self._open.pop(partition, None)
        if store is not None:
            store.close()

    def wipe(self, partition: int) -> None:
        """Delete the partition's file so the next restore rebuilds it from the changelog alone."""
        self.close_partition(partition)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path(partition)}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        for partition in list(self._open):
            self.close_partition(partition)
