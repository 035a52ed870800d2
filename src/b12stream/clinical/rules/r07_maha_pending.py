"""R07 — MAHA with ADAMTS13 pending, unknown or grey zone: urgent TMA warning (± pseudo-TMA features)."""

from __future__ import annotations

from b12stream.clinical import adamts13
from b12stream.clinical.b12_status import DEFICIENT, UNKNOWN
from b12stream.clinical.model import Finding, Severity, SuggestedOrder
from b12stream.clinical.order_sets import OS_A13, OS_B12, OS_FILM, OS_HCY, OS_HEMO, OS_MMA
from b12stream.clinical.rules.common import R07, finding
from b12stream.clinical.rules.tma_text import maha_label, scores_paragraph
from b12stream.clinical.snapshot import Snapshot

__all__ = ["r07_maha_pending"]

CITATIONS = ("Seed[2]", "Seed[5]", "Seed[6]", "E4", "E5", "E6", "E7", "E12")
_STATES = (adamts13.PENDING, adamts13.UNKNOWN, adamts13.INDETERMINATE)


def r07_maha_pending(snapshot: Snapshot) -> Finding | None:
    """``high``; ``critical`` when PLASMIC shows platelets <30, MCV <90, INR <1.5 and creatinine
    <2.0 mg/dL. Suggests OS-A13 (if UNKNOWN), OS-B12 STAT (if B12 UNKNOWN), OS-MMA and OS-HCY (if
    F ≥2 and B12 not DEFICIENT), and the missing OS-HEMO / OS-FILM components."""
    maha = snapshot.maha
    status = snapshot.a13.status
    if not maha.present or status not in _STATES:
        return None
    config = snapshot.config
    plasmic = maha.plasmic
    features = maha.features
    feature_count = 0 if features is None else features.count
    critical = plasmic is not None and plasmic.high_ttp_likelihood
    severity = Severity.CRITICAL if critical else Severity.HIGH
    label = maha_label(snapshot)
    paragraphs = [
        f"{label}. Thrombocytopenia with haemolysis ± schistocytes: TMA must be evaluated urgently; "
        "TTP must be excluded with ADAMTS13. Do not delay TTP treatment when clinical suspicion is high "
        "(ISTH)."
    ]
    strength = None if features is None else features.strength(config)
    if features is not None and strength is not None:
        paragraphs.append(
            f"**Features atypical for TTP and {strength} of B12-deficiency pseudo-TMA "
            f"({', '.join(features.present)}): check B12 before committing to plasma exchange. Note PLASMIC "
            "assumes MCV <90 fL, which B12 pseudo-TMA usually does not meet.**"
        )
    if snapshot.b12.status == DEFICIENT:
        paragraphs.append(
            "B12 deficiency present; pseudo-TMA possible; ADAMTS13 still required (coexistence possible)."
        )
    if status == adamts13.INDETERMINATE:
        paragraphs.append(
            "A13 indeterminate "
            f"({config.adamts13.severe_below_pct:g}–{config.adamts13.indeterminate_max_pct:g} %)."
        )
    paragraphs.append(scores_paragraph(snapshot))
    coverage = snapshot.coverage
    orders: list[SuggestedOrder] = []
    if status == adamts13.UNKNOWN:
        orders += coverage.suggest(OS_A13, note="draw before any plasma or blood product (ISTH)")
    if snapshot.b12.status == UNKNOWN:
        orders += coverage.suggest(OS_B12, priority="stat")
    if feature_count >= config.features.suggestive_count and snapshot.b12.status != DEFICIENT:
        orders += [*coverage.suggest(OS_MMA), *coverage.suggest(OS_HCY)]
    orders += [*coverage.suggest(OS_HEMO), *coverage.suggest(OS_FILM)]
    a13_text = {
        adamts13.PENDING: "pending",
        adamts13.UNKNOWN: "not yet sent",
        adamts13.INDETERMINATE: "10–20 %",
    }
    short = maha_label(snapshot, short=True)
    summary = f"{short} with ADAMTS13 {a13_text[status]}: urgent TMA evaluation; exclude TTP"
    if strength is not None:
        summary += f"; features {strength} of B12 pseudo-TMA"
    evidence = (
        *(maha.picture.evidence if maha.picture else ()),
        *(features.evidence if features else ()),
        *(plasmic.evidence if plasmic else ()),
        *((snapshot.a13.result,) if snapshot.a13.result is not None else ()),
        *snapshot.b12.evidence,
    )
    return finding(snapshot, R07, severity, summary, paragraphs, evidence, CITATIONS, orders)
