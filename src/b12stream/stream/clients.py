"""kafka-python clients built from KafkaSettings: the group consumer, the producer, the restore reader."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import KafkaSettings

__all__ = [
    "COMMAND_BOOTSTRAP_TIMEOUT_S",
    "PRODUCER_CLOSE_WAIT_S",
    "close_producer",
    "committed_reader",
    "group_consumer",
    "input_producer",
    "log_end_reader",
    "output_producer",
    "output_producer_options",
    "restore_consumer",
]


# How long a command a person runs (produce, dead-letters, the demo's reader) waits for a first broker
# answer. kafka-python waits 30 s and then raises a bare KafkaTimeoutError.
COMMAND_BOOTSTRAP_TIMEOUT_S = 10.0
_Client = TypeVar("_Client", KafkaConsumer, KafkaProducer)


def group_consumer(settings: KafkaSettings) -> KafkaConsumer:
    """The consumer of the input and repartition topics, in the application's group.

    Offsets are committed only by the commit sequence (never automatically), and only committed
    records of transactional upstream producers (including our own repartition stage) are read.
    """
    options: dict[str, Any] = {
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.batch.max_records,
        **settings.consumer,
        **settings.client_options(),
        "group_id": settings.application_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }
    return KafkaConsumer(**options)


def _producer_options(max_request_size: int) -> dict[str, Any]:
    """Every b12stream producer: acknowledged by all replicas, idempotent (a retried send is not
    duplicated), and able to send the largest record it makes."""
    return {"acks": "all", "enable_idempotence": True, "max_request_size": max_request_size}


def input_producer(settings: KafkaSettings) -> KafkaProducer:
    """The producer `b12stream produce` sends HL7 files with, as an interface engine would. Raises
    TransientBrokerError when no broker answers within COMMAND_BOOTSTRAP_TIMEOUT_S."""
    return _first_answer(
        settings,
        COMMAND_BOOTSTRAP_TIMEOUT_S,
        lambda wait_ms: KafkaProducer(
            **_producer_options(settings.record_limit),
            linger_ms=5,
            bootstrap_timeout_ms=wait_ms,
            **settings.client_options(),
        ),
    )


def committed_reader(
    settings: KafkaSettings, bootstrap_timeout_s: float = COMMAND_BOOTSTRAP_TIMEOUT_S
) -> KafkaConsumer:
    """A consumer outside any group that sees committed records only, for people reading a topic.
    Raises TransientBrokerError when no broker answers within ``bootstrap_timeout_s``."""
    return _first_answer(
        settings,
        bootstrap_timeout_s,
        lambda wait_ms: KafkaConsumer(
            **settings.client_options(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            bootstrap_timeout_ms=wait_ms,
        ),
    )


def _first_answer(settings: KafkaSettings, timeout_s: float, connect: Callable[[int], _Client]) -> _Client:
    try:
        return connect(int(timeout_s * 1000))
    except KafkaTimeoutError as error:
        raise TransientBrokerError(
            f"no broker answered at {settings.bootstrap_servers} within {timeout_s:g} s"
        ) from error


# A transaction's first AddPartitionsToTxn often reaches the coordinator while the previous commit is
# still writing its markers, and is answered CONCURRENT_TRANSACTIONS. The Java client retries that
# after 20 ms; kafka-python 3.0.12 sleeps retry_backoff_ms (100 ms by default) before any retried
# transactional request. At 500 msg/s that 100 ms fell on about 1 % of batches and made the p99
# (docs/benchmarks.md, "Transactions that wait for the previous one").
_TRANSACTIONAL_RETRY_BACKOFF_MS = 20


def output_producer(settings: KafkaSettings, transactional_id: str) -> KafkaProducer:
    """The producer of every output, ready to send: transactional under exactly-once (its transactions
    initialized, which fences a predecessor and settles its last transaction), idempotent otherwise,
    and the output topics' metadata fetched. When a step fails (a broker outage: kafka-python raises
    KafkaTimeoutError after ``max_block_ms``), the half-built producer is closed before the error is
    raised: left running, its sender would go on retrying InitProducerId and, answered late, fence the
    producer built by the next attempt."""
    producer = KafkaProducer(**output_producer_options(settings, transactional_id))
    try:
        if settings.exactly_once:
            producer.init_transactions()
        topics = settings.topics
        outputs = [topics.alerts, topics.orders, topics.pager, topics.dlq, topics.changelog]
        if not settings.input_keyed_by_patient:
            outputs.append(topics.repartition)
        for topic in outputs:
            producer.partitions_for(topic)  # fetch metadata now, not in the first batch that pages someone
    except BaseException:
        close_producer(producer, PRODUCER_CLOSE_WAIT_S)
        raise
    return producer


def output_producer_options(settings: KafkaSettings, transactional_id: str) -> dict[str, Any]:
    """``output_producer``'s options: kafka.producer's over b12stream's defaults, then the connection's."""
    options = _producer_options(max(settings.record_limit, settings.state_record_limit))
    if settings.exactly_once:
        options["retry_backoff_ms"] = _TRANSACTIONAL_RETRY_BACKOFF_MS
    options.update(settings.producer)
    options.update(settings.client_options())
    if settings.exactly_once:
        options["transactional_id"] = transactional_id
    else:
        options.pop("transactional_id", None)
        options.pop("transaction_timeout_ms", None)
    return options


def log_end_reader(settings: KafkaSettings) -> KafkaConsumer:
    """A group-less client for where partitions' logs end: its end offsets are the high watermarks,
    which count the records of transactions still open (a read_committed reader's end offsets stop
    before them)."""
    return KafkaConsumer(
        **settings.client_options(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_uncommitted",
    )


def restore_consumer(settings: KafkaSettings) -> KafkaConsumer:
    """A group-less reader of the changelog (assigned partitions by hand), committed records only."""
    options: dict[str, Any] = {
        **settings.client_options(),
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "max_poll_records": 5000,
        "fetch_max_wait_ms": 20,
    }
    return KafkaConsumer(**options)


# How long closing a producer that is given up waits for its sender thread to end: the thread only
# has to notice the request and close its connections.
PRODUCER_CLOSE_WAIT_S = 2.0


def close_producer(producer: KafkaProducer, wait_s: float) -> bool:
    """Close a producer that is given up, for good: whatever it has not sent or not had answered is
    dropped, its sender thread stopped and its connections closed, waiting at most ``wait_s`` for the
    thread. Returns whether the thread ended in time. Nothing is flushed first: the records of an
    abandoned batch are sent again by the batch that redoes it."""
    with contextlib.suppress(KafkaTimeoutError):  # records unsent: close gave up before the sender
        producer.close(timeout=0)
    return _stop_sender(producer, wait_s)


def _stop_sender(producer: KafkaProducer, wait_s: float) -> bool:
    """Stop ``producer``'s sender thread and wait at most ``wait_s`` for it to end.

    kafka-python 3.0.12 (checked against that version) has no public call for this. Its ``close``
    flushes first and raises KafkaTimeoutError there while any record is unsent (a broker that
    stopped answering), before it stops the sender, which then runs and retries for ever; and even
    ``close(timeout=0)`` only asks the sender to stop, without waiting for it. So the private
    ``_sender`` (a Thread): ``force_close`` fails the unsent records, after which the thread closes
    its connections and ends. A kafka-python without it: the thread is reported as not stopped,
    rather than an error raised over the one that made the producer be given up.
    """
    sender = getattr(producer, "_sender", None)
    if not isinstance(sender, threading.Thread) or not hasattr(sender, "force_close"):
        return False
    sender.force_close()
    sender.join(wait_s)
    return not sender.is_alive()
