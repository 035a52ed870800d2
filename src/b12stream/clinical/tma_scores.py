"""PSEUDO_TMA_FEATURES (F1–F6) and PLASMIC_LAB (5 lab items) around a MAHA index count (spec 2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from b12stream.clinical.measure import below_lower_limit, compare, presence, undetectable
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView

__all__ = ["Around", "FeatureCount", "PlasmicLab", "count_features", "plasmic_lab"]


@dataclass(frozen=True, slots=True)
class Around:
    """Latest final result per analyte collected in [start, end] (the 72 h around an index count)."""

    view: HistoryView
    start: datetime
    end: datetime

    def latest(self, analyte: str) -> Observation | None:
        return self.view.latest(analyte, self.start, self.end)


@dataclass(frozen=True, slots=True)
class FeatureCount:
    """Pseudo-TMA features present, e.g. ('F1 MCV ≥100 fL', ...); an engineering heuristic, not a score."""

    present: tuple[str, ...]
    evidence: tuple[Observation, ...]

    @property
    def count(self) -> int:
        return len(self.present)

    def strength(self, config: RulesConfig) -> str | None:
        """'strongly suggestive' (≥3), 'suggestive' (≥2) or None."""
        if self.count >= config.features.strongly_suggestive_count:
            return "strongly suggestive"
        if self.count >= config.features.suggestive_count:
            return "suggestive"
        return None


@dataclass(frozen=True, slots=True)
class PlasmicLab:
    """The five PLASMIC laboratory items: met, not met, and missing (not scored)."""

    met: tuple[str, ...]
    not_met: tuple[str, ...]
    missing: tuple[str, ...]
    evidence: tuple[Observation, ...]

    @property
    def score(self) -> int:
        return len(self.met)

    def text(self) -> str:
        """'lab x/5; total x..x+2' (no active cancer and no transplant are invisible in a lab feed)."""
        base = f"PLASMIC lab {self.score}/5; total {self.score}..{self.score + 2}"
        return f"{base} (not scored: {', '.join(self.missing)})" if self.missing else base

    @property
    def high_ttp_likelihood(self) -> bool:
        """All of platelets <30, MCV <90, INR <1.5 and creatinine <2.0 mg/dL (R07 critical)."""
        return {"platelets", "MCV", "INR", "creatinine"} <= set(self.met)


def _compare(observation: Observation | None, operator: str, limit: float) -> bool | None:
    return None if observation is None else compare(observation, operator, limit)


def count_features(around: Around, index: Observation, config: RulesConfig) -> FeatureCount:
    """Count F1–F6 within the window; a feature without a readable result is absent."""
    rules = config.features
    present: list[str] = []
    evidence: list[Observation] = []

    def check(label: str, observation: Observation | None, verdict: bool | None) -> None:
        if observation is not None and verdict:
            present.append(label)
            evidence.append(observation)

    mcv = around.latest("mcv")
    check(f"F1 MCV ≥{rules.mcv_min_fl:g} fL", mcv, _compare(mcv, ">=", rules.mcv_min_fl))
    retic_pct = around.latest("reticulocytes_pct")
    retic_abs = around.latest("reticulocytes_abs")
    if retic_pct is not None and compare(retic_pct, "<=", rules.reticulocytes_max_pct):
        check("F2 no reticulocytosis", retic_pct, True)
    elif retic_abs is not None and below_lower_limit(retic_abs):
        check("F2 no reticulocytosis", retic_abs, True)
    ldh = around.latest("ldh")
    check(f"F3 LDH ≥{rules.ldh_min_u_l:g} U/L", ldh, _compare(ldh, ">=", rules.ldh_min_u_l))
    check(
        f"F4 platelets ≥{rules.platelets_min_10e9_l:g} ×10⁹/L",
        index,
        compare(index, ">=", rules.platelets_min_10e9_l),
    )
    hsn = around.latest("hypersegmented_neutrophils")
    positive_above = config.hemolysis.schistocytes_positive_above_pct
    check(
        "F5 hypersegmented neutrophils", hsn, hsn is not None and presence(hsn, positive_above) == "positive"
    )
    anc = around.latest("neutrophils_abs")
    check(
        f"F6 neutrophils <{rules.neutrophils_below_10e9_l:g} ×10⁹/L",
        anc,
        _compare(anc, "<", rules.neutrophils_below_10e9_l),
    )
    return FeatureCount(tuple(present), tuple(evidence))


def plasmic_lab(around: Around, index: Observation, config: RulesConfig) -> PlasmicLab:
    """Score the PLASMIC lab items around ``index``; an item with no readable result is missing."""
    rules = config.plasmic
    met: list[str] = []
    not_met: list[str] = []
    missing: list[str] = []
    evidence: list[Observation] = []

    def score(item: str, observation: Observation | None, verdict: bool | None) -> None:
        if observation is None or verdict is None:
            missing.append(item)
            return
        (met if verdict else not_met).append(item)
        if verdict:
            evidence.append(observation)

    score("platelets", index, compare(index, "<", rules.platelets_below_10e9_l))
    retic = around.latest("reticulocytes_pct")
    haptoglobin = around.latest("haptoglobin")
    indirect = around.latest("bilirubin_indirect")
    haemolysis = [
        (retic, _compare(retic, ">", rules.reticulocytes_above_pct)),
        (haptoglobin, None if haptoglobin is None else undetectable(haptoglobin)),
        (indirect, _compare(indirect, ">", rules.indirect_bilirubin_above_umol_l)),
    ]
    readable = [(item, verdict) for item, verdict in haemolysis if item is not None and verdict is not None]
    positive = next((item for item, verdict in readable if verdict), None)
    score(
        "haemolysis",
        positive or (readable[0][0] if readable else None),
        (positive is not None) if readable else None,
    )
    mcv = around.latest("mcv")
    score("MCV", mcv, _compare(mcv, "<", rules.mcv_below_fl))
    inr = around.latest("inr")
    score("INR", inr, _compare(inr, "<", rules.inr_below))
    creatinine = around.latest("creatinine")
    score("creatinine", creatinine, _compare(creatinine, "<", rules.creatinine_below_umol_l))
    return PlasmicLab(tuple(met), tuple(not_met), tuple(missing), tuple(evidence))
