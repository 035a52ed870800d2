"""R01 — thrombocytopenia with B12 status unknown: suggest B12 (+ folate, blood film)."""

from __future__ import annotations

from b12stream.clinical.b12_status import UNKNOWN
from b12stream.clinical.measure import compare, format_value
from b12stream.clinical.model import Finding, Observation, Severity
from b12stream.clinical.order_sets import OS_B12, OS_FILM, OS_FOL
from b12stream.clinical.rules.common import R01, finding, grade_text
from b12stream.clinical.snapshot import Snapshot
from b12stream.clinical.view import hours

__all__ = ["persistent_thrombocytopenia", "r01_unknown_b12"]

CITATIONS = ("Seed[1]", "Seed[4]", "E1", "E2", "E15")


def persistent_thrombocytopenia(snapshot: Snapshot) -> tuple[Observation, ...]:
    """The persistence gate: ≥2 final thrombocytopenic counts at least 24 h apart within 30 d.

    Returns the counts that meet it (earliest-first greedy choice), or () when the gate is not met.
    """
    rules = snapshot.config.r01
    chosen: list[Observation] = []
    for item in snapshot.thrombocytopenic_within(rules.persistence_window_days):
        if not chosen or item.observed_at - chosen[-1].observed_at >= hours(rules.persistence_spacing_hours):
            chosen.append(item)
    return tuple(chosen) if len(chosen) >= rules.persistence_results else ()


def r01_unknown_b12(snapshot: Snapshot) -> Finding | None:
    """Fires on TP with (PLT <100, or persistent TP) and B12_STATUS UNKNOWN, unless MAHA or
    HEMOLYTIC_TP routes the case to R05/R07. ``medium`` below 100, ``info`` when only persistent;
    a count without a usable number cannot pass the <100 gate."""
    platelet = snapshot.platelet
    if platelet is None or not snapshot.thrombocytopenic:
        return None
    if snapshot.b12.status != UNKNOWN or snapshot.maha.present:
        return None
    config = snapshot.config
    below_gate = bool(compare(platelet, "<", config.r01.plt_below_10e9_l))
    persistent = () if below_gate else persistent_thrombocytopenia(snapshot)
    if not below_gate and not persistent:
        return None
    severity = Severity.MEDIUM if below_gate else Severity.INFO
    grade = grade_text(snapshot)
    validity = f"{config.b12.validity_days:g} d"
    message = (
        f"Thrombocytopenia ({grade}) without B12 result in {validity}. B12 deficiency can cause "
        "thrombocytopenia even without macrocytic anaemia. Consider B12 (folate also suggested). If B12 is "
        "indeterminate, MMA ± homocysteine will be suggested (R03); if low, intrinsic-factor antibodies "
        "(R04)."
    )
    facts = f"Platelets {format_value(platelet)}"
    if persistent:
        facts += f"; {len(persistent)} thrombocytopenic counts at least 24 h apart within "
        facts += f"{config.r01.persistence_window_days:g} d"
    coverage = snapshot.coverage
    orders = (*coverage.suggest(OS_B12), *coverage.suggest(OS_FOL), *coverage.suggest(OS_FILM))
    summary = (
        f"Platelets {format_value(platelet)} ({grade}), no B12 in {validity}: consider B12, folate, film"
    )
    return finding(
        snapshot,
        R01,
        severity,
        summary,
        [message, facts + "."],
        (platelet, *persistent),
        CITATIONS,
        orders,
    )
