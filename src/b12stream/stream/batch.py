"""Both stages over one polled batch: its results, and the offsets to commit with them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from b12stream.engine.engine import Engine
from b12stream.state.store import PartitionedStore
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.errors import Fenced
from b12stream.stream.lifecycle import PartitionTable
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.repartition import unpack
from b12stream.stream.settings import KafkaSettings
from b12stream.stream.stages import StageResult, Stages, split_record

__all__ = ["Batch", "BatchStages"]

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]


class BatchStages:
    """The ingest and process stages of one instance, run over the batches its consumer polls. The
    stateful partitions' stores and phases are the instance's own; nothing is sent or committed here
    (stream/checkpoint.py does that)."""

    def __init__(
        self, settings: KafkaSettings, engine: Engine, stores: PartitionedStore, table: PartitionTable
    ) -> None:
        self._settings = settings
        self._stateful_topic = settings.stateful_topic
        self._stores = stores
        self._table = table
        self._stages = Stages(
            engine,
            settings.topics,
            settings.max_message_bytes,
            state_cache_bytes=settings.state_cache_mib * 1024 * 1024,
            max_state_bytes=settings.max_state_bytes,
        )

    def run(
        self,
        batch: Batch,
        checkpoint: Checkpoint,
        in_place: Mapping[int, int],
        stateful_partitions: int,
        source_id: str | None,
    ) -> tuple[list[StageResult], dict[TopicPartition, int]]:
        """Both stages over the batch; returns their results and the offsets to commit with them.

        ``in_place``: the stateful partitions whose new messages the ingest stage hands straight to
        the process stage (stream/in_place.py), each with this instance's read position in it. A
        partition's messages are processed in order: those read from it in this batch, then those
        taken in place, which came later. Each such partition's position is committed with the
        batch even when nothing was read from it, so that a new owner's committed-offset read waits
        for this transaction, whose changelog records it must restore.
        ``stateful_partitions``: the changelog's partition count; ``source_id``: the stateful topic's
        id, stamped on the changelog records. Raises Fenced for records of a partition not running."""
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        stateful = {
            tp.partition: (self._stateful_messages(tp, records), records[-1].offset + 1)
            for tp, records in batch.items()
            if tp.topic == self._stateful_topic
        }
        results: list[StageResult] = []
        ready = frozenset(in_place)
        for tp, records in sorted(batch.items(), key=lambda item: (item[0].topic, item[0].partition)):
            if tp.topic == self._stateful_topic:
                continue
            messages = [m for r in records for m in split_record(r.value, _source(tp, r))]
            result = self._stages.rekey(messages, stateful_partitions, ready)
            results.append(result)
            for partition, kept in result.in_place.items():
                offsets.setdefault(TopicPartition(self._stateful_topic, partition), in_place[partition])
                earlier, next_offset = stateful.get(partition, ([], in_place[partition]))
                stateful[partition] = ([*earlier, *kept], next_offset)
        changelog = self._settings.topics.changelog
        for partition, (messages, next_offset) in sorted(stateful.items()):
            store = self._stores.open(partition)
            transaction = store.begin()
            at = store.offset(changelog, partition) or 0
            checkpoint.add_store(partition, transaction, (self._stateful_topic, next_offset), at)
            results.append(self._stages.process(messages, transaction, partition, next_offset, source_id))
        return results, offsets

    def read(self, batch: Batch) -> Counter[str]:
        """How many records of the batch each stage read, for the engine's status."""
        counts: Counter[str] = Counter()
        for tp, records in batch.items():
            counts["process" if tp.topic == self._stateful_topic else "ingest"] += len(records)
        return counts

    def _stateful_messages(self, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> list[Message]:
        if not self._table.is_running(tp.partition):
            raise Fenced(f"partition {tp.partition} of {tp.topic} is not running")
        if self._settings.input_keyed_by_patient:
            return [m for r in records for m in split_record(r.value, _source(tp, r))]
        return [m for r in records for m in unpack(r.value, _source(tp, r))]


def _source(tp: TopicPartition, record: ConsumerRecord) -> SourceRef:
    return SourceRef(tp.topic, tp.partition, record.offset)
