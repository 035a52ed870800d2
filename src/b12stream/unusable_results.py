"""Unit-mapping and value errors (spec 1, S18) logged where the engine reads results: the analyte,
its code and why, with message and patient ids only, never the value or patient data."""

from __future__ import annotations

import structlog

from b12stream.engine.ingest import Accepted
from b12stream.hl7.model import shown
from b12stream.log import patient_hash

__all__ = ["log_unusable"]


def log_unusable(log: structlog.typing.FilteringBoundLogger, accepted: Accepted, key: str) -> None:
    """One warning per result of ``accepted`` the numeric rules cannot use; ``key`` is its patient key."""
    for observation in accepted.observations:
        if observation.unusable_reason:
            log.warning(
                "observation not usable for numeric rules",
                control_id=shown(accepted.message.header.control_id),
                patient_hash=patient_hash(key),
                analyte=observation.analyte,
                code=observation.code,
                reason=observation.unusable_reason,
            )
