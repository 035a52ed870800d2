"""Reading and checking terminology YAML files (the default, then site files) into plain entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b12stream.clinical.analyte_codes import LocalCode, LoincCode
from b12stream.clinical.units import spelling_key
from b12stream.config_file import read_yaml_mapping, shown
from b12stream.errors import ConfigError

__all__ = [
    "VERIFICATION_LEVELS",
    "AnalyteEntry",
    "TerminologyData",
    "is_valid_loinc",
    "load_terminology_data",
]

VERIFICATION_LEVELS = frozenset({"VR", "V2", "VL", "U"})
_TOP_LEVEL = frozenset(
    {"loinc_systems", "unit_aliases", "result_codes", "excluded", "analytes", "local_codes"}
)
_ANALYTE_KEYS = frozenset(
    {"key", "display", "canonical_unit", "primary_loinc", "codes", "units", "empty_unit_ok"}
)
_REPLACEABLE = frozenset({"display", "primary_loinc"})


@dataclass(slots=True)
class AnalyteEntry:
    key: str
    display: str
    canonical_unit: str
    primary_loinc: str
    codes: list[LoincCode]
    units: dict[str, float] = field(default_factory=dict)
    empty_unit_ok: bool = False


@dataclass(slots=True)
class TerminologyData:
    """All files merged, checked: every code valid, unique, and pointing at a known analyte."""

    analytes: dict[str, AnalyteEntry] = field(default_factory=dict)
    unit_aliases: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    local_codes: list[LocalCode] = field(default_factory=list)
    loinc_systems: frozenset[str] = frozenset()
    result_codes: dict[str, str] = field(default_factory=dict)


def is_valid_loinc(code: str) -> bool:
    """True when ``code`` is ``digits-check`` and the check digit passes LOINC's mod-10 algorithm."""
    number, dash, check = code.partition("-")
    if not (dash and number.isdigit() and check.isdigit() and len(check) == 1):
        return False
    total = 0
    for position, digit in enumerate(reversed(number)):
        doubled = int(digit) * (2 if position % 2 == 0 else 1)
        total += doubled // 10 + doubled % 10
    return (10 - total % 10) % 10 == int(check)


def load_terminology_data(paths: Sequence[Path]) -> TerminologyData:
    """Merge the files in order and check the result; raises `ConfigError` naming file and key."""
    data = TerminologyData()
    for path in paths:
        _merge(data, read_yaml_mapping(path), path.name)
    _check(data)
    return data


def _merge(data: TerminologyData, raw: Mapping[str, Any], where: str) -> None:
    unknown = sorted(key for key in raw if key not in _TOP_LEVEL and not str(key).startswith("x-"))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {sorted(_TOP_LEVEL)})")
    systems = _list(raw.get("loinc_systems", []), f"{where}: loinc_systems")
    data.loinc_systems |= frozenset(_text(s, f"{where}: loinc_systems") for s in systems)
    for alias, target in _mapping(raw.get("unit_aliases", {}), f"{where}: unit_aliases").items():
        at = f"{where}: unit_aliases.{alias}"
        target = _text(target, at)
        known = data.unit_aliases.setdefault(str(alias), target)
        if known != target:
            raise ConfigError(f"{at} already means {shown(known, at)}, got {shown(target, at)}")
    for code, word in _mapping(raw.get("result_codes", {}), f"{where}: result_codes").items():
        at = f"{where}: result_codes.{code}"
        word = _text(word, at)
        known = data.result_codes.setdefault(str(code), word)
        if known != word:
            raise ConfigError(f"{at} already reads {shown(known, at)}, got {shown(word, at)}")
    for index, item in enumerate(_list(raw.get("excluded", []), f"{where}: excluded")):
        at = f"{where}: excluded[{index}]"
        entry = _mapping(item, at)
        data.excluded[_text(entry.get("code"), f"{at}.code")] = _text(entry.get("reason"), f"{at}.reason")
    for analyte_id, item in _mapping(raw.get("analytes", {}), f"{where}: analytes").items():
        _merge_analyte(data, str(analyte_id), _mapping(item, f"{where}: analytes.{analyte_id}"), where)
    for index, item in enumerate(_list(raw.get("local_codes", []), f"{where}: local_codes")):
        at = f"{where}: local_codes[{index}]"
        data.local_codes.append(_local_code(_mapping(item, at), at, data))


