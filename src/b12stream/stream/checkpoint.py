"""The commit of one batch: outputs, changelog, consumer offsets and local state, in a fixed order."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from b12stream.state.transaction import StoreTransaction
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.records import OutRecord

__all__ = ["Checkpoint"]

_ANSWER_POLL_S = 0.05
# How long a commit or abort still has once a stop is asked for: within the 10 s a SIGTERM allows
# (the supervisor kills a worker at 8 s), and far more than a broker that answers needs.
_STOPPING_WAIT_S = 2.5


class Checkpoint:
    """One batch's commit. The sequence, one small method each:

    1. ``begin``: open the Kafka transaction (exactly-once only) before the first record is sent.
    2. ``send``: produce the batch's alerts, orders, pages, dead letters, repartition and changelog
       records. Delivery failures are latched by callback, not raised here.
    3. ``flush``: wait for every record, at most ``flush_timeout_s``; raise the first latched delivery
       failure. Changelog and repartition offsets are read from the delivered records, and, under
       at-least-once, whether another instance wrote to a changelog partition (``written_by_others``).
    4. ``commit_offsets``: exactly-once: ``send_offsets_to_transaction`` with the consumer's group
       metadata (so a stale member is fenced), then ``commit_transaction`` — outputs, changelog and
       input offsets become visible together or not at all. At-least-once: ``consumer.commit``,
       which a member the group no longer holds is refused, but only after its changelog records
       were written: they are stamped with the source offset, and a restore keeps the state that
       reflects the most input, not the one written last (stream/newer_state.py), and writes it
       again over a stale one (stream/restore.py).
    5. ``flush_stores``: write each partition's patient rows, stamped with its source offset, with
       its changelog and source offsets in one SQLite transaction. A crash between 4 and 5 loses
       nothing: the store's changelog offset is behind, and the next restore replays the committed
       changelog records.

    ``abort`` undoes an unfinished checkpoint: aborts the Kafka transaction and discards the state
    transactions. Any failure before step 4 completes must be followed by ``abort``.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        consumer: KafkaConsumer,
        changelog: str,
        repartition: str,
        exactly_once: bool,
        flush_timeout_s: float,
        stop: threading.Event | None = None,
    ):
        self._producer = producer
        self._consumer = consumer
        self._changelog = changelog
        self._repartition = repartition
        self._exactly_once = exactly_once
        self._flush_timeout_s = flush_timeout_s
        self._stop = stop or threading.Event()
        self._failure: BaseException | None = None
        self._tracked_futures: list[object] = []
        self._ends: dict[tuple[str, int], int] = {}
        self._stores: dict[int, tuple[StoreTransaction, dict[tuple[str, int], int]]] = {}
        self._source_offsets: dict[int, int] = {}  # each store's rows' stamp
        self._changelog_starts: dict[int, int] = {}  # each store's changelog offset before the batch
        self._written_by_others: list[int] = []
        self._in_transaction = False

    def begin(self) -> None:
        if self._exactly_once:
            self._producer.begin_transaction()
            self._in_transaction = True

    def add_store(
        self, partition: int, transaction: StoreTransaction, source: tuple[str, int], changelog_offset: int
    ) -> None:
        """Register ``partition``'s state transaction, the source offset (topic, next offset) it
        reflects, which also stamps its rows, and the changelog offset its store stands at; the
        changelog offset the batch brings it to is set at ``flush``."""
        topic, next_offset = source
        self._stores[partition] = (transaction, {(topic, partition): next_offset})
        self._source_offsets[partition] = next_offset
        self._changelog_starts[partition] = changelog_offset

    def send(self, records: Iterable[OutRecord]) -> None:
        for record in records:
            future = self._producer.send(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                partition=record.partition,
            )
            future.add_errback(self._latch)
            if record.topic in (self._changelog, self._repartition):
                self._tracked_futures.append(future)

    def flush(self) -> None:
        """Raises TransientBrokerError when the records are not all delivered in time.

        Bounded because kafka-python 3.0.12 can stop sending a transaction's records for good after
        the broker restarts (seen under load: its sender thread busy draining, the records never
        sent); an unbounded flush then held the engine, deaf to SIGTERM. A transaction not flushed
        within its timeout is aborted by the broker anyway. The producer is not asked to abort
        then (it is stuck); the caller drops it, and the next one's ``init_transactions`` settles
        the transaction.
        """
        try:
            self._producer.flush(timeout=self._flush_timeout_s)
        except KafkaTimeoutError as error:
            self._in_transaction = False
            raise TransientBrokerError(
                f"records not delivered within {self._flush_timeout_s:g} s; dropping the producer"
            ) from error
        if self._failure is not None:
            raise TransientBrokerError(f"a record was not delivered: {self._failure!r}") from self._failure
        written: dict[tuple[str, int], int] = defaultdict(int)
        for future in self._tracked_futures:
            metadata = future.value  # type: ignore[attr-defined]
            key = (metadata.topic, metadata.partition)
            self._ends[key] = max(self._ends.get(key, 0), metadata.offset + 1)
            written[key] += 1
        for partition, (_, offsets) in self._stores.items():
            key = (self._changelog, partition)
            if key not in self._ends:
                continue
            start = self._changelog_starts[partition]
            if self._exactly_once or self._ends[key] - start == written[key]:
                offsets[key] = self._ends[key]
            else:  # the store stays where it was, and is restored from there
                self._written_by_others.append(partition)

    def written_by_others(self) -> list[int]:
        """After ``flush``, at-least-once: the stateful partitions whose changelog another instance
        wrote to since this one's store last read or wrote it (an instance that had lost the
        partition while holding a batch: nothing fences it). Their stores keep their changelog
        offsets, to be restored again from there, which keeps the newer of each patient's states
        and writes it again over a stale one (stream/restore.py). Exactly-once: none are looked
        for (only this instance's committed transactions can write there, and their markers take
        offsets too)."""
        return sorted(self._written_by_others)

    def partitions(self) -> list[int]:
        """The stateful partitions whose state this batch changes: read in it, or taken in place."""
        return sorted(self._stores)

    def repartition_ends(self) -> dict[int, int]:
        """After ``flush``: per repartition partition written to, the offset after its last record."""
        ends = self._ends.items()
        return {partition: end for (topic, partition), end in ends if topic == self._repartition}

    def commit_offsets(self, offsets: Mapping[TopicPartition, int]) -> None:
        committed = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        if self._exactly_once:
            metadata = self._consumer.group_metadata()

            def commit() -> None:
                self._producer.send_offsets_to_transaction(committed, metadata)
                self._producer.commit_transaction()

            self._answered(commit, "commit")
            self._in_transaction = False
        else:
            self._consumer.commit(committed)

    def flush_stores(self) -> None:
        for partition, (transaction, offsets) in self._stores.items():
            transaction.prepare(offsets, self._source_offsets[partition])
            transaction.flush()

    def abort(self) -> None:
        """Discard the state transactions and abort the Kafka transaction if one is open. The abort
        itself may raise (a fenced or broken producer); the caller then rebuilds the producer."""
        for transaction, _ in self._stores.values():
            transaction.fail()
        if self._in_transaction:
            self._in_transaction = False
            self._answered(self._producer.abort_transaction, "abort")

    def _answered(self, call: Callable[[], None], what: str) -> None:
        """``call`` (a transaction request), waited for at most ``flush_timeout_s`` and only while no
        stop is asked for. kafka-python 3.0.12 waits for the coordinator's answer to a commit or an
        abort without any limit, and retries it for ever: with the broker gone the engine would hang,
        deaf to SIGTERM. Past the wait the outcome is not known (the commit may still complete): the
        caller drops the producer, whose successor's ``init_transactions`` settles the transaction,
        and restores state from the changelog, as after any commit whose answer was lost."""
        done = threading.Event()
        failure: list[BaseException] = []

        def answer() -> None:
            try:
                call()
            except BaseException as error:
                failure.append(error)
            finally:
                done.set()

        threading.Thread(target=answer, name=f"b12stream-{what}", daemon=True).start()
        deadline = time.monotonic() + self._flush_timeout_s
        while not done.wait(_ANSWER_POLL_S):
            if self._stop.is_set():  # a healthy answer still comes in time to finish the batch
                deadline = min(deadline, time.monotonic() + _STOPPING_WAIT_S)
            if time.monotonic() > deadline:
                self._in_transaction = False  # the producer is stuck in it: not asked again
                raise TransientBrokerError(f"transaction {what} not answered in time; outcome unknown")
        if failure:
            raise failure[0]

    def _latch(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
