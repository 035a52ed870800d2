"""R06 — ADAMTS13 severely reduced (or grey zone): true-TTP path, do not attribute to B12."""

from __future__ import annotations

from b12stream.clinical import adamts13
from b12stream.clinical.measure import format_value
from b12stream.clinical.model import Finding, Severity
from b12stream.clinical.order_sets import OS_A13I
from b12stream.clinical.rules.common import R06, describe, finding
from b12stream.clinical.snapshot import Snapshot

__all__ = ["r06_ttp_adamts13"]

CITATIONS = ("Seed[1]", "Seed[6]", "E5", "E19")


def r06_ttp_adamts13(snapshot: Snapshot) -> Finding | None:
    """A13_STATUS SEVERE (<10 %) → ``critical`` (branch 'severe', suggest OS-A13I unless covered), or
    INDETERMINATE (10–20 %) → ``high`` (branch 'grey-zone'), in the open episode. A known low B12 is
    reported inside as a coexisting finding."""
    status = snapshot.a13.status
    result = snapshot.a13.result
    if snapshot.episode is None or result is None or status not in (adamts13.SEVERE, adamts13.INDETERMINATE):
        return None
    value = format_value(result)
    config = snapshot.config.adamts13
    if status == adamts13.SEVERE:
        severity = Severity.CRITICAL
        branch = "severe"
        message = (
            f"ADAMTS13 {value} (<{config.severe_below_pct:g} %): consistent with TTP in the appropriate "
            "clinical context (ISTH). **Do not attribute thrombocytopenia or MAHA to B12 deficiency, "
            "even if B12 is low.** A low B12, if present, is a coexisting finding."
        )
        summary = f"ADAMTS13 {value}: consistent with TTP. Do not attribute to B12 deficiency"
        orders = snapshot.coverage.suggest(OS_A13I)
    else:
        severity = Severity.HIGH
        branch = "grey-zone"
        message = (
            f"ADAMTS13 {value}: ISTH grey zone "
            f"({config.severe_below_pct:g}–{config.indeterminate_max_pct:g} %); "
            "neither confirms nor excludes TTP; do not attribute to B12; haematology review."
        )
        summary = f"ADAMTS13 {value} (grey zone 10–20 %): TTP not excluded; do not attribute to B12"
        orders = ()
    paragraphs = [message]
    if snapshot.b12.deficient_or_functional:
        coexisting = ", ".join(describe(item) for item in snapshot.b12.deciding)
        paragraphs.append(
            f"Coexisting finding: low B12 ({coexisting}); it does not explain a severe ADAMTS13 deficiency."
        )
    evidence = (result, *(() if snapshot.platelet is None else (snapshot.platelet,)), *snapshot.b12.evidence)
    return finding(snapshot, R06, severity, summary, paragraphs, evidence, CITATIONS, orders, branch=branch)
