"""Rule thresholds and windows (spec defaults, overridable in config/rules.yaml), validated at load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from b12stream.clinical.history import Retention
from b12stream.config_file import ZERO_OK, dataclass_from_mapping, read_yaml_mapping
from b12stream.errors import ConfigError
from b12stream.paths import CONFIG_DIR

__all__ = [
    "DEFAULT_RULES_PATH",
    "Adamts13Config",
    "B12Config",
    "EpisodeConfig",
    "FeatureConfig",
    "HemolysisConfig",
    "HomocysteineConfig",
    "MmaConfig",
    "OrderChoiceConfig",
    "PlasmicConfig",
    "PlateletConfig",
    "R01Config",
    "R02Config",
    "R09Config",
    "RetentionConfig",
    "RulesConfig",
    "SuggestionConfig",
    "Window",
    "WindowConfig",
    "load_rules_config",
    "rules_config_from_mapping",
]

DEFAULT_RULES_PATH = CONFIG_DIR / "rules.yaml"

# Field metadata: zero allowed where "none" is a meaningful setting (OS-CBC has no pending window).


@dataclass(frozen=True, slots=True)
class PlateletConfig:
    lln_fallback_10e9_l: float = 150.0
    non_trigger_codes: tuple[str, ...] = ("13056-7", "26516-5")
    grade2_below_10e9_l: float = 75.0
    grade3_below_10e9_l: float = 50.0
    grade4_below_10e9_l: float = 25.0


@dataclass(frozen=True, slots=True)
class EpisodeConfig:
    close_normal_results: int = 2
    close_normal_spacing_hours: float = 24.0
    close_after_days_without_tp: float = 90.0


@dataclass(frozen=True, slots=True)
class R01Config:
    plt_below_10e9_l: float = 100.0
    persistence_results: int = 2
    persistence_spacing_hours: float = 24.0
    persistence_window_days: float = 30.0


@dataclass(frozen=True, slots=True)
class B12Config:
    deficient_below_ng_l: float = 180.0
    unlikely_above_ng_l: float = 350.0
    holotc_deficient_below_pmol_l: float = 25.0
    holotc_unlikely_above_pmol_l: float = 70.0
    deficient_validity_days: float = 365.0
    validity_days: float = 90.0


@dataclass(frozen=True, slots=True)
class MmaConfig:
    uln_fallback_nmol_l: float = 400.0
    validity_days: float = 90.0
    renal_window_days: float = 7.0


@dataclass(frozen=True, slots=True)
class HomocysteineConfig:
    normal_max_umol_l: float = 15.0
    moderate_max_umol_l: float = 30.0
    intermediate_max_umol_l: float = 100.0
    validity_days: float = 90.0


@dataclass(frozen=True, slots=True)
class HemolysisConfig:
    window_hours: float = 72.0
    anemia_fallback_male_g_l: float = 130.0
    anemia_fallback_female_g_l: float = 120.0
    schistocytes_positive_above_pct: float = 1.0


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    mcv_min_fl: float = 100.0
    reticulocytes_max_pct: float = 2.5
    ldh_min_u_l: float = 2000.0
    platelets_min_10e9_l: float = 30.0
    neutrophils_below_10e9_l: float = 1.5
    suggestive_count: int = 2
    strongly_suggestive_count: int = 3


@dataclass(frozen=True, slots=True)
class PlasmicConfig:
    platelets_below_10e9_l: float = 30.0
    reticulocytes_above_pct: float = 2.5
    indirect_bilirubin_above_umol_l: float = 34.2
    mcv_below_fl: float = 90.0
    inr_below: float = 1.5
    creatinine_below_umol_l: float = 176.8


@dataclass(frozen=True, slots=True)
class Adamts13Config:
    severe_below_pct: float = 10.0
    indeterminate_max_pct: float = 20.0
    maha_validity_days: float = 7.0


@dataclass(frozen=True, slots=True)
class R02Config:
    high_below_10e9_l: float = 50.0


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Look-back windows that are not validity windows: R03 'TP within 30 d', R08 'TP within 14 d'."""

    r03_tp_days: float = 30.0
    r08_tp_days: float = 14.0


@dataclass(frozen=True, slots=True)
class R09Config:
    non_response_days: float = 14.0
    improving_factor: float = 1.5
    worsening_below_10e9_l: float = 50.0
    worsening_drop_fraction: float = 0.25
    film_window_days: float = 14.0


@dataclass(frozen=True, slots=True)
class Window:
    """R11 (a) result validity and (b) pending window of one order set, in days."""

    validity_days: float = 90.0
    pending_days: float = field(default=7.0, metadata=ZERO_OK)


