"""kafka-python clients built from KafkaSettings: the group consumer, the producer, the restore reader."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from b12stream.stream.settings import KafkaSettings

__all__ = [
    "group_consumer",
    "input_producer",
    "output_producer",
    "output_producer_options",
    "restore_consumer",
]


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


def _producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """Every b12stream producer: acknowledged by all replicas, idempotent (a retried send is not
    duplicated), and able to send the largest record b12stream makes."""
    return {"acks": "all", "enable_idempotence": True, "max_request_size": settings.record_limit}


def input_producer(settings: KafkaSettings) -> KafkaProducer:
    """The producer `b12stream produce` sends HL7 files with, as an interface engine would."""
    return KafkaProducer(**_producer_options(settings), linger_ms=5, **settings.client_options())


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
    options = _producer_options(settings)
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
