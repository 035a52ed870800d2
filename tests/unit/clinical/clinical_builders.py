"""Builders for canonical observations and histories: a rule test needs observations and nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from b12stream.clinical.evaluate import evaluate
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Finding, Observation, PatientKey, ResultKey
from b12stream.clinical.rules_config import RulesConfig

PATIENT = PatientKey("MRN0001", "HOSP")
D0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CONFIG = RulesConfig()

# analyte -> (default LOINC, canonical unit)
DEFAULTS = {
    "platelets": ("777-3", "10*9/L"),
    "hemoglobin": ("718-7", "g/L"),
    "mcv": ("787-2", "fL"),
    "reticulocytes_pct": ("4679-7", "%"),
    "reticulocytes_abs": ("60474-4", "10*9/L"),
    "ldh": ("2532-0", "U/L"),
    "haptoglobin": ("4542-7", "g/L"),
    "bilirubin_total": ("1975-2", "umol/L"),
    "bilirubin_indirect": ("1971-1", "umol/L"),
    "creatinine": ("2160-0", "umol/L"),
    "inr": ("6301-6", "{INR}"),
    "neutrophils_abs": ("751-8", "10*9/L"),
    "b12_total": ("2132-9", "ng/L"),
    "b12_active": ("72160-5", "pmol/L"),
    "mma": ("13964-2", "nmol/L"),
    "homocysteine": ("13965-9", "umol/L"),
    "adamts13_activity": ("53622-7", "%"),
    "adamts13_inhibitor": ("40824-5", "BU/mL"),
    "intrinsic_factor_ab": ("31443-5", "AU/mL"),
    "parietal_cell_ab": ("8087-9", "[arb'U]/mL"),
    "schistocytes": ("800-3", ""),
    "hypersegmented_neutrophils": ("765-8", ""),
    "blood_film": ("18314-5", ""),
    "folate": ("2284-8", "nmol/L"),
    "cbc": ("58410-2", ""),
}


def day(n: float, hour: float = 0) -> datetime:
    return D0 + timedelta(days=n, hours=hour)


def obs(
    analyte: str,
    value: float | None,
    at: datetime,
    *,
    status: str = "F",
    code: str | None = None,
    unit: str | None = None,
    comparator: str = "",
    text: str = "",
    low: float | None = None,
    high: float | None = None,
    flags: Iterable[str] = (),
    filler: str | None = None,
    sub_id: str = "1",
    message: str = "MSG",
) -> Observation:
    default_code, default_unit = DEFAULTS[analyte]
    loinc = code or default_code
    return Observation(
        analyte=analyte,
        code=loinc,
        value=value,
        unit=default_unit if unit is None else unit,
        observed_at=at,
        status=status,
        result_key=ResultKey(filler or f"{analyte}@{at.isoformat()}", loinc, sub_id),
        source_message_id=message,
        comparator=comparator,
        text=text,
        reference_low=low,
        reference_high=high,
        flags=tuple(flags),
    )


def plt(value: float | None, at: datetime, **kwargs: Any) -> Observation:
    return obs("platelets", value, at, **kwargs)


def history_of(*observations: Observation) -> PatientHistory:
    history, _ = PatientHistory.empty(PATIENT).apply(observations)
    return history


def run(
    observations: Iterable[Observation], at: datetime, config: RulesConfig = CONFIG
) -> tuple[Finding, ...]:
    return evaluate(history_of(*observations), at, config)


def by_rule(findings: Iterable[Finding]) -> dict[str, Finding]:
    return {item.rule: item for item in findings}


def loincs(found: Finding) -> list[str]:
    return [order.loinc for order in found.suggested_orders]