def _merge_analyte(data: TerminologyData, analyte_id: str, raw: Mapping[str, Any], where: str) -> None:
    at = f"{where}: analytes.{analyte_id}"
    unknown = sorted(set(raw) - _ANALYTE_KEYS)
    if unknown:
        raise ConfigError(f"{at}: unknown key {unknown[0]!r} (known: {sorted(_ANALYTE_KEYS)})")
    listed = _list(raw.get("codes", []), f"{at}.codes")
    codes = [_code(item, f"{at}.codes[{i}]") for i, item in enumerate(listed)]
    units = {
        str(unit): _factor(factor, f"{at}.units.{unit}")
        for unit, factor in _mapping(raw.get("units", {}), f"{at}.units").items()
    }
    known = data.analytes.get(analyte_id)
    if known is None:
        data.analytes[analyte_id] = AnalyteEntry(
            key=_text(raw.get("key"), f"{at}.key"),
            display=_text(raw.get("display"), f"{at}.display"),
            canonical_unit=_text(raw.get("canonical_unit"), f"{at}.canonical_unit", empty_ok=True),
            primary_loinc=_text(raw.get("primary_loinc"), f"{at}.primary_loinc"),
            codes=codes,
            units=units,
            empty_unit_ok=_flag(raw.get("empty_unit_ok", False), f"{at}.empty_unit_ok"),
        )
        return
    # A later file extends an analyte: more codes and units, and may replace display or primary LOINC.
    fixed = sorted(set(raw) - _REPLACEABLE - {"codes", "units"})
    if fixed:
        raise ConfigError(f"{at}.{fixed[0]}: already defined by an earlier file and cannot be changed")
    known.codes.extend(codes)
    known.units.update(units)
    for name in sorted(_REPLACEABLE & set(raw)):
        setattr(known, name, _text(raw[name], f"{at}.{name}"))


def _code(raw: Any, at: str) -> LoincCode:
    entry = _mapping(raw, at)
    level = _text(entry.get("level"), f"{at}.level")
    if level not in VERIFICATION_LEVELS:
        raise ConfigError(f"{at}.level: {level!r} is not one of {sorted(VERIFICATION_LEVELS)}")
    return LoincCode(
        code=_text(entry.get("code"), f"{at}.code"),
        level=level,
        name=_text(entry.get("name"), f"{at}.name"),
        triggers=_flag(entry.get("triggers", True), f"{at}.triggers"),
    )


def _local_code(entry: Mapping[str, Any], at: str, data: TerminologyData) -> LocalCode:
    system = _text(entry.get("system"), f"{at}.system", empty_ok=True)
    code = _text(entry.get("code"), f"{at}.code")
    if system.casefold() in {s.casefold() for s in data.loinc_systems}:
        raise ConfigError(f"{at}: LOINC codes belong under analytes.<id>.codes, not local_codes")
    return LocalCode(
        system=system,
        code=code,
        analyte=_text(entry.get("analyte"), f"{at}.analyte"),
        triggers=_flag(entry.get("triggers", True), f"{at}.triggers"),
    )


def _check(data: TerminologyData) -> None:
    if not data.loinc_systems:
        raise ConfigError("terminology: loinc_systems is empty")
    owner: dict[str, str] = {}
    for analyte_id, entry in data.analytes.items():
        at = f"terminology: analytes.{analyte_id}"
        if not entry.codes:
            raise ConfigError(f"{at}.codes: an analyte needs at least one LOINC code")
        for code in entry.codes:
            if not is_valid_loinc(code.code):
                raise ConfigError(f"{at}.codes: {code.code!r} fails the LOINC check digit")
            if code.code in data.excluded:
                raise ConfigError(f"{at}.codes: {code.code!r} is excluded ({data.excluded[code.code]})")
            previous = owner.setdefault(code.code, analyte_id)
            if previous != analyte_id or sum(c.code == code.code for c in entry.codes) > 1:
                raise ConfigError(f"{at}.codes: {code.code!r} is listed twice (also {previous})")
        if entry.primary_loinc not in {code.code for code in entry.codes}:
            raise ConfigError(f"{at}.primary_loinc: {entry.primary_loinc!r} is not one of its codes")
    _check_case_safety(data)
    seen: dict[tuple[str, str], str] = {}
    for local in data.local_codes:
        at = f"terminology: local_codes[{local.system}^{local.code}]"
        if local.analyte not in data.analytes:
            raise ConfigError(f"{at}.analyte: unknown analyte {local.analyte!r}")
        previous = seen.setdefault((local.system.casefold(), local.code), local.analyte)
        if previous != local.analyte:
            raise ConfigError(f"{at}: already maps to {previous}")


def _check_case_safety(data: TerminologyData) -> None:
    """Units are matched case-insensitively, so no two spellings that differ by case alone may mean
    different units (``G/L`` giga per litre against ``g/L`` grams per litre would make ``g/l`` ambiguous).
    """
    meaning = {spelling_key(target): spelling_key(target) for target in data.unit_aliases.values()}
    for entry in data.analytes.values():
        meaning.update({spelling_key(unit): spelling_key(unit) for unit in entry.units})
    meaning.update({spelling_key(alias): spelling_key(target) for alias, target in data.unit_aliases.items()})
    by_fold: dict[str, dict[str, str]] = {}
    for key, unit in meaning.items():
        by_fold.setdefault(key.casefold(), {})[unit] = key
    for group in by_fold.values():
        if len(group) > 1:
            first, second = sorted(group.values())[:2]
            raise ConfigError(f"terminology: units {first!r} and {second!r} differ only by case")


def _mapping(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{at}: expected a mapping, got {shown(value, at)}")
    return value


def _list(value: Any, at: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{at}: expected a list, got {shown(value, at)}")
    return value


def _text(value: Any, at: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        expected = "text" if empty_ok else "non-empty text"
        raise ConfigError(f"{at}: expected {expected}, got {shown(value, at)}")
    return value.strip()


def _flag(value: Any, at: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{at}: expected true or false, got {shown(value, at)}")
    return value


def _factor(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{at}: expected a positive number, got {shown(value, at)}")
    return float(value)
