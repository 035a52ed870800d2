"""B12_STATUS (spec 2.3): total and active B12 classes, sticky deficiency, MMA and functional deficiency."""

from __future__ import annotations

from dataclasses import dataclass

from b12stream.clinical.measure import above_upper_limit, compare
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView, days

__all__ = [
    "B12_ACTIVE",
    "B12_TOTAL",
    "CREATININE",
    "DEFICIENT",
    "FUNCTIONAL_DEFICIENCY",
    "INDETERMINATE",
    "MMA",
    "UNKNOWN",
    "UNLIKELY",
    "B12Assessment",
    "B12Class",
    "assess_b12",
    "classify_b12",
    "renal_impairment",
]

B12_TOTAL = "b12_total"
B12_ACTIVE = "b12_active"
MMA = "mma"
CREATININE = "creatinine"

DEFICIENT = "DEFICIENT"
FUNCTIONAL_DEFICIENCY = "FUNCTIONAL_DEFICIENCY"
INDETERMINATE = "INDETERMINATE"
UNLIKELY = "UNLIKELY"
UNKNOWN = "UNKNOWN"

# Higher = more deficient: "if total and active B12 disagree, the more deficient class wins".
_RANK = {UNLIKELY: 1, INDETERMINATE: 2, DEFICIENT: 3}


@dataclass(frozen=True, slots=True)
class B12Class:
    """One result's class; ``censored`` when a ``<``/``>`` value straddles a cut-off."""

    status: str
    censored: bool


@dataclass(frozen=True, slots=True)
class B12Assessment:
    """B12_STATUS at the view's time and the results it rests on.

    ``deciding`` are the B12/HoloTC results that set the class; ``mma`` the latest final MMA within
    validity, ``mma_high`` whether it is above the lab ULN (fallback 400 nmol/L); ``renal`` whether a
    creatinine above its ULN lies within 7 d (MMA/Hcy may be raised by renal impairment).
    """

    status: str
    deciding: tuple[Observation, ...]
    censored: bool
    mma: Observation | None
    mma_high: bool | None
    renal: tuple[Observation, ...]
    pending: tuple[Observation, ...]

    @property
    def deficient_or_functional(self) -> bool:
        return self.status in (DEFICIENT, FUNCTIONAL_DEFICIENCY)

    @property
    def evidence(self) -> tuple[Observation, ...]:
        extra = (self.mma,) if self.mma is not None and self.status == FUNCTIONAL_DEFICIENCY else ()
        return self.deciding + extra


def classify_b12(observation: Observation, config: RulesConfig) -> B12Class | None:
    """Class of one total or active B12 result with the NICE NG239 cut-offs; None if unusable.

    A censored value is classified only when its whole interval lies in one class; otherwise it is
    INDETERMINATE, annotated censored (spec 2.1: ``<200 ng/L`` → INDETERMINATE).
    """
    thresholds = config.b12
    if observation.analyte == B12_ACTIVE:
        low, high = thresholds.holotc_deficient_below_pmol_l, thresholds.holotc_unlikely_above_pmol_l
    else:
        low, high = thresholds.deficient_below_ng_l, thresholds.unlikely_above_ng_l
    if observation.value is None:
        return None
    if compare(observation, "<", low):
        return B12Class(DEFICIENT, bool(observation.comparator))
    if compare(observation, ">", high):
        return B12Class(UNLIKELY, bool(observation.comparator))
    exact = compare(observation, ">=", low) and compare(observation, "<=", high)
    return B12Class(INDETERMINATE, not exact)


def renal_impairment(view: HistoryView, config: RulesConfig) -> tuple[Observation, ...]:
    """Creatinine results above the lab ULN collected within the renal window (7 d) before the view."""
    since = view.at - days(config.mma.renal_window_days)
    return tuple(item for item in view.results(CREATININE, since) if above_upper_limit(item))


def assess_b12(view: HistoryView, config: RulesConfig) -> B12Assessment:
    """B12_STATUS: DEFICIENT if any deficient result within 365 d (sticky), else the more deficient
    class of the latest total and latest active B12 within 90 d, else UNKNOWN; INDETERMINATE with
    MMA above ULN is FUNCTIONAL_DEFICIENCY."""
    rules = config.b12
    sticky_since = view.at - days(rules.deficient_validity_days)
    recent_since = view.at - days(rules.validity_days)
    pending = view.pending_records(
        (B12_TOTAL, B12_ACTIVE), view.at - days(config.suggestions.b12.pending_days)
    )
    renal = renal_impairment(view, config)
    deficient = [
        item
        for item in view.results((B12_TOTAL, B12_ACTIVE), sticky_since)
        if (found := classify_b12(item, config)) is not None and found.status == DEFICIENT
    ]
    if deficient:
        latest = deficient[-1]
        return B12Assessment(DEFICIENT, (latest,), bool(latest.comparator), None, None, renal, pending)
    chosen: list[tuple[Observation, B12Class]] = []
    for analyte in (B12_TOTAL, B12_ACTIVE):
        usable = [
            (item, found)
            for item in view.results(analyte, recent_since)
            if (found := classify_b12(item, config)) is not None
        ]
        if usable:
            chosen.append(usable[-1])
    if not chosen:
        return B12Assessment(UNKNOWN, (), False, None, None, renal, pending)
    worst = max(_RANK[found.status] for _, found in chosen)
    deciding = tuple(item for item, found in chosen if _RANK[found.status] == worst)
    censored = any(found.censored for _, found in chosen if _RANK[found.status] == worst)
    status = next(found.status for _, found in chosen if _RANK[found.status] == worst)
    mma = view.latest(MMA, view.at - days(config.mma.validity_days))
    mma_high = None if mma is None else above_upper_limit(mma, config.mma.uln_fallback_nmol_l)
    if status == INDETERMINATE and mma_high:
        status = FUNCTIONAL_DEFICIENCY
    return B12Assessment(status, deciding, censored, mma, mma_high, renal, pending)
