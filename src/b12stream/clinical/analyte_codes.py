"""Analytes and the codes that stand for them: LOINC codes, a site's local codes, how a code matched."""

from __future__ import annotations

from dataclasses import dataclass

from b12stream.clinical.units import UnitTable

__all__ = ["Analyte", "CodeMatch", "LocalCode", "LoincCode"]


@dataclass(frozen=True, slots=True)
class LoincCode:
    """One LOINC code of an analyte; ``level`` is the spec's verification level (VR, V2, VL, U)."""

    code: str
    level: str
    name: str
    triggers: bool = True  # False: stored as the analyte, but never a rule trigger (plasma platelets)


@dataclass(frozen=True, slots=True)
class LocalCode:
    """A site's own code (any coding system but LOINC) for an analyte."""

    system: str
    code: str
    analyte: str
    triggers: bool = True


@dataclass(frozen=True, slots=True)
class Analyte:
    """An analyte id from the spec's Engine contract, with its codes and accepted units."""

    id: str
    key: str  # the spec's short key: PLT, B12, ...
    display: str
    canonical_unit: str  # UCUM; "" for qualitative results and orders; AS_REPORTED for A13I
    primary_loinc: str  # the code a suggested order uses (spec 2.4)
    codes: tuple[LoincCode, ...]
    units: UnitTable

    @property
    def loinc_codes(self) -> tuple[str, ...]:
        return tuple(code.code for code in self.codes)

    @property
    def store_only_codes(self) -> frozenset[str]:
        """LOINC codes stored as this analyte that never trigger a rule."""
        return frozenset(code.code for code in self.codes if not code.triggers)


@dataclass(frozen=True, slots=True)
class CodeMatch:
    """How a coded element was recognised: the analyte, the code and system that matched."""

    analyte: Analyte
    code: str
    system: str
    triggers: bool
    via: str  # "primary" (OBX-3.1-3) or "alternate" (OBX-3.4-6)
