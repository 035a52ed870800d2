"""The exception hierarchy: one root, one branch per layer, named for the recovery they trigger."""

from __future__ import annotations

__all__ = [
    "B12StreamError",
    "ConfigError",
    "HL7Error",
    "ClinicalError",
    "StateError",
    "StreamError",
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
