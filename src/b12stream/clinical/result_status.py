"""HL7 result statuses (OBX-11 / OBR-25) as the patient history reads them (spec 2.1)."""

from __future__ import annotations

from dataclasses import replace

from b12stream.clinical.model import Observation
from b12stream.clinical.observation_json import aware

__all__ = [
    "CANCELLED_STATUSES",
    "CORRECTION",
    "EVIDENCE_STATUSES",
    "NORMALISED_STATUSES",
    "ORDERED_STATUSES",
    "PENDING_STATUSES",
    "PROVISIONAL_STATUSES",
    "REMOVAL_STATUSES",
    "STORED_STATUSES",
    "is_evidence",
    "is_pending",
    "normalised",
    "status_of",
]

EVIDENCE_STATUSES = frozenset({"F", "C", "U"})
# A correction is replaced only by another correction (or removed): a final sent after it is the
# result it corrected, re-sent.
CORRECTION = "C"
PROVISIONAL_STATUSES = frozenset({"P", "S", "R"})
ORDERED_STATUSES = frozenset({"I", "O"})
CANCELLED_STATUSES = frozenset({"X"})
REMOVAL_STATUSES = frozenset({"D", "W"})
# Provisional results count as pending for suggestion coverage (R11 b) and ADAMTS13 status.
PENDING_STATUSES = PROVISIONAL_STATUSES | ORDERED_STATUSES
STORED_STATUSES = EVIDENCE_STATUSES | PENDING_STATUSES | CANCELLED_STATUSES
NORMALISED_STATUSES = STORED_STATUSES | REMOVAL_STATUSES


def status_of(observation: Observation) -> str:
    """The status code, stripped and upper-case."""
    status = observation.status
    # Stored records already carry the normalised code; only raw input needs stripping and folding.
    return status if status in NORMALISED_STATUSES else status.strip().upper()


def is_evidence(observation: Observation) -> bool:
    """True for final, corrected and 'changed to final' results: the only ones rules may use."""
    return status_of(observation) in EVIDENCE_STATUSES


def is_pending(observation: Observation) -> bool:
    """True for an ordered, in-lab or provisional record: an order whose result has not arrived."""
    return status_of(observation) in PENDING_STATUSES


def normalised(observation: Observation) -> Observation:
    """The observation as a history stores it: status stripped and upper-case, time zone-aware."""
    status = status_of(observation)
    moment = aware(observation.observed_at)
    if status == observation.status and moment is observation.observed_at:
        return observation
    return replace(observation, status=status, observed_at=moment)
