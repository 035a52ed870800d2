"""Stream-layer errors, named for the recovery they trigger; kafka-python errors are translated here."""

from __future__ import annotations

import ssl

import kafka.errors as kafka_errors

from b12stream.errors import StreamError

__all__ = ["AuthenticationFailed", "Fenced", "StateCorrupted", "TransientBrokerError", "translate"]


class Fenced(StreamError):
    """Another instance owns this work now (producer fenced, generation moved on, rebalance).

    Recovery: abandon the batch, rebuild the producer, let the rebalance hand out partitions again.
    """


class TransientBrokerError(StreamError):
    """The broker could not be reached or answered with a retriable error.

    Recovery: abandon the batch, rebuild the producer, back off, retry (bounded).
    """


class AuthenticationFailed(StreamError):
    """The broker refused who we are (SASL credentials, mechanism) or we refused it (its TLS
    certificate is not trusted by kafka.security.ssl_cafile).

    Recovery: none by retrying; stop with a message naming the cause, never the password.
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

_AUTHENTICATION = (
    kafka_errors.SaslAuthenticationFailedError,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.IllegalSaslStateError,
    ssl.SSLCertVerificationError,
)


def translate(error: BaseException) -> StreamError:
    """Map a kafka-python error onto the recovery it needs. Authentication, authorization and
    configuration errors are not retried: AuthenticationFailed or plain StreamError stop the engine."""
    if isinstance(error, StreamError):
        return error
    if isinstance(error, _FENCED):
        return Fenced(f"{type(error).__name__}: {error}")
    # kafka-python wraps a TLS verification failure in KafkaConnectionError; its context keeps the cause.
    if isinstance(error, _AUTHENTICATION) or isinstance(error.__context__, ssl.SSLCertVerificationError):
        return AuthenticationFailed(f"authentication failed: {type(error).__name__}: {error}")
    if isinstance(error, kafka_errors.AuthorizationError | kafka_errors.KafkaConfigurationError):
        return StreamError(f"{type(error).__name__}: {error}")
    if isinstance(error, kafka_errors.KafkaError):
        return TransientBrokerError(f"{type(error).__name__}: {error}")
    return StreamError(f"{type(error).__name__}: {error}")
