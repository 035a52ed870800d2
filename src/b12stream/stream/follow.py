"""Read a topic's committed records as they arrive, for people watching the outputs (the demo)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from b12stream.stream.settings import KafkaSettings

__all__ = ["follow"]


def follow(
    settings: KafkaSettings,
    topic: str,
    on_value: Callable[[bytes], None],
    stop: threading.Event,
    from_beginning: bool = True,
) -> None:
    """Call ``on_value`` with each committed record value of ``topic`` (read_committed, no group)
    until ``stop`` is set. Waits for the topic to exist."""
    consumer = KafkaConsumer(
        **settings.client_options(), group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and not stop.wait(0.2):
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    on_value(record.value)
    finally:
        consumer.close()
