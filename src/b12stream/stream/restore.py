"""Rebuild one partition's patient state from the compacted changelog topic."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from b12stream.errors import ConfigError
from b12stream.log import get_logger
from b12stream.state.store import SqlitePatientStore
from b12stream.stream.errors import StateCorrupted, TransientBrokerError
from b12stream.stream.newer_state import supersedes
from b12stream.stream.records import header_text
from b12stream.stream.stages import CHANGELOG_SOURCE_HEADER, CHANGELOG_SOURCE_ID_HEADER

__all__ = ["RESTORE_TIMEOUT_S", "StampedState", "claim_changelog", "claim_source", "restore_partition"]

# A patient's key, a state of theirs and its stamp: the stateful offset it reflects (None: not known).
StampedState = tuple[str, bytes, int | None]
_CHUNK = 5000
# How long the restore of one partition may take before it is given up and tried again.
RESTORE_TIMEOUT_S = 120.0
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


def claim_source(store: SqlitePatientStore, stateful_topic: str, topic_id: str | None) -> None:
    """Tie the source offsets of ``store``'s rows to the stateful topic whose id is ``topic_id``.

    A stateful topic deleted and created again counts its offsets anew, so the rows' offsets, counted
    in the old topic, say nothing about the new one's: they are made unknown, and the rows are then
    ordered against the changelog's states as before offsets were compared (``supersedes``). A file
    that never recorded an id takes the current one. ``topic_id`` None (a broker without ids):
    nothing is checked.
    """
    if topic_id is None:
        return
    recorded = store.topic_id(stateful_topic)
    if recorded == topic_id:
        return
    if recorded is not None:
        _log.warning("stateful topic created again; the state file's source offsets are forgotten")
        store.forget_source_offsets()
    store.set_topic_id(stateful_topic, topic_id)


def restore_partition(
    reader: KafkaConsumer,
    store: SqlitePatientStore,
    changelog: str,
    partition: int,
    committed_source: int | None,
    log_ends: KafkaConsumer | None = None,
    stop: threading.Event | None = None,
    timeout_s: float = RESTORE_TIMEOUT_S,
    republish: Callable[[list[StampedState]], None] | None = None,
    source_id: str | None = None,
) -> int:
    """Apply the changelog records of ``partition`` written since the store's changelog offset.

    The reader is read_committed, so records of aborted transactions are never seen. Exactly-once
    (``committed_source`` None): each patient's state written last is kept.

    At-least-once, ``committed_source`` is where this instance resumes reading the stateful
    partition (its committed offset or, with none, its first offset) in the stateful topic whose id
    is ``source_id``. Records stamped with a source offset beyond it come from a batch whose input
    will be processed again: they are skipped. A stamp from another stateful topic of the same name
    (deleted and created again) is no offset of this one, and counts as unknown. Of a patient's
    other states, the one with the highest stamp is kept, not the one written last
    (``supersedes``): an instance that lost the partition while holding a batch may write its states
    after the new owner's newer ones. Such a stale state is still the last of its key in the topic,
    the one compaction keeps, so ``republish`` is given the states kept over a stale state written
    after them, to write them to the changelog again, before the chunk that read the stale state is
    stored (a restore interrupted in between finds it again).

    Rows (each with its stamp) and the new changelog offset are written together, in chunks, so an
    interrupted restore resumes where it stopped. Returns the number of records read.

    ``log_ends`` (exactly-once): a read_uncommitted client, whose end offsets count the records of
    transactions still open. The restore then first waits until every transaction that wrote to the
    partition before it began has ended (``_settled_end``).

    Raises StateCorrupted when the store claims a changelog offset past the changelog's end, and
    TransientBrokerError when the changelog cannot be read to its end within ``timeout_s`` or ``stop``
    is set first (what was written by then stays, and the next restore goes on from there); and
    whatever ``republish`` raises, before the chunk is stored.
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
    kept = _Kept(store, committed_source)
    read = 0
    try:
        while reader.position(tp) < end:
            waiting.check("not restored")
            records = reader.poll(timeout_ms=200).get(tp, [])
            read += len(records)
            kept.offer([_stamped(r, source_id) for r in records if r.key is not None and r.value is not None])
            if len(kept.rows) >= _CHUNK:
                kept.write({(changelog, partition): reader.position(tp)}, republish)
        kept.write({(changelog, partition): reader.position(tp)}, republish)
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


class _Kept:
    """The states a restore keeps, per patient, until they are written to the store with their stamps.

    Exactly-once (``committed_source`` None): the state written last, as only committed transactions
    are read and a stale instance is fenced. At-least-once: states stamped past ``committed_source``
    are skipped, and of the others the one ``supersedes`` picks, against the store's row too."""

    def __init__(self, store: SqlitePatientStore, committed_source: int | None) -> None:
        self._store = store
        self._resume = committed_source
        self.rows: dict[str, bytes] = {}
        self._stamps: dict[str, int | None] = {}  # of the rows kept and of the store's rows looked at
        self._outranked: set[str] = set()  # keys whose state written last so far is a stale one

    def offer(self, records: list[StampedState]) -> None:
        """Records (key, state, stamp) in the order they were written."""
        resume = self._resume
        if resume is None:
            for key, state, stamp in records:
                self.rows[key] = state
                self._stamps[key] = stamp
            return
        # A state stamped past where reading resumes comes from a batch whose input is read again.
        kept = [(key, state, stamp) for key, state, stamp in records if stamp is None or stamp <= resume]
        self._stamps.update(self._store.source_offsets(key for key, _, _ in kept if key not in self._stamps))
        for key, state, stamp in kept:
            if key in self._stamps and not supersedes(stamp, self._stamps[key], resume):
                self._outranked.add(key)
                continue
            self._outranked.discard(key)
            self.rows[key] = state
            self._stamps[key] = stamp

    def write(
        self, offsets: dict[tuple[str, int], int], republish: Callable[[list[StampedState]], None] | None
    ) -> None:
        """Give ``republish`` the states kept over a stale state written after them, then store the
        rows kept with their stamps and ``offsets``; the store now holds what was kept."""
        if republish is not None and self._outranked:
            keys = sorted(self._outranked)
            states = {**self._store.get_many(key for key in keys if key not in self.rows), **self.rows}
            republish([(key, states[key], self._stamps[key]) for key in keys])
        stamps = {key: self._stamps[key] for key in self.rows}
        self._store.put_many(self.rows, offsets, stamps)
        self.rows = {}
        self._stamps = {}
        self._outranked = set()


def _stamped(record: ConsumerRecord, source_id: str | None) -> StampedState:
    """A changelog record's key, state and stamp: None when it has none, or when it counts the
    offsets of a stateful topic other than the one whose id is ``source_id``. A record that names no
    topic (written before records did, or by a broker without ids) is taken to be of this one."""
    text = header_text(record.headers, CHANGELOG_SOURCE_HEADER)
    named = header_text(record.headers, CHANGELOG_SOURCE_ID_HEADER)
    comparable = named is None or source_id is None or named == source_id
    stamp = int(text) if comparable and text is not None and text.isdigit() else None
    return record.key.decode("utf-8"), record.value, stamp
