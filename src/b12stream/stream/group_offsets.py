"""The group's committed offsets, read to resume, to rewind an abandoned batch, to confirm a commit."""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError

from b12stream.stream.errors import TransientBrokerError

__all__ = ["COMMITTED_TIMEOUT_MS", "GroupOffsets"]

# How long a read of the group's committed offsets may take before the consumer is taken as stuck
# (see GroupOffsets.committed).
COMMITTED_TIMEOUT_MS = 10_000


class GroupOffsets:
    """The instance's reads of its group's committed offsets, through whichever consumer it has
    now, and what they leave to do: ``stuck`` says why that consumer must be replaced before the next
    poll (None: it need not be); ``unconfirmed`` holds the offsets of the batch whose commit was sent
    and not confirmed, with what counts it (and says it, once committed) told whether its commit
    landed, until ``say_if_committed`` settles it."""

    def __init__(self) -> None:
        self.stuck: str | None = None
        self.unconfirmed: tuple[dict[TopicPartition, int], Callable[[bool], None]] | None = None

    def committed(self, consumer: KafkaConsumer, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp``, read within ``COMMITTED_TIMEOUT_MS``.

        Past it the consumer is marked stuck, to be replaced before the next poll (a new one starts
        from the committed offsets), and TransientBrokerError is raised: kafka-python 3.0.12 reuses
        a pending offset fetch for the same partitions, and one sent as the broker restarted can
        stay pending for its whole request timeout (5 minutes), so that every later read waits on
        it and fails.
        """
        try:
            return consumer.committed(tp, timeout_ms=COMMITTED_TIMEOUT_MS)
        except KafkaTimeoutError as error:
            self.stuck = f"committed offset of {tp.topic} partition {tp.partition} not read in time"
            raise TransientBrokerError(self.stuck) from error

    def resume_offset(self, consumer: KafkaConsumer, tp: TopicPartition) -> int:
        """Where this instance resumes reading ``tp`` (at-least-once): the group's committed offset, or,
        when there is none (the group's offsets expired or were reset, the topic was recreated), the
        partition's first offset, where ``auto_offset_reset`` "earliest" starts. Changelog records
        stamped past it are skipped by the restore, since their input is read again; stamps at or
        before it come from input that is never read again, so they must be kept."""
        committed = self.committed(consumer, tp)
        if committed is not None:
            return committed
        return int(consumer.beginning_offsets([tp], timeout_ms=COMMITTED_TIMEOUT_MS)[tp])

    def rewind(self, consumer: KafkaConsumer, abandoned: dict[TopicPartition, int]) -> None:
        """Seek each partition of an abandoned batch (``abandoned``: its first offset in the batch) to
        its committed offset, or to that first offset when nothing was ever committed, and take it out
        of ``abandoned``. Raises on broker errors; what is left is kept for the next attempt."""
        if not abandoned:
            return
        owned = consumer.assignment()
        for tp, first in list(abandoned.items()):
            if tp in owned:
                committed = self.committed(consumer, tp)
                consumer.seek(tp, committed if committed is not None else first)
            del abandoned[tp]

    def say_if_committed(self, consumer: KafkaConsumer) -> None:
        """Settle the batch whose commit seemed to fail: the group's committed offsets show whether
        it landed (a lost answer: no one reads that batch again) or not (it is read again). Its commit
        was one transaction (exactly-once) or one offset commit (at-least-once), so one partition
        tells. Raises as ``committed`` does; the batch is kept for the next attempt."""
        if self.unconfirmed is None:
            return
        offsets, settle = self.unconfirmed
        tp, end = next(iter(offsets.items()))
        settle(self.committed(consumer, tp) == end)
        self.unconfirmed = None
