"""kafka-python clients built from KafkaSettings: the group consumer, the producer, the restore reader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import KafkaSettings

__all__ = [
    "COMMAND_BOOTSTRAP_TIMEOUT_S",
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
    """The producer of every output. Transactional under exactly-once, idempotent otherwise."""
    return KafkaProducer(**output_producer_options(settings, transactional_id))


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
