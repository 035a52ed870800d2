"""One SQLite file (WAL) holding patient-state rows and the offsets they reflect; the only sqlite3 user."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from b12stream.errors import StateError

__all__ = ["SqlitePartition", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]

# patient_state is a rowid table: a state is a kilobyte or more, and a WITHOUT ROWID table keeps whole
# rows in its key b-tree, where an upsert of a 1.2 KB state cost about nine times the CPU (73 against
# 8 µs). stored_offset rows are tiny, the case WITHOUT ROWID is made for.
# source_offset: the offset of the stateful topic's partition after the last message the state
# reflects (the stamp its changelog record carries), which orders states written by two instances;
# NULL when unknown (a row written by an earlier b12stream, or by `replay`, which reads no topic).
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS patient_state ("
    " key TEXT PRIMARY KEY, state BLOB NOT NULL, source_offset INTEGER)",
    "CREATE TABLE IF NOT EXISTS stored_offset ("
    " topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,"
    " PRIMARY KEY (topic, partition)) WITHOUT ROWID",
    # The id of each topic whose offsets stored_offset holds, as it was when they were first written: a
    # topic deleted and created again under the same name gets a new id, and its offsets mean nothing
    # for the rows of this file.
    "CREATE TABLE IF NOT EXISTS topic_identity ("
    " topic TEXT PRIMARY KEY, topic_id TEXT NOT NULL) WITHOUT ROWID",
)
# SQLite caps host parameters per statement; reads in larger batches are chunked.
_CHUNK = 500


class SqlitePartition:
    """Patient rows keyed by patient key text, each with its source offset, plus (topic, partition) ->
    next offset.

    Contract: :meth:`write` stores rows and offsets in ONE SQLite transaction, so after a crash the
    file holds either both or neither. WAL with ``synchronous=NORMAL``: a power loss may drop the last
    transactions but never tears one, and the changelog restore replays whatever was dropped.
    Not thread-safe; one owner at a time.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> SqlitePartition:
        """Open or create the file (and its folder). Raises StateError if it is not a usable database."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                connection.execute(statement)
            _add_source_offsets(connection)
        except sqlite3.Error as error:
            raise StateError(f"cannot open state file {path}: {error}") from error
        return cls(connection, path)

    def get(self, key: str) -> bytes | None:
        row = self._query("SELECT state FROM patient_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored rows among ``keys``; absent keys are absent from the result."""
        return {key: bytes(state) for key, state in self._among("state", keys)}

    def source_offsets(self, keys: Iterable[str]) -> dict[str, int | None]:
        """The source offset of each stored row among ``keys`` (None: not known); absent keys are
        absent from the result."""
        stamps = self._among("source_offset", keys)
        return {key: None if stamp is None else int(stamp) for key, stamp in stamps}

    def offset(self, topic: str, partition: int) -> int | None:
        """The next offset to read for (topic, partition) as of the last write, or None if never written."""
        row = self._query(
            "SELECT next_offset FROM stored_offset WHERE topic = ? AND partition = ?", (topic, partition)
        ).fetchone()
        return None if row is None else int(row[0])

    def offsets(self) -> dict[TopicPartitionKey, int]:
        rows = self._query("SELECT topic, partition, next_offset FROM stored_offset", ())
        return {(topic, int(partition)): int(next_offset) for topic, partition, next_offset in rows}

    def topic_id(self, topic: str) -> str | None:
        """The id ``topic`` had when this file first took its offsets (``set_topic_id``), or None."""
        row = self._query("SELECT topic_id FROM topic_identity WHERE topic = ?", (topic,)).fetchone()
        return None if row is None else str(row[0])

    def set_topic_id(self, topic: str, topic_id: str) -> None:
        """Record ``topic``'s id. Raises StateError (nothing written)."""
        try:
            self._db.execute(
                "INSERT INTO topic_identity (topic, topic_id) VALUES (?, ?)"
                " ON CONFLICT(topic) DO UPDATE SET topic_id = excluded.topic_id",
                (topic, topic_id),
            )
        except sqlite3.Error as error:
            raise StateError(f"cannot write state file {self.path}: {error}") from error

    def forget_source_offsets(self) -> None:
        """Make every row's source offset unknown. Raises StateError (nothing written)."""
        try:
            self._db.execute("UPDATE patient_state SET source_offset = NULL WHERE source_offset IS NOT NULL")
        except sqlite3.Error as error:
            raise StateError(f"cannot write state file {self.path}: {error}") from error

    def keys(self) -> list[str]:
        return [key for (key,) in self._query("SELECT key FROM patient_state ORDER BY key", ())]

    def write(
        self,
        rows: Mapping[str, bytes],
        offsets: Mapping[TopicPartitionKey, int],
        source_offsets: Mapping[str, int | None] | None = None,
    ) -> None:
        """Upsert ``rows``, each with its source offset (a row absent from ``source_offsets`` has none
        known), and ``offsets`` atomically. Idempotent. Raises StateError (nothing written)."""
        stamps = source_offsets or {}
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO patient_state (key, state, source_offset) VALUES (?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET"
                    " state = excluded.state, source_offset = excluded.source_offset",
                    [(key, state, stamps.get(key)) for key, state in rows.items()],
                )
                self._db.executemany(
                    "INSERT INTO stored_offset (topic, partition, next_offset) VALUES (?, ?, ?)"
                    " ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                    [(topic, partition, offset) for (topic, partition), offset in offsets.items()],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            raise StateError(f"cannot write state file {self.path}: {error}") from error

    def close(self) -> None:
        """Idempotent."""
        self._db.close()

    def _among(self, column: str, keys: Iterable[str]) -> Iterator[tuple[str, object]]:
        """(key, ``column``) of the stored rows among ``keys``, read in chunks."""
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._query(f"SELECT key, {column} FROM patient_state WHERE key IN ({marks})", chunk)

    def _query(self, sql: str, parameters: Iterable[object]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, tuple(parameters))
        except sqlite3.Error as error:
            raise StateError(f"cannot read state file {self.path}: {error}") from error


def _add_source_offsets(connection: sqlite3.Connection) -> None:
    """Give a file written before rows carried source offsets the column, its rows' offsets unknown.
    Adding a column with no default rewrites no row, so a large file opens as fast as before."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(patient_state)")}
    if "source_offset" not in columns:
        connection.execute("ALTER TABLE patient_state ADD COLUMN source_offset INTEGER")
