"""Test helpers for the engine: hand-built observations, findings and messages; strict OML parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_segment

from b12stream.clinical.model import (
    Finding,
    Observation,
    PatientKey,
    ResultKey,
    Severity,
    SuggestedOrder,
)
from b12stream.clinical.rules_config import RulesConfig
from b12stream.engine.rules_version import rules_version
from b12stream.engine.suppression import SuggestionPolicy

PATIENT = PatientKey("MRN001", "HOSP")
RULES_VERSION = rules_version(RulesConfig(), SuggestionPolicy())
D0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EPISODE = "ep-20260302"

B12 = SuggestedOrder(
    "b12_total", "2132-9", "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma", "stat", "OS-B12"
)
FOLATE = SuggestedOrder("folate", "2284-8", "Folate [Mass/volume] in Serum or Plasma", "routine", "OS-FOL")
FILM = SuggestedOrder(
    "blood_film", "18314-5", "Morphology [interpretation] in Blood Narrative", "routine", "OS-FILM"
)


def day(n: float, hours: float = 0) -> datetime:
    return D0 + timedelta(days=n, hours=hours)


def platelets(value: float, at: datetime, filler: str = "F1", status: str = "F") -> Observation:
    return Observation(
        analyte="platelets",
        code="777-3",
        value=float(value),
        unit="10*9/L",
        observed_at=at,
        status=status,
        result_key=ResultKey(filler, "777-3", "1"),
        source_message_id=f"MSG-{filler}",
    )


def finding(
    rule: str = "B12-UNKNOWN-THROMBOCYTOPENIA",
    severity: Severity = Severity.MEDIUM,
    *,
    evidence: tuple[Observation, ...] | None = None,
    orders: tuple[SuggestedOrder, ...] = (B12, FOLATE, FILM),
    branch: str = "",
    category: tuple[str, ...] = ("plt:G2",),
    at: datetime = D0,
    episode: str = EPISODE,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        episode_id=episode,
        summary=f"{rule} summary",
        detail="Detail text.",
        evidence=evidence if evidence is not None else (platelets(60, at),),
        citations=("Seed[1]", "E1"),
        suggested_orders=orders,
        branch=branch,
        category=category,
        observed_at=at,
    )


def oru(
    control: str,
    collected: str,
    platelets: str,
    *,
    mrn: str = "RP0001",
    filler: str = "FIL-1",
    status: str = "F",
    sent: str = "",
) -> str:
    """One ORU^R01 v2.5.1 with a platelet count (K/uL, 150-400); ``sent`` (MSH-7) defaults to collection."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{sent or collected}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                f"PID|1||{mrn}^^^HOSP^MR||TEST^REPLAY",
                f"OBR|1|P-{filler}|{filler}|CBC^Blood count^L|||{collected}"
                f"|||||||||||||||{collected}||HM|{status}",
                "OBX|1|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN||"
                f"{platelets}|10*3/uL|150-400|L|||{status}|||{collected}",
            ]
        )
        + "\r"
    )


STRICT = VALIDATION_LEVEL.STRICT
_GROUP_OF = {"TQ1": "OML_O21_TIMING", "OBR": "OML_O21_OBSERVATION_REQUEST"}


def strict_message(er7: bytes) -> Message:
    """Parse ER7 back at strict level, one segment at a time, into the OML_O21 v2.5.1 group structure.

    (hl7apy's own group finder files a second ORC under the first order's prior-result group, so the
    groups are assigned here; every segment and field is still parsed and checked by hl7apy.)
    """
    text = er7.decode("utf-8")
    assert text.endswith("\r")
    segments = [s for s in text.split("\r") if s]
    message = Message("OML_O21", version="2.5.1", validation_level=STRICT)
    message.msh = parse_segment(segments[0], version="2.5.1", validation_level=STRICT)
    order = None
    for segment_text in segments[1:]:
        name = segment_text[:3]
        if name == "PID":
            message.add_group("OML_O21_PATIENT").add(parse_segment(segment_text, "2.5.1", None, STRICT))
        elif name == "ORC":
            order = message.add_group("OML_O21_ORDER")
            order.add(parse_segment(segment_text, "2.5.1", None, STRICT))
        else:
            order.add_group(_GROUP_OF[name]).add(parse_segment(segment_text, "2.5.1", None, STRICT))
    assert message.validate()
    return message
