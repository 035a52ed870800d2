"""R03 — indeterminate B12: suggest MMA (+ homocysteine); normal MMA: functional deficiency unlikely."""

from __future__ import annotations

from b12stream.clinical.b12_status import INDETERMINATE
from b12stream.clinical.model import Finding, Severity
from b12stream.clinical.order_sets import OS_HCY, OS_MMA
from b12stream.clinical.rules.common import R03, describe, finding
from b12stream.clinical.snapshot import Snapshot

__all__ = ["RENAL_NOTE", "r03_indeterminate_b12"]

CITATIONS = ("Seed[1]", "E1", "E2", "E3", "E18")
RENAL_NOTE = "MMA/Hcy may be raised by renal impairment (creatinine above the upper limit within 7 d)."


def r03_indeterminate_b12(snapshot: Snapshot) -> Finding | None:
    """B12_STATUS INDETERMINATE with TP within 30 d.

    - no final MMA within 90 d → ``medium``, suggest OS-MMA and OS-HCY (branch '');
    - a final MMA not above its ULN → ``info`` "functional B12 deficiency less likely" (branch 'mma-normal').
    MMA above the ULN makes the status FUNCTIONAL_DEFICIENCY, which R02/R04 handle.
    """
    b12 = snapshot.b12
    if b12.status != INDETERMINATE:
        return None
    config = snapshot.config
    recent_tp = snapshot.thrombocytopenic_within(config.windows.r03_tp_days)
    if not recent_tp:
        return None
    b12_text = ", ".join(describe(item) for item in b12.deciding)
    notes = []
    if b12.censored:
        notes.append("The B12 value is censored (reported as a bound) and straddles a cut-off.")
    if b12.renal:
        notes.append(RENAL_NOTE)
    low, high = config.b12.deficient_below_ng_l, config.b12.unlikely_above_ng_l
    holo_low, holo_high = config.b12.holotc_deficient_below_pmol_l, config.b12.holotc_unlikely_above_pmol_l
    evidence = (*b12.deciding, recent_tp[-1], *b12.renal)
    if b12.mma is None:
        message = (
            f"B12 in indeterminate range ({low:g}–{high:g} ng/L / {holo_low:g}–{holo_high:g} pmol/L): "
            f"{b12_text}. "
            "MMA is the preferred second-line functional test; homocysteine is less specific (raised in "
            "folate/B6 deficiency and renal impairment)."
        )
        coverage = snapshot.coverage
        return finding(
            snapshot,
            R03,
            Severity.MEDIUM,
            "Indeterminate B12 with thrombocytopenia: consider MMA (and homocysteine)",
            [message, *notes],
            evidence,
            CITATIONS,
            (*coverage.suggest(OS_MMA), *coverage.suggest(OS_HCY)),
        )
    if b12.mma_high is not False:
        return None
    message = (
        f"B12 in indeterminate range ({b12_text}) with MMA not raised ({describe(b12.mma)}): functional B12 "
        "deficiency less likely. If strong clinical features conflict with the tests, do not delay "
        "treatment (BSH)."
    )
    return finding(
        snapshot,
        R03,
        Severity.INFO,
        "Indeterminate B12, MMA not raised: functional B12 deficiency less likely",
        [message, *notes],
        (*evidence, b12.mma),
        CITATIONS,
        branch="mma-normal",
    )
