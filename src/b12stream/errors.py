"""The exception hierarchy: one root, one branch per layer, named for the recovery they trigger."""

from __future__ import annotations

__all__ = [
    "B12StreamError",
    "ConfigError",
    "HL7Error",
    "ClinicalError",
    "StateError",
    "StreamError",
    "cause",
]


class B12StreamError(Exception):
    """Root of every error b12stream raises on purpose."""


class ConfigError(B12StreamError):
    """A configuration file or value is unusable; the message names the key. Fatal at startup."""


class HL7Error(B12StreamError):
    """Raised inside the HL7 layer; turned into a Rejection value at its edge."""


class ClinicalError(B12StreamError):
    """Raised inside the clinical layer (terminology, history, rules)."""


class StateError(B12StreamError):
    """The patient-state store failed or is inconsistent."""


class StreamError(B12StreamError):
    """Kafka I/O failed in a way the stream layer could not retry away."""


def cause(error: BaseException) -> str:
    """``error`` told without the data it may quote: its type, and where in its input it arose when
    it says (a decode or JSON position). A UnicodeDecodeError's repr holds its whole input and a
    ValueError the text it could not read, and stored states are patient records: their errors end
    up in log lines. b12stream's own errors are written to be logged, and are told whole."""
    if isinstance(error, B12StreamError):
        return f"{type(error).__name__}: {error}"
    at = getattr(error, "start", None)
    if at is None:
        at = getattr(error, "pos", None)
    return type(error).__name__ if at is None else f"{type(error).__name__} at {at}"
