"""R05 — MAHA with ADAMTS13 not severely reduced: B12-deficiency pseudo-TMA alert (branches a/b/c)."""

from __future__ import annotations

from b12stream.clinical import adamts13
from b12stream.clinical.b12_status import UNLIKELY
from b12stream.clinical.measure import format_value
from b12stream.clinical.model import Finding, Severity, SuggestedOrder
from b12stream.clinical.order_sets import OS_B12, OS_FILM, OS_FOL, OS_HCY, OS_MMA
from b12stream.clinical.rules.common import R05, describe, finding
from b12stream.clinical.rules.tma_text import maha_label, scores_paragraph
from b12stream.clinical.snapshot import Snapshot

__all__ = ["r05_branch", "r05_pseudo_tma"]

CITATIONS = ("Seed[2]", "Seed[5]", "Seed[6]", "E5", "E6", "E7", "E8", "E9", "E10", "E11", "E13", "E25")
POST_PLASMA = (
    "ADAMTS13 drawn after plasma or plasma exchange may be falsely normal (E25). Confirm the sample was "
    "pre-treatment."
)


def r05_branch(snapshot: Snapshot) -> str | None:
    """'a' (B12 unknown, pending or indeterminate), 'b' (deficient or functional), 'c' (unlikely), or
    None when R05 does not apply (no MAHA / HEMOLYTIC_TP, or ADAMTS13 not NOT_SEVERE)."""
    if not snapshot.maha.present or snapshot.a13.status != adamts13.NOT_SEVERE:
        return None
    if snapshot.b12.deficient_or_functional:
        return "b"
    if snapshot.b12.status == UNLIKELY:
        return "c"
    return "a"


def r05_pseudo_tma(snapshot: Snapshot) -> Finding | None:
    """Branch a ``high`` (OS-B12 STAT, OS-MMA, OS-HCY, OS-FOL, OS-FILM if none in 72 h); branch b
    ``high`` (R04's sets, added by evaluate()); branch c ``info`` (OS-MMA only if F1 or F5)."""
    branch = r05_branch(snapshot)
    result = snapshot.a13.result
    if branch is None or result is None:
        return None
    maha = snapshot.maha
    value = format_value(result)
    label = maha_label(snapshot)
    short = maha_label(snapshot, short=True)
    coverage = snapshot.coverage
    orders: tuple[SuggestedOrder, ...] = ()
    if branch == "a":
        severity = Severity.HIGH
        message = (
            f"**{label} with ADAMTS13 {value} (>20 %): severe ADAMTS13 deficiency/TTP not supported (ISTH). "
            "B12-deficiency pseudo-TMA is a recognised TTP mimic — check B12 before starting or continuing "
            "plasma exchange; decisions on plasma exchange remain with haematology.**"
        )
        summary = f"{short}, ADAMTS13 {value}: B12 pseudo-TMA possible, check B12 before plasma exchange"
        orders = (
            *coverage.suggest(OS_B12, priority="stat"),
            *coverage.suggest(OS_MMA),
            *coverage.suggest(OS_HCY),
            *coverage.suggest(OS_FOL),
            *coverage.suggest(OS_FILM),
        )
    elif branch == "b":
        severity = Severity.HIGH
        message = (
            f"{label} + ADAMTS13 {value} + B12 deficiency: pattern consistent with B12-deficiency "
            "pseudo-TMA. Plasma exchange offers limited benefit in B12 pseudo-TMA; discuss with "
            "haematology; exclude other TMA causes."
        )
        summary = (
            f"{short}, ADAMTS13 {value}, low B12: consistent with B12 pseudo-TMA; discuss with haematology"
        )
    else:
        severity = Severity.INFO
        message = (
            f"{label} with non-severe ADAMTS13 ({value}); B12 "
            f">{snapshot.config.b12.unlikely_above_ng_l:g} ng/L "
            "makes B12 pseudo-TMA unlikely; consider other TMA causes."
        )
        summary = f"{short}, ADAMTS13 {value}, B12 normal: B12 pseudo-TMA unlikely; consider other TMA causes"
        present = maha.features.present if maha.features is not None else ()
        if any(name.startswith(("F1", "F5")) for name in present):
            orders = coverage.suggest(
                OS_MMA, note="serum B12 can be falsely normal with high-titre IF antibodies"
            )
    paragraphs = [message, POST_PLASMA, scores_paragraph(snapshot)]
    if snapshot.a13.below_lln:
        paragraphs.append(f"ADAMTS13 {value} is below the lab reference range.")
    if snapshot.b12.deciding:
        paragraphs.append("B12: " + ", ".join(describe(item) for item in snapshot.b12.deciding) + ".")
    picture = maha.picture
    evidence = (*(picture.evidence if picture else ()), result, *snapshot.b12.evidence)
    if maha.features is not None:
        evidence = (*evidence, *maha.features.evidence)
    return finding(snapshot, R05, severity, summary, paragraphs, evidence, CITATIONS, orders, branch=branch)
