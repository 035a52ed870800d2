"""R02 — thrombocytopenia with confirmed (or functional) B12 deficiency."""

from __future__ import annotations

from b12stream.clinical import adamts13
from b12stream.clinical.b12_status import FUNCTIONAL_DEFICIENCY
from b12stream.clinical.measure import compare, format_value
from b12stream.clinical.model import Finding, Severity
from b12stream.clinical.order_sets import OS_FILM, OS_HEMO
from b12stream.clinical.rules.common import R02, describe, finding, grade_text
from b12stream.clinical.rules.r03_indeterminate_b12 import RENAL_NOTE
from b12stream.clinical.snapshot import Snapshot
from b12stream.clinical.tma import MAHA

__all__ = ["r02_low_b12"]

CITATIONS = ("Seed[1]", "Seed[2]", "E1", "E2")

MESSAGE = (
    "B12 deficiency is a possible or contributory cause; other causes are not excluded. Treat per local "
    "protocol without delay: prolonged untreated deficiency risks irreversible neurological damage. "
    "Platelet recovery will be tracked (R09)."
)
# R06: under a severe ADAMTS13 the deficiency is a coexisting finding, not a cause to weigh.
MESSAGE_SEVERE_A13 = (
    "ADAMTS13 is severely reduced (R06): do not attribute the thrombocytopenia to B12; the deficiency is "
    "a coexisting finding. Treat it per local protocol without delay: prolonged untreated deficiency "
    "risks irreversible neurological damage. Platelet recovery will be tracked (R09)."
)


def _applies(snapshot: Snapshot) -> bool:
    """TP now, B12 DEFICIENT or FUNCTIONAL_DEFICIENCY, no MAHA, and ADAMTS13 not in the grey zone.

    A severe ADAMTS13 does not stop R02: R06 downgrades it to ``info`` instead (spec R06)."""
    return (
        snapshot.thrombocytopenic
        and snapshot.b12.deficient_or_functional
        and snapshot.maha.kind != MAHA
        and snapshot.a13.status != adamts13.INDETERMINATE
    )


def r02_low_b12(snapshot: Snapshot) -> Finding | None:
    """``medium``; ``high`` below 50 ×10⁹/L; one step lower for FUNCTIONAL_DEFICIENCY; ``info`` when
    ADAMTS13 is severely reduced (R06). Suggests OS-FILM and the missing OS-HEMO components."""
    if not _applies(snapshot) or snapshot.platelet is None:
        return None
    platelet = snapshot.platelet
    config = snapshot.config
    functional = snapshot.b12.status == FUNCTIONAL_DEFICIENCY
    severity = Severity.HIGH if compare(platelet, "<", config.r02.high_below_10e9_l) else Severity.MEDIUM
    if functional:
        severity = severity.lowered()
    severe_a13 = snapshot.a13.status == adamts13.SEVERE
    if severe_a13:  # R06: downgraded, not stopped
        severity = Severity.INFO
    b12_text = ", ".join(describe(item) for item in snapshot.b12.deciding)
    if functional and snapshot.b12.mma is not None:
        opening = (
            f"Thrombocytopenia with B12 in the indeterminate range ({b12_text}) and MMA above the "
            f"upper limit ({describe(snapshot.b12.mma)}): functional B12 deficiency, handled as deficiency."
        )
        label = "functional B12 deficiency"
    else:
        opening = (
            f"Thrombocytopenia with B12 <{config.b12.deficient_below_ng_l:g} ng/L / active B12 "
            f"<{config.b12.holotc_deficient_below_pmol_l:g} pmol/L (NICE: confirmed deficiency): {b12_text}."
        )
        label = "B12 deficiency"
    message = MESSAGE_SEVERE_A13 if severe_a13 else MESSAGE
    paragraphs = [f"{opening} {message}", f"Platelets {format_value(platelet)} ({grade_text(snapshot)})."]
    if functional and snapshot.b12.renal:
        paragraphs.append(RENAL_NOTE)
    if snapshot.b12.censored:
        paragraphs.append("The B12 value is censored (reported as a bound).")
    coverage = snapshot.coverage
    orders = (*coverage.suggest(OS_FILM), *coverage.suggest(OS_HEMO))
    if severe_a13:
        summary = (
            f"Platelets {format_value(platelet)}, ADAMTS13 <10 %: {label} is a coexisting finding (R06); "
            "treat it per protocol"
        )
    else:
        summary = (
            f"Platelets {format_value(platelet)} with {label}: treat per protocol; film and haemolysis screen"
        )
    evidence = (platelet, *snapshot.b12.evidence, *(snapshot.b12.renal if functional else ()))
    return finding(
        snapshot,
        R02,
        severity,
        summary,
        paragraphs,
        evidence,
        CITATIONS,
        orders,
    )
