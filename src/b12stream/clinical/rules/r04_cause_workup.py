"""R04 — confirmed deficiency: intrinsic-factor (± parietal-cell) antibodies and the cause work-up."""

from __future__ import annotations

from b12stream.clinical.model import Finding, Severity
from b12stream.clinical.order_sets import OS_IF, OS_PCA
from b12stream.clinical.rules.common import R04, finding
from b12stream.clinical.snapshot import Snapshot
from b12stream.clinical.view import days

__all__ = ["INTRINSIC_FACTOR_AB", "MESSAGE", "r04_cause_workup"]

INTRINSIC_FACTOR_AB = "intrinsic_factor_ab"
CITATIONS = ("Seed[1]", "E1", "E18", "E26")
MESSAGE = (
    "Identify the cause of deficiency to prevent recurrence: intrinsic-factor antibody (pernicious "
    "anaemia / autoimmune gastritis). A negative IF antibody does not exclude it (sensitivity ≈50 %, "
    "E26). Draw before, or more than 2 weeks after, a B12 injection (Mayo, E26). Review non-laboratory "
    "causes: ileal disease or resection, IBD, metformin, vegan/vegetarian diet (seed), and other NICE "
    "risk factors such as PPIs/H2RA, gastrectomy/bariatric surgery, nitrous oxide (E1)."
)


def r04_cause_workup(snapshot: Snapshot) -> Finding | None:
    """B12 DEFICIENT or FUNCTIONAL_DEFICIENCY, no final IF antibody ever (in the store) and none pending.

    Standalone ``info``; evaluate() folds it into R02 / R05 branch b when those fire.
    """
    if not snapshot.b12.deficient_or_functional:
        return None
    view = snapshot.view
    if view.results(INTRINSIC_FACTOR_AB):
        return None
    pending_since = view.at - days(snapshot.config.suggestions.intrinsic_factor.pending_days)
    if view.pending_records(INTRINSIC_FACTOR_AB, pending_since):
        return None
    coverage = snapshot.coverage
    orders = coverage.suggest(OS_IF)
    if snapshot.config.orders.suggest_parietal_cell:
        orders = (*orders, *coverage.suggest(OS_PCA))
    return finding(
        snapshot,
        R04,
        Severity.INFO,
        "B12 deficiency: consider intrinsic-factor antibodies to identify the cause",
        [MESSAGE],
        snapshot.b12.evidence,
        CITATIONS,
        orders,
    )
