"""Unit-mapping and value errors (spec 1, S18), and results left out as unusable (a cancellation with no
time), logged where the engine reads results: the analyte, its code and why, with message and patient
ids only, never the value or patient data."""

from __future__ import annotations

import structlog

from b12stream.engine.ingest import Accepted
from b12stream.hl7.model import shown
from b12stream.log import patient_hash

__all__ = ["log_unusable"]


def log_unusable(log: structlog.typing.FilteringBoundLogger, accepted: Accepted, key: str) -> None:
    """One warning per result of ``accepted`` the numeric rules cannot use, kept or left out; ``key`` is
    its patient key."""
    for observation in accepted.observations:
        if observation.unusable_reason:
            _warn(log, accepted, key, observation.analyte, observation.code, observation.unusable_reason)
    for analyte, code, reason in accepted.unusable:
        _warn(log, accepted, key, analyte, code, reason)


def _warn(
    log: structlog.typing.FilteringBoundLogger,
    accepted: Accepted,
    key: str,
    analyte: str,
    code: str,
    reason: str,
) -> None:
    log.warning(
        "observation not usable for numeric rules",
        control_id=shown(accepted.message.header.control_id),
        patient_hash=patient_hash(key),
        analyte=analyte,
        code=code,
        reason=reason,
    )
