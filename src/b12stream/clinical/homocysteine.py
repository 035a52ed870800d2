"""Homocysteine band (spec 2.3, E16): normal, moderate, intermediate, severe."""

from __future__ import annotations

from dataclasses import dataclass

from b12stream.clinical.measure import compare
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView, days

__all__ = ["HOMOCYSTEINE", "HomocysteineAssessment", "assess_homocysteine", "hcy_band"]

HOMOCYSTEINE = "homocysteine"


@dataclass(frozen=True, slots=True)
class HomocysteineAssessment:
    """The latest final homocysteine within validity (90 d) and its band; band None if unreadable."""

    result: Observation | None
    band: str | None


def hcy_band(observation: Observation, config: RulesConfig) -> str | None:
    """'normal' (≤15), 'moderate' (>15–30), 'intermediate' (>30–100), 'severe' (>100) µmol/L.

    A censored value gets the band its whole interval lies in (``>100`` is severe, ``<10`` normal).
    A value censored from below (``>``, ``>=``) whose whole interval lies above normal gets the lowest
    band it reaches (``>50`` is intermediate): R08 fires in every band above normal, and that band's
    severity is the least the value can warrant. Otherwise (``>=15``, ``>10``, ``<50``) no band.
    """
    bands = config.homocysteine
    if compare(observation, ">", bands.intermediate_max_umol_l):
        return "severe"
    if compare(observation, "<=", bands.normal_max_umol_l):
        return "normal"
    for name, low, high in (
        ("moderate", bands.normal_max_umol_l, bands.moderate_max_umol_l),
        ("intermediate", bands.moderate_max_umol_l, bands.intermediate_max_umol_l),
    ):
        if compare(observation, ">", low) and compare(observation, "<=", high):
            return name
    if observation.comparator.strip() in (">", ">="):
        for name, low in (
            ("intermediate", bands.moderate_max_umol_l),
            ("moderate", bands.normal_max_umol_l),
        ):
            if compare(observation, ">", low):
                return name
    return None


def assess_homocysteine(view: HistoryView, config: RulesConfig) -> HomocysteineAssessment:
    result = view.latest(HOMOCYSTEINE, view.at - days(config.homocysteine.validity_days))
    return HomocysteineAssessment(result, None if result is None else hcy_band(result, config))
