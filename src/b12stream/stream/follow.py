"""Read a topic's committed records for people: as they arrive (the demo's alerts), or up to the
topic's current end (the dead letters an interface analyst looks at)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from b12stream.errors import StreamError
from b12stream.stream.access import check_access
from b12stream.stream.clients import COMMAND_BOOTSTRAP_TIMEOUT_S, committed_reader
from b12stream.stream.errors import translate
from b12stream.stream.settings import KafkaSettings

__all__ = ["follow", "read_to_end"]


def follow(
    settings: KafkaSettings,
    topic: str,
    on_value: Callable[[bytes], None],
    stop: threading.Event,
    from_beginning: bool = True,
) -> None:
    """Call ``on_value`` with each committed record value of ``topic`` (read_committed, no group)
    until ``stop`` is set. Waits for the topic to exist; raises TransientBrokerError when no broker
    answers within COMMAND_BOOTSTRAP_TIMEOUT_S."""
    consumer = committed_reader(settings)
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


def read_to_end(settings: KafkaSettings, topic: str, timeout_s: float) -> Iterator[ConsumerRecord]:
    """Every committed record of ``topic``, partition by partition in offset order, up to each
    partition's last stable offset when reading began (a transaction still open is not waited for).

    Raises AuthenticationFailed as ``check_access`` does; StreamError when no broker answers within
    ``timeout_s`` (10 s at most), when the topic does not exist, when a partition is not read to that
    end within ``timeout_s`` (the records before that point have been yielded), or for a broker
    error (translated)."""
    check_access(settings, threading.Event())  # a command has no stop to hear: Ctrl-C ends it
    try:
        yield from _read_to_end(settings, topic, timeout_s)
    except Exception as error:
        raise translate(error) from error


def _read_to_end(settings: KafkaSettings, topic: str, timeout_s: float) -> Iterator[ConsumerRecord]:
    consumer = committed_reader(settings, min(timeout_s, COMMAND_BOOTSTRAP_TIMEOUT_S))
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise StreamError(f"topic {topic} does not exist on {settings.bootstrap_servers}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        for tp in tps:
            consumer.assign([tp])  # one partition at a time keeps each one's records in offset order
            consumer.seek_to_beginning(tp)
            while consumer.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    end = f"{tp.topic}/{tp.partition} offset {ends[tp]}"
                    raise StreamError(f"not read up to {end} within {timeout_s:g} s")
                for record in consumer.poll(timeout_ms=200).get(tp, ()):
                    if record.offset < ends[tp]:
                        yield record
    finally:
        consumer.close()
