"""Haemolysis, MAHA and HEMOLYTIC_TP around a thrombocytopenic index count (spec 2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from b12stream.clinical.episodes import Episode, is_thrombocytopenic
from b12stream.clinical.measure import above_upper_limit, below_lower_limit, presence, undetectable
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.tma_scores import Around, FeatureCount, PlasmicLab, count_features, plasmic_lab
from b12stream.clinical.view import HistoryView, hours

__all__ = [
    "HEMOLYTIC_TP",
    "MAHA",
    "HaemolysisPicture",
    "MahaAssessment",
    "assess_maha",
    "haemolysis_picture",
]

MAHA = "MAHA"
HEMOLYTIC_TP = "HEMOLYTIC_TP"


@dataclass(frozen=True, slots=True)
class HaemolysisPicture:
    """Haemolysis markers, anaemia and schistocytes around one thrombocytopenic count.

    ``markers`` names the positive HEMOLYSIS markers (LDH_HIGH, HAPT_LOW, IBIL_HIGH); ``kind`` is
    MAHA, HEMOLYTIC_TP or None.
    """

    index: Observation
    anaemia: Observation | None
    schistocytes: Observation | None
    schistocyte_reading: str | None
    markers: tuple[str, ...]
    evidence: tuple[Observation, ...]
    kind: str | None


@dataclass(frozen=True, slots=True)
class MahaAssessment:
    """MAHA or HEMOLYTIC_TP in the current episode (MAHA preferred, latest index first).

    ``index_times`` are all the counts at which it held, for ADAMTS13 validity (±7 d of the index).
    ``features`` and ``plasmic`` are scored around the chosen index.
    """

    kind: str | None
    picture: HaemolysisPicture | None
    index_times: tuple[datetime, ...]
    features: FeatureCount | None
    plasmic: PlasmicLab | None

    @property
    def present(self) -> bool:
        return self.kind is not None


def _anaemic(hgb: Observation, config: RulesConfig, sex: str) -> bool:
    rules = config.hemolysis
    fallback = rules.anemia_fallback_male_g_l if sex == "M" else rules.anemia_fallback_female_g_l
    return bool(below_lower_limit(hgb, fallback))


def haemolysis_picture(
    view: HistoryView, index: Observation, config: RulesConfig, sex: str = "U"
) -> HaemolysisPicture:
    """Assess MAHA = TP ∧ ANAEMIA ∧ SCHISTO_POS ∧ ≥1 marker, and HEMOLYTIC_TP = TP ∧ ANAEMIA ∧ ≥2
    markers with no (or an equivocal) schistocyte result, all within 72 h of ``index``.

    ``sex`` is 'M', 'F' or 'U' (unknown); only 'M' uses the male anaemia fallback (130 g/L).
    """
    window = hours(config.hemolysis.window_hours)
    around = Around(view, index.observed_at - window, index.observed_at + window)
    markers: list[str] = []
    evidence: list[Observation] = [index]
    ldh = around.latest("ldh")
    if ldh is not None and above_upper_limit(ldh):
        markers.append("LDH_HIGH")
        evidence.append(ldh)
    haptoglobin = around.latest("haptoglobin")
    if haptoglobin is not None and (undetectable(haptoglobin) or below_lower_limit(haptoglobin)):
        markers.append("HAPT_LOW")
        evidence.append(haptoglobin)
    bilirubin = around.latest("bilirubin_indirect") or around.latest("bilirubin_total")
    if bilirubin is not None and above_upper_limit(bilirubin):
        markers.append("IBIL_HIGH")
        evidence.append(bilirubin)
    hgb = around.latest("hemoglobin")
    anaemia = hgb if hgb is not None and _anaemic(hgb, config, sex) else None
    schistocytes = around.latest("schistocytes")
    reading = (
        None
        if schistocytes is None
        else presence(schistocytes, config.hemolysis.schistocytes_positive_above_pct)
    )
    kind = None
    if is_thrombocytopenic(index, config) and anaemia is not None:
        if reading == "positive" and markers:
            kind = MAHA
        elif reading in (None, "equivocal") and len(markers) >= 2:
            kind = HEMOLYTIC_TP
    if kind is not None:
        evidence.append(anaemia)
        if schistocytes is not None:
            evidence.append(schistocytes)
    return HaemolysisPicture(index, anaemia, schistocytes, reading, tuple(markers), tuple(evidence), kind)


def assess_maha(
    view: HistoryView, episode: Episode | None, config: RulesConfig, sex: str = "U"
) -> MahaAssessment:
    """MAHA / HEMOLYTIC_TP at any thrombocytopenic count of the open episode, with features and PLASMIC."""
    if episode is None or not episode.is_open:
        return MahaAssessment(None, None, (), None, None)
    pictures = [
        haemolysis_picture(view, result, config, sex)
        for result in episode.results
        if is_thrombocytopenic(result, config)
    ]
    positive = [picture for picture in pictures if picture.kind is not None]
    if not positive:
        return MahaAssessment(None, None, (), None, None)
    confirmed = [picture for picture in positive if picture.kind == MAHA]
    chosen = (confirmed or positive)[-1]
    window = hours(config.hemolysis.window_hours)
    around = Around(view, chosen.index.observed_at - window, chosen.index.observed_at + window)
    return MahaAssessment(
        kind=chosen.kind,
        picture=chosen,
        index_times=tuple(picture.index.observed_at for picture in positive),
        features=count_features(around, chosen.index, config),
        plasmic=plasmic_lab(around, chosen.index, config),
    )
