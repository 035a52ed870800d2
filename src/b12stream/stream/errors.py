"""Stream-layer errors, named for the recovery they trigger; kafka-python errors are translated here."""

from __future__ import annotations

import kafka.errors as kafka_errors

from b12stream.errors import StreamError

__all__ = ["Fenced", "StateCorrupted", "TransientBrokerError", "translate"]


class Fenced(StreamError):
    """Another instance owns this work now (producer fenced, generation moved on, rebalance).

    Recovery: abandon the batch, rebuild the producer, let the rebalance hand out partitions again.
    """


class TransientBrokerError(StreamError):
    """The broker could not be reached or answered with a retriable error.

    Recovery: abandon the batch, rebuild the producer, back off, retry (bounded).
    """


class StateCorrupted(StreamError):
    """A partition's local state cannot be trusted (e.g. it is ahead of its changelog).

    Recovery: wipe the partition's file and restore it from the changelog alone.
    """


_FENCED = (
    kafka_errors.ProducerFencedError,
    kafka_errors.InvalidProducerEpochError,
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.UnknownMemberIdError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.FencedInstanceIdError,
    kafka_errors.TransactionCoordinatorFencedError,
)


def translate(error: BaseException) -> StreamError:
    """Map a kafka-python error onto the recovery it needs. Authorization and configuration errors
    are not retried: they stay plain StreamError, which stops the engine."""
    if isinstance(error, StreamError):
        return error
    if isinstance(error, _FENCED):
        return Fenced(f"{type(error).__name__}: {error}")
    if isinstance(error, kafka_errors.AuthorizationError | kafka_errors.KafkaConfigurationError):
        return StreamError(f"{type(error).__name__}: {error}")
    if isinstance(error, kafka_errors.KafkaError):
        return TransientBrokerError(f"{type(error).__name__}: {error}")
    return StreamError(f"{type(error).__name__}: {error}")
