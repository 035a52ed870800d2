"""Rebuild one partition's patient state from the compacted changelog topic."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from b12stream.errors import ConfigError
from b12stream.log import get_logger
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.errors import StateCorrupted, TransientBrokerError
from b12stream.stream.records import header_text
from b12stream.stream.stages import CHANGELOG_SOURCE_HEADER

__all__ = ["claim_changelog", "restore_partition"]

_CHUNK = 5000
_SETTLE_POLL_S = 0.02
_log = get_logger("stream.restore")


def claim_changelog(store: SqlitePatientStore, changelog: str, topic_id: str | None) -> None:
    """Tie ``store`` to the changelog topic whose id is ``topic_id``, or check that it is tied to it.

    A changelog topic deleted and created again under the same name (by hand, or by b12stream, which
    creates its missing topics) holds none of the records the file was built from, and its offsets
    mean nothing for it: restoring from it would find the file ahead of the topic's end, or start in
    the middle of the new topic and keep the old rows. The file may be the only copy left of its
    patients' histories, so it is neither restored nor wiped: ConfigError, naming the topic, the
    file and what to do. A file that never recorded an id (written by an earlier b12stream, or not
    yet restored) takes the current one. ``topic_id`` None (a broker before Kafka 2.8 gives no ids):
    nothing is checked.
    """
    if topic_id is None:
        return
    recorded = store.topic_id(changelog)
    if recorded is None:
        store.set_topic_id(changelog, topic_id)
        return
    if recorded != topic_id:
        raise ConfigError(
            f"kafka.topics.changelog: the changelog topic {changelog} was deleted and created again "
            f"since the state file {store.path} was written (topic id {recorded}, now {topic_id}). The "
            "records it was built from are gone, and the file may be the only copy left of its "
            "patients' histories, so b12stream neither restores it from the new topic nor wipes it. "
            "Keep a copy of the state folder: its files hold those histories. To start over from the "
            "new topic, accepting that they are lost to the engine, move the state folder away (or "
            "start with an empty --state folder)"
        )


def restore_partition(
    reader: KafkaConsumer,
    store: SqlitePatientStore,
    changelog: str,
    partition: int,
    committed_source: int | None,
    log_ends: KafkaConsumer | None = None,
    stop: threading.Event | None = None,
    timeout_s: float = 120.0,
) -> int:
    """Apply the changelog records of ``partition`` written since the store's changelog offset.

    The reader is read_committed, so records of aborted transactions are never seen. When
    ``committed_source`` is given (at-least-once: where this instance resumes reading the stateful
    partition, its committed offset or, with none, its first offset), records stamped with a source
    offset beyond it come from a batch whose input will be processed again: they are skipped. Rows and
    the new changelog offset are written together, in chunks, so an interrupted restore resumes where
    it stopped. Returns the number of records read.

    ``log_ends`` (exactly-once): a read_uncommitted client, whose end offsets count the records of
    transactions still open. The restore then first waits until every transaction that wrote to the
    partition before it began has ended (``_settled_end``).

    Raises StateCorrupted when the store claims a changelog offset past the changelog's end, and
    TransientBrokerError when the changelog cannot be read to its end within ``timeout_s`` or ``stop``
    is set first (what was written by then stays, and the next restore goes on from there).
    """
    tp = TopicPartition(changelog, partition)
    waiting = _Waiting(partition, time.monotonic() + timeout_s, timeout_s, stop or threading.Event())
    end = reader.end_offsets([tp])[tp] if log_ends is None else _settled_end(reader, log_ends, tp, waiting)
    start = store.offset(changelog, partition) or 0
    if start > end:
        raise StateCorrupted(f"state of partition {partition} is at changelog offset {start} > end {end}")
    if start == end:
        return 0
    reader.assign([tp])
    reader.seek(tp, start)
    rows: dict[str, bytes] = {}
    read = 0
    try:
        while reader.position(tp) < end:
            waiting.check("not restored")
            for record in reader.poll(timeout_ms=200).get(tp, []):
                read += 1
                if record.key is None or record.value is None:
                    continue
                if committed_source is not None and _source_offset(record.headers) > committed_source:
                    continue
                rows[record.key.decode("utf-8")] = record.value
            if len(rows) >= _CHUNK:
                store.put_many(rows, {(changelog, partition): reader.position(tp)})
                rows = {}
        store.put_many(rows, {(changelog, partition): reader.position(tp)})
    finally:
        reader.assign([])
    _log.info("partition restored", partition=partition, records=read, from_offset=start, to_offset=end)
    return read


@dataclass(frozen=True, slots=True)
class _Waiting:
    """How long a restore may take, and whether the engine is stopping meanwhile."""

    partition: int
    deadline: float
    timeout_s: float
    stop: threading.Event

    def check(self, what: str) -> None:
        """Raise TransientBrokerError when the engine is stopping or the time is up."""
        if self.stop.is_set():
            raise TransientBrokerError(f"changelog partition {self.partition} {what}: stopping")
        if time.monotonic() > self.deadline:
            raise TransientBrokerError(f"changelog partition {self.partition} {what} in {self.timeout_s:g} s")


def _settled_end(
    reader: KafkaConsumer, log_ends: KafkaConsumer, tp: TopicPartition, waiting: _Waiting
) -> int:
    """The committed end of ``tp`` once every transaction open in it when this was called has ended.

    A read_committed reader's end (the last stable offset) stops at the first record of a transaction
    still open, and a committed transaction is open there until its markers are written, which is
    after ``commit_transaction`` returns. That may be this engine's own last batch, whose state file
    write failed, or a previous owner's last batch, still completing (or, if that owner died with it
    open, waiting for the broker to abort it at its transaction timeout). Restoring to the earlier end
    would miss records that become committed a moment later, and the partition would run on without
    them."""
    high = log_ends.end_offsets([tp])[tp]
    while True:
        stable = reader.end_offsets([tp])[tp]
        if stable >= high:
            return stable
        waiting.check("not restored: a transaction open in it since before the restore has not ended")
        waiting.stop.wait(_SETTLE_POLL_S)


def _source_offset(headers: object) -> int:
    text = header_text(headers, CHANGELOG_SOURCE_HEADER)
    return int(text) if text is not None and text.isdigit() else 0
