"""Unit-mapping and value errors (spec 1, S18), and results left out as unusable (a cancellation with no
time), noticed where the engine reads results: the analyte, its code and why, with message and patient
ids only, never the value or patient data."""

from __future__ import annotations

import logging

from b12stream.engine.ingest import Accepted
from b12stream.hl7.model import shown
from b12stream.log import patient_hash
from b12stream.notices import Notice

__all__ = ["unusable_notices"]


def unusable_notices(accepted: Accepted, key: str) -> list[Notice]:
    """One warning per result of ``accepted`` the numeric rules cannot use, kept or left out; ``key`` is
    its patient key."""
    kept = [(o.analyte, o.code, o.unusable_reason) for o in accepted.observations if o.unusable_reason]
    unusable = [*kept, *accepted.unusable]
    if not unusable:
        return []  # nearly every message: nothing to hash or show
    ids = {"control_id": shown(accepted.message.header.control_id), "patient_hash": patient_hash(key)}
    return [
        Notice(
            logging.WARNING,
            "observation not usable for numeric rules",
            {**ids, "analyte": analyte, "code": code, "reason": reason},
        )
        for analyte, code, reason in unusable
    ]
