"""The stream engine: consume a batch, run the stages, commit it all at once; repeat until told to stop."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from b12stream.engine.engine import Engine
from b12stream.errors import B12StreamError, StateError
from b12stream.log import get_logger
from b12stream.state.store import PartitionedStore
from b12stream.stream.access import check_access
from b12stream.stream.admin import ensure_topics
from b12stream.stream.assigned_restore import AssignedRestore
from b12stream.stream.batch import Batch, BatchStages
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.clients import (
    PRODUCER_CLOSE_WAIT_S,
    close_producer,
    log_end_reader,
    output_producer,
    restore_consumer,
)
from b12stream.stream.errors import Fenced, TransientBrokerError, translate
from b12stream.stream.group_offsets import COMMITTED_TIMEOUT_MS, GroupOffsets
from b12stream.stream.in_place import InPlaceRouting
from b12stream.stream.lifecycle import PartitionPhase, PartitionTable
from b12stream.stream.reachable import await_reachable
from b12stream.stream.rebalance import subscribed_consumer
from b12stream.stream.retry import retrying
from b12stream.stream.settings import KafkaSettings
from b12stream.stream.stages import StageResult, log_committed_notices
from b12stream.stream.status import EngineStatus

__all__ = ["StreamApp", "instance_id"]

_log = get_logger("stream.app")
_STATS_EVERY_S = 10.0
# A group join not finished after this many session timeouts is taken as lost (see _replace_if_stuck).
_JOIN_LIMIT_SESSIONS = 3
_HELD = (PartitionPhase.ASSIGNED, PartitionPhase.RESTORING, PartitionPhase.RUNNING)


def instance_id(state_dir: Path) -> str:
    """A stable id for this instance, kept in its state folder: a restart with the same folder reuses
    the transactional id, which fences the crashed predecessor and aborts its open transaction."""
    path = state_dir / "instance-id"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(uuid.uuid4().hex[:12])
    return path.read_text().strip()


class StreamApp:
    """One instance of the engine. ``run`` returns 0 after a requested stop, and raises StreamError
    when the broker stays unreachable past the retry budget. ``status`` tells how it goes, to its
    HTTP endpoint (stream/health_server.py) and its log lines."""

    def __init__(self, settings: KafkaSettings, engine: Engine, state_dir: Path, stop: threading.Event):
        self.settings = settings
        self.stateful_topic = settings.stateful_topic
        self._stop = stop
        self._stores = PartitionedStore(state_dir)
        self._table = PartitionTable()
        self._stages = BatchStages(settings, engine, self._stores, self._table)
        self._restoring = AssignedRestore(settings, self._stores, self._table, stop)
        self._transactional_id = f"{settings.application_id}-{instance_id(state_dir)}"
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._reader: KafkaConsumer | None = None
        self._log_ends: KafkaConsumer | None = None  # only under exactly-once
        self.status = EngineStatus()
        self._rewind: dict[TopicPartition, int] = {}
        self._last_stats = time.monotonic()
        self._stateful_partitions = 0  # the changelog's partition count, checked by ensure_topics
        self._in_place = InPlaceRouting()
        self._in_place_on = (
            settings.exactly_once and settings.process_in_place and not settings.input_keyed_by_patient
        )
        self.joining_since: float | None = None  # set by the rebalance listener's thread
        self._offsets = GroupOffsets()
        session_s = float(settings.consumer.get("session_timeout_ms", 10_000)) / 1000
        self._join_limit_s = _JOIN_LIMIT_SESSIONS * session_s

    # -- lifecycle callbacks ------------------------------------------------------------------------
    def assign(self, partitions: Sequence[int]) -> None:
        self._in_place.forget()
        for partition in partitions:
            if self._table.phase(partition) is not PartitionPhase.ASSIGNED:
                self._table.move(partition, PartitionPhase.ASSIGNED)
        self._cycled()
        _log.info("partitions assigned", partitions=sorted(partitions))

    def revoke(self, partitions: Sequence[int]) -> None:
        self._in_place.forget()
        for partition in partitions:
            if self._table.phase(partition) not in (None, PartitionPhase.REVOKED):
                self._table.move(partition, PartitionPhase.REVOKED)
            self._stores.close_partition(partition)
        self._cycled()
        _log.info("partitions revoked", partitions=sorted(partitions))

    # -- main loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            for attempt in retrying(self.settings.retry, self._stop):
                with attempt:
                    self._connect()
            while not self._stop.is_set():
                for attempt in retrying(self.settings.retry, self._stop):
                    with attempt:
                        self._cycle()
                self._report()
        except TransientBrokerError:
            if not self._stop.is_set():
                raise
            # A stop asked for while retrying: nothing of the unfinished batch was committed, so it is
            # read again at the next start; this is a requested stop, not a failure.
            _log.info("stopped while retrying; the unfinished batch is read again at the next start")
        finally:
            self._close()
        _log.info("stopped", **self.status.totals())
        return 0

    def _connect(self) -> None:
        self._cycled()
        try:
            await_reachable(self.settings, self._stop)
            # A refused login stops here, named, instead of being retried.
            check_access(self.settings, self._stop)
            self._stateful_partitions = ensure_topics(self.settings)
            if self._producer is None:
                self._producer = output_producer(self.settings, self._transactional_id)
            if self._reader is None:
                self._reader = restore_consumer(self.settings)
            if self._log_ends is None and self.settings.exactly_once:
                self._log_ends = log_end_reader(self.settings)
            if self._consumer is None:
                self._consumer = subscribed_consumer(self.settings, self)
        except Exception as error:
            raise _transient(error) from error
        _log.info(
            "connected",
            transactional_id=self._transactional_id,
            stateful_partitions=self._stateful_partitions,
            guarantee=self.settings.processing_guarantee,
        )

    def _cycle(self) -> None:
        """Poll one batch, restore newly assigned partitions, process and commit the batch."""
        self._replace_if_stuck()
        if self._consumer is None:  # a replacement's connection failed: connect again
            self._connect()
        assert self._consumer is not None  # set by _connect
        try:
            if self._producer is None:
                self._producer = output_producer(self.settings, self._transactional_id)
            self._offsets.say_if_committed(self._consumer)
            self._offsets.rewind(self._consumer, self._rewind)
            batch = self._consumer.poll(
                timeout_ms=self.settings.batch.poll_timeout_ms, max_records=self.settings.batch.max_records
            )
        except Exception as error:
            raise _transient(error) from error
        self._cycled()
        try:
            self._restore_assigned()
            in_place = self._in_place_positions() if batch else {}
        except Exception as error:
            for tp, records in batch.items():  # polled but not processed: read them again
                self._rewind.setdefault(tp, records[0].offset)
            raise _transient(error) from error
        if not batch:
            return
        started = time.monotonic()  # after the restores, which the batch does not cost
        topics = self.settings.topics
        checkpoint = Checkpoint(
            self._producer,
            self._consumer,
            topics.changelog,
            topics.repartition,
            self.settings.exactly_once,
            self.settings.flush_timeout_s,
            self._stop,
        )
        try:
            checkpoint.begin()
            results, offsets = self._run_stages(batch, checkpoint, in_place)
            for result in results:
                checkpoint.send(result.records)
            checkpoint.flush()
            read = self._stages.read(batch)
            # A commit that seems to fail may have landed: counted (and said) at the next cycle, when
            # the group's offsets tell, with its time to when its commit was sent, as its answer
            # never came.
            settle = functools.partial(self._settled, results, read, time.monotonic() - started)
            self._offsets.unconfirmed = (offsets, settle)
            checkpoint.commit_offsets(offsets)
            self._offsets.unconfirmed = None
        except Exception as error:
            self._abandon(batch, checkpoint, error)
            raise _transient(error) from error
        try:
            checkpoint.flush_stores()
        except StateError as error:  # Kafka has the batch; the changelog brings the file up to date
            _log.warning("state flush failed; restoring from changelog", error=str(error))
            self._restore_again(checkpoint.partitions())
        for partition in checkpoint.written_by_others():
            _log.warning("changelog written by another instance; restoring again", partition=partition)
            self._restore_again([partition])
        self._in_place.wrote(checkpoint.repartition_ends())
        self._committed(results, read, time.monotonic() - started)

    def _committed(self, results: list[StageResult], read: Mapping[str, int], seconds: float) -> None:
        """Count a committed batch in the metrics and say its notices: once, whether its commit was
        confirmed or found landed after its answer was lost (GroupOffsets.say_if_committed)."""
        self.status.committed(results, read, seconds)
        log_committed_notices(results)

    def _settled(
        self, results: list[StageResult], read: Mapping[str, int], seconds: float, landed: bool
    ) -> None:
        """Count the batch whose commit's answer was lost once the group's offsets tell whether it
        ``landed``: committed, or abandoned (its records are read again)."""
        if landed:
            self._committed(results, read, seconds)
        else:
            self.status.abandoned()

    def _run_stages(
        self, batch: Batch, checkpoint: Checkpoint, in_place: Mapping[int, int]
    ) -> tuple[list[StageResult], dict[TopicPartition, int]]:
        """Both stages over the batch (stream/batch.py), with the changelog's partition count and the
        stateful topic's id as this instance knows them now."""
        source_id = self._restoring.source_id
        return self._stages.run(batch, checkpoint, in_place, self._stateful_partitions, source_id)

    def _in_place_positions(self) -> dict[int, int]:
        """The running stateful partitions to take in place in this batch, with this instance's read
        position in each (stream/in_place.py); none unless ``process_in_place`` applies."""
        assert self._consumer is not None
        if not self._in_place_on:
            return {}
        assert self._log_ends is not None  # made by _connect when in-place processing applies
        running = self._table.in_phase(PartitionPhase.RUNNING)
        unknown = [TopicPartition(self.stateful_topic, p) for p in self._in_place.unknown(running)]
        if unknown:
            ends = self._log_ends.end_offsets(unknown, timeout_ms=COMMITTED_TIMEOUT_MS)
            self._in_place.learn({tp.partition: end for tp, end in ends.items()})
        positions = {
            p: self._consumer.position(TopicPartition(self.stateful_topic, p), timeout_ms=0) for p in running
        }
        return self._in_place.ready(positions)

    def _abandon(self, batch: Batch, checkpoint: Checkpoint, error: BaseException) -> None:
        """Undo an unfinished batch: abort, drop the producer, schedule the consumer's rewind and a
        fresh restore of the batch's stateful partitions.

        The producer is rebuilt whatever the error: after a fenced, fatal or half-finished transaction
        it cannot be trusted, and a new one's init_transactions settles the old transaction. Whether
        that transaction committed is not known here (a commit can fail after the broker wrote it), so
        the rewind goes to the group's committed offsets, not to the batch's start, and the restore
        brings the local state to whatever the changelog holds.
        """
        _log.warning("batch abandoned", error=f"{type(error).__name__}: {error}")
        if self._offsets.unconfirmed is None:  # else its commit may have landed: ``_settled`` counts it
            self.status.abandoned()
        self._in_place.forget()  # whether its repartition records committed is not known
        try:
            checkpoint.abort()
        except Exception as abort_error:
            _log.warning("abort failed", error=type(abort_error).__name__)
        self._drop_producer()
        for tp, records in batch.items():
            self._rewind.setdefault(tp, records[0].offset)
        self._restore_again(checkpoint.partitions())

    def _restore_again(self, partitions: Iterable[int]) -> None:
        """Restore these stateful partitions from the changelog before they run again: their files
        may lack what Kafka committed. For a batch, every partition with state in it counts, not only
        those read in it: a partition taken in place has no records in the batch."""
        for partition in partitions:
            if self._table.is_running(partition):
                self._table.move(partition, PartitionPhase.ASSIGNED)

    def _replace_if_stuck(self) -> None:
        """Replace the consumer when it cannot read committed offsets (stream/group_offsets.py), or
        when its group join has not finished in ``_JOIN_LIMIT_SESSIONS`` session timeouts.

        The join: kafka-python 3.0 stops driving a rejoin that a change of metadata or subscription
        started once the leader's assignment makes the change look settled: the answer to SyncGroup is
        never applied, heartbeats stay off, and the broker drops the member while it waits, holding no
        partitions, with no error. ``subscribed_consumer`` (stream/rebalance.py) avoids the usual
        trigger; this is the net for the others, such as partitions added to a subscribed topic. A
        healthy join takes as long as the slowest member needs to poll again. Every partition was
        revoked before the join began, so nothing is in flight; the new consumer joins afresh and
        resumes from the committed offsets.
        """
        if self._offsets.stuck is not None:
            self._replace_consumer(self._offsets.stuck)
            return
        since = self.joining_since
        if since is None or time.monotonic() - since < self._join_limit_s:
            return
        self._replace_consumer("group join not finished", waited_s=round(time.monotonic() - since))

    def _replace_consumer(self, why: str, **detail: object) -> None:
        """Close the consumer and connect a new one, which joins the group afresh and starts from
        the committed offsets; what this instance held is revoked first (the old consumer's
        revocation is normally already done, but state is never trusted across consumers)."""
        _log.warning(f"{why}; replacing the consumer", **detail)
        consumer, self._consumer = self._consumer, None
        self.joining_since = self._offsets.stuck = None
        self._rewind.clear()
        self.status.group(joined=False, held=0)
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=3000)
        held = [p for phase in _HELD for p in self._table.in_phase(phase)]
        if held:
            self.revoke(held)
        self._connect()

    def _drop_producer(self) -> None:
        """Drop the producer; the next cycle builds a new one (with init_transactions, which fences
        this one and completes or aborts its last transaction). The dropped one is stopped for good
        first: left running through an outage, its sender would retry its requests for ever, and one
        answered late could fence its successor."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            stopped = close_producer(producer, PRODUCER_CLOSE_WAIT_S)
        except Exception as error:
            _log.warning("closing the dropped producer failed", error=type(error).__name__)
            return
        if not stopped:
            _log.warning("the dropped producer's sender is still running", waited_s=PRODUCER_CLOSE_WAIT_S)

    def _restore_assigned(self) -> None:
        """Restore the partitions a rebalance assigned (stream/assigned_restore.py) before they run."""
        assert self._consumer is not None and self._reader is not None
        self._restoring.restore(
            self._consumer,
            self._producer,
            self._reader,
            self._log_ends,
            self._stateful_partitions,
            functools.partial(self._offsets.resume_offset, self._consumer),
            self._restored,
        )

    def _restored(self, records: int) -> None:
        self.status.restored(records)
        self._cycled()

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= _STATS_EVERY_S:
            self._last_stats = now
            running = self._table.in_phase(PartitionPhase.RUNNING)
            _log.info("progress", running=running, **self.status.totals())

    def _cycled(self) -> None:
        """Tell ``status`` the loop is cycling (health.py says where it does), with how many of its
        stateful partitions wait for their restore: a rebalance that assigns some, or an abandoned
        batch, has the loop restore them before it processes their records again."""
        waiting = (PartitionPhase.ASSIGNED, PartitionPhase.RESTORING)
        self.status.cycled(sum(len(self._table.in_phase(phase)) for phase in waiting))

    def _close(self) -> None:
        """Leave the group and close every client; the last batch was committed by ``_cycle``."""
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close(autocommit=False, timeout_ms=3000)
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=3)
        for reader in (self._reader, self._log_ends):
            if reader is not None:
                with contextlib.suppress(Exception):
                    reader.close(autocommit=False, timeout_ms=1000)
        self._stores.close()


def _transient(error: BaseException) -> B12StreamError:
    """Kafka errors become stream errors; Fenced is retried like a transient error (the rebalance
    that follows hands out the partitions again), anything else stops the engine."""
    translated = translate(error) if not isinstance(error, B12StreamError) else error
    if isinstance(translated, Fenced):
        return TransientBrokerError(str(translated))
    return translated