@dataclass(frozen=True, slots=True)
class SuggestionConfig:
    b12: Window = Window(90.0, 7.0)
    b12_deficient_validity_days: float = 365.0
    folate: Window = Window(90.0, 7.0)
    film: Window = Window(3.0, 1.0)
    mma: Window = Window(90.0, 14.0)
    homocysteine: Window = Window(90.0, 14.0)
    intrinsic_factor: Window = Window(1826.0, 14.0)
    parietal_cell: Window = Window(1826.0, 14.0)
    hemolysis: Window = Window(3.0, 1.0)
    adamts13: Window = Window(30.0, 14.0)
    adamts13_inhibitor: Window = Window(30.0, 14.0)
    cbc: Window = Window(1.0, 0.0)


@dataclass(frozen=True, slots=True)
class OrderChoiceConfig:
    """Site choices in spec 2.4: which B12 and intrinsic-factor codes to suggest, and whether PCA."""

    b12_loinc: str = "2132-9"
    intrinsic_factor_loinc: str = "31443-5"
    suggest_parietal_cell: bool = True


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    default_days: float = 400.0
    antibody_days: float = 1826.0


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Every threshold the rules use, in canonical units (the unit is in each key's name)."""

    secondary_triggers: bool = True
    platelets: PlateletConfig = PlateletConfig()
    episode: EpisodeConfig = EpisodeConfig()
    r01: R01Config = R01Config()
    b12: B12Config = B12Config()
    mma: MmaConfig = MmaConfig()
    homocysteine: HomocysteineConfig = HomocysteineConfig()
    hemolysis: HemolysisConfig = HemolysisConfig()
    features: FeatureConfig = FeatureConfig()
    plasmic: PlasmicConfig = PlasmicConfig()
    adamts13: Adamts13Config = Adamts13Config()
    r02: R02Config = R02Config()
    windows: WindowConfig = WindowConfig()
    r09: R09Config = R09Config()
    suggestions: SuggestionConfig = SuggestionConfig()
    orders: OrderChoiceConfig = OrderChoiceConfig()
    retention: RetentionConfig = RetentionConfig()

    @property
    def history_retention(self) -> Retention:
        """The retention to pass to ``PatientHistory.pruned``."""
        return _history_retention(self.retention)


@lru_cache(maxsize=16)  # asked at every message
def _history_retention(config: RetentionConfig) -> Retention:
    return Retention(default_days=config.default_days, long_lived_days=config.antibody_days)


# (lower, upper) pairs that must be strictly ordered; dotted keys as in rules.yaml.
_ORDERED_PAIRS = (
    ("b12.deficient_below_ng_l", "b12.unlikely_above_ng_l"),
    ("b12.holotc_deficient_below_pmol_l", "b12.holotc_unlikely_above_pmol_l"),
    ("homocysteine.normal_max_umol_l", "homocysteine.moderate_max_umol_l"),
    ("homocysteine.moderate_max_umol_l", "homocysteine.intermediate_max_umol_l"),
    ("adamts13.severe_below_pct", "adamts13.indeterminate_max_pct"),
    ("platelets.grade4_below_10e9_l", "platelets.grade3_below_10e9_l"),
    ("platelets.grade3_below_10e9_l", "platelets.grade2_below_10e9_l"),
    ("features.suggestive_count", "features.strongly_suggestive_count"),
)


def load_rules_config(path: Path | None = None) -> RulesConfig:
    """Read rules.yaml (default ``config/rules.yaml``) over the spec defaults.

    Raises ConfigError naming the key for an unknown key, a wrong type, an impossible value
    (zero or negative where a positive number is needed) or an inverted pair (low above high).
    """
    source = path or DEFAULT_RULES_PATH
    return rules_config_from_mapping(read_yaml_mapping(source), source.name)


def _check_order(config: RulesConfig, source: str) -> None:
    for low_key, high_key in _ORDERED_PAIRS:
        low, high = _lookup(config, low_key), _lookup(config, high_key)
        if low >= high:
            raise ConfigError(f"{source}: {low_key} ({low:g}) must be below {high_key} ({high:g})")


def rules_config_from_mapping(document: Mapping[str, Any], name: str = "rules") -> RulesConfig:
    """Build from an already-parsed mapping (for tests and embedded configuration); same checks."""
    config: RulesConfig = dataclass_from_mapping(RulesConfig(), document, name)
    _check_order(config, name)
    return config


def _lookup(config: RulesConfig, dotted: str) -> float:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return float(value)
