"""The restore of the stateful partitions a rebalance assigned, each brought up to date before it runs."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from b12stream.errors import StateError
from b12stream.log import get_logger
from b12stream.state.store import PartitionedStore
from b12stream.stream.admin import partition_mismatch, topic_ids
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.errors import StateCorrupted
from b12stream.stream.lifecycle import PartitionPhase, PartitionTable
from b12stream.stream.records import OutRecord
from b12stream.stream.restore import StampedState, claim_changelog, claim_source, restore_partition
from b12stream.stream.settings import KafkaSettings
from b12stream.stream.stages import changelog_stamp

__all__ = ["AssignedRestore"]

# The component these log lines had while the stream loop restored partitions itself: filters keep matching.
_log = get_logger("stream.app")


class AssignedRestore:
    """Restores this instance's ASSIGNED stateful partitions from the changelog (stream/restore.py),
    one at a time: ASSIGNED → RESTORING → RUNNING, or back to ASSIGNED, to be tried again in the
    next cycle, when its restore raises. A file that cannot be trusted is rebuilt from the changelog
    alone. Keeps the stateful topic's id as of the last restore, which the changelog records it
    writes are stamped with."""

    def __init__(
        self, settings: KafkaSettings, stores: PartitionedStore, table: PartitionTable, stop: threading.Event
    ) -> None:
        self._settings = settings
        self._stateful_topic = settings.stateful_topic
        self._stores = stores
        self._table = table
        self._stop = stop
        self.source_id: str | None = None

    def restore(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer | None,
        reader: KafkaConsumer,
        log_ends: KafkaConsumer | None,
        stateful_partitions: int,
        resume_offset: Callable[[TopicPartition], int],
        restored: Callable[[int], None],
    ) -> None:
        """Restore every ASSIGNED partition with ``reader`` (``log_ends`` under exactly-once), from
        where the group resumes (``resume_offset``) under at-least-once; ``restored`` hears each
        restored partition's changelog record count. A partition beyond ``stateful_partitions``
        raises partition_mismatch's ConfigError; broker errors are raised as they come."""
        assigned = self._table.in_phase(PartitionPhase.ASSIGNED)
        if not assigned:
            return
        changelog = self._settings.topics.changelog
        ids = topic_ids(self._settings, [changelog, self._stateful_topic])
        changelog_id, self.source_id = ids[changelog], ids[self._stateful_topic]
        for partition in assigned:
            if partition >= stateful_partitions:
                grown = len(consumer.partitions_for_topic(self._stateful_topic) or ()) or partition + 1
                raise partition_mismatch(self._settings, grown, stateful_partitions)
            self._table.move(partition, PartitionPhase.RESTORING)
            try:
                committed: int | None = None
                republish: Callable[[list[StampedState]], None] | None = None
                if not self._settings.exactly_once:
                    committed = resume_offset(TopicPartition(self._stateful_topic, partition))
                    republish = self._republisher(consumer, producer, partition)
                restore = functools.partial(
                    self._restore, partition, committed, changelog_id, reader, log_ends, republish
                )
                records = self._restore_or_rebuild(partition, restore)
            except BaseException:
                self._table.move(partition, PartitionPhase.ASSIGNED)  # try again in the next cycle
                raise
            self._table.move(partition, PartitionPhase.RUNNING)
            restored(records)

    def _restore_or_rebuild(self, partition: int, restore: Callable[[], int]) -> int:
        """Restore the partition; rebuild its file from the changelog alone when it cannot be trusted.
        A file written from an earlier changelog topic of the same name is never rebuilt: ConfigError
        (``claim_changelog``). Returns the number of changelog records read."""
        try:
            return restore()
        except (StateCorrupted, StateError) as error:
            _log.warning("state corrupted; rebuilding it", partition=partition, error=str(error))
            self._stores.wipe(partition)
            return restore()

    def _restore(
        self,
        partition: int,
        committed: int | None,
        changelog_id: str | None,
        reader: KafkaConsumer,
        log_ends: KafkaConsumer | None,
        republish: Callable[[list[StampedState]], None] | None,
    ) -> int:
        store = self._stores.open(partition)
        changelog = self._settings.topics.changelog
        claim_changelog(store, changelog, changelog_id)
        claim_source(store, self._stateful_topic, self.source_id)
        return restore_partition(
            reader,
            store,
            changelog,
            partition,
            committed,
            log_ends,
            self._stop,
            republish=republish,
            source_id=self.source_id,
        )

    def _republisher(
        self, consumer: KafkaConsumer, producer: KafkaProducer | None, partition: int
    ) -> Callable[[list[StampedState]], None]:
        """At-least-once: how a restore of ``partition`` writes again to the changelog the states it
        kept over stale ones written after them (stream/restore.py), each with its stamp. Raises
        TransientBrokerError when they are not all delivered in time."""
        topics = self._settings.topics

        def republish(states: list[StampedState]) -> None:
            assert producer is not None  # made before any restore
            checkpoint = Checkpoint(
                producer,
                consumer,
                topics.changelog,
                topics.repartition,
                False,
                self._settings.flush_timeout_s,
                self._stop,
            )
            checkpoint.send(
                OutRecord(
                    topics.changelog,
                    key.encode("utf-8"),
                    state,
                    changelog_stamp(stamp, self.source_id),
                    partition,
                )
                for key, state, stamp in states
            )
            checkpoint.flush()
            _log.warning(
                "stale changelog states outranked; written again", partition=partition, count=len(states)
            )

        return republish
