"""The clinical vocabulary as plain data: observations, patient keys, severities, findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

__all__ = [
    "PatientKey",
    "ResultKey",
    "Observation",
    "Severity",
    "SuggestedOrder",
    "Finding",
]


@dataclass(frozen=True, slots=True, order=True)
class PatientKey:
    """The patient as the configured key rule picks it: identifier + assigning authority.

    The same MRN from two authorities is two patients.
    """

    id: str
    assigning_authority: str

    def as_text(self) -> str:
        """A stable string form, used as the Kafka key and the state-store key."""
        return f"{self.assigning_authority}|{self.id}"


@dataclass(frozen=True, slots=True, order=True)
class ResultKey:
    """Identity of a result for corrections (spec 2.1): filler order number, OBX-3 code, OBX-4 sub-id.

    The patient is implied: results live in one patient's history.
    """

    filler_order_number: str
    code: str
    sub_id: str


@dataclass(frozen=True, slots=True)
class Observation:
    """One result in the engine's terms: analyte id, canonical unit, collection time.

    ``value`` is in the analyte's canonical unit, or None for qualitative results and for results
    whose unit could not be mapped (then ``unusable_reason`` says why and only ``flags`` may be used).
    ``comparator`` is set for censored values (``<50``). ``text`` holds a qualitative value
    (``Present``, ``POS``) and is PHI-free by construction (coded or short result text only).
    """

    analyte: str
    code: str  # the LOINC (or local code) the analyte was recognised by
    value: float | None
    unit: str  # canonical unit, or the unit as sent when unusable
    observed_at: datetime
    status: str  # OBX-11 (or OBR-25 when no OBX)
    result_key: ResultKey
    source_message_id: str
    comparator: str = ""
    text: str = ""
    reference_low: float | None = None  # canonical unit
    reference_high: float | None = None  # canonical unit
    flags: tuple[str, ...] = ()
    unusable_reason: str = ""


class Severity(IntEnum):
    """Spec severity scale; ordered so comparisons mean 'more urgent'."""

    INFO = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    def lowered(self) -> Severity:
        """One step lower, never below INFO."""
        return Severity(max(self.value - 1, Severity.INFO.value))


@dataclass(frozen=True, slots=True)
class SuggestedOrder:
    analyte: str
    loinc: str
    display: str
    priority: str = "routine"  # "routine" | "stat"
    order_set: str = ""  # OS-B12, OS-FILM, ...
    note: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """What one rule concluded at one evaluation time, before suppression against what was said.

    ``branch`` distinguishes variants of one rule (R05 a/b/c, R06 severe/grey zone, R09 situations).
    ``category`` is the tuple of state classes whose change counts as a category change (R11):
    PLT grade, B12 status, A13 status, MAHA on/off.
    ``evidence`` are the observations the finding rests on; retraction (R10) works from their keys.
    ``scope`` are observations that put the finding in its rule's scope without being reported in it
    (R09: those the deficiency it follows was identified on); retraction works from their keys too.
    """

    rule: str
    severity: Severity
    episode_id: str
    summary: str
    detail: str
    evidence: tuple[Observation, ...]
    citations: tuple[str, ...]
    suggested_orders: tuple[SuggestedOrder, ...] = ()
    branch: str = ""
    category: tuple[str, ...] = ()
    observed_at: datetime | None = None
    bundled: tuple[str, ...] = field(default=())  # rule ids folded into this alert (R04 in R02/R05)
    scope: tuple[Observation, ...] = ()
