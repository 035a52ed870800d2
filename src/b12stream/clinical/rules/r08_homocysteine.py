"""R08 — hyperhomocysteinaemia with thrombocytopenia: prothrombotic warning."""

from __future__ import annotations

from b12stream.clinical.b12_status import UNKNOWN
from b12stream.clinical.measure import format_value
from b12stream.clinical.model import Finding, Severity
from b12stream.clinical.order_sets import OS_B12, OS_FOL
from b12stream.clinical.rules.common import R08, finding
from b12stream.clinical.rules.r03_indeterminate_b12 import RENAL_NOTE
from b12stream.clinical.snapshot import Snapshot

__all__ = ["r08_homocysteine"]

CITATIONS = ("Seed[3]", "E3", "E16", "E17")
_SEVERITY = {"moderate": Severity.INFO, "intermediate": Severity.MEDIUM, "severe": Severity.HIGH}


def r08_homocysteine(snapshot: Snapshot) -> Finding | None:
    """Homocysteine >15 µmol/L (final, within 90 d) and TP within 14 d. Severity by band: moderate
    ``info``, intermediate ``medium``, severe ``high``. Suggests OS-B12 if B12 is UNKNOWN and OS-FOL
    unless a folate result covers it."""
    result = snapshot.homocysteine.result
    band = snapshot.homocysteine.band
    if result is None or band not in _SEVERITY:
        return None
    recent_tp = snapshot.thrombocytopenic_within(snapshot.config.windows.r08_tp_days)
    if not recent_tp:
        return None
    value = format_value(result)
    paragraphs = [
        f"Low platelets do not exclude thrombotic risk: hyperhomocysteinaemia ({value}, {band}) is "
        "associated with venous/arterial thrombosis, including in B12 deficiency. Consider VTE risk in "
        "clinical decisions (e.g. prophylaxis, symptoms of DVT/PE).",
        "Confounders: renal impairment, folate/B6 deficiency, hypothyroidism. Lowering homocysteine has not "
        "been shown to reduce thrombotic events (E17).",
    ]
    if snapshot.b12.renal:
        paragraphs.append(RENAL_NOTE)
    coverage = snapshot.coverage
    orders = (
        *(coverage.suggest(OS_B12) if snapshot.b12.status == UNKNOWN else ()),
        *coverage.suggest(OS_FOL),
    )
    summary = f"Homocysteine {value} ({band}) with thrombocytopenia: low platelets do not exclude VTE risk"
    return finding(
        snapshot,
        R08,
        _SEVERITY[band],
        summary,
        paragraphs,
        (result, recent_tp[-1], *snapshot.b12.renal),
        CITATIONS,
        orders,
    )
