"""Units as labs spell them, read against one analyte's table of accepted units and factors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isfinite

from b12stream.hl7.values import parse_decimal

__all__ = [
    "AS_REPORTED",
    "Conversion",
    "UnitTable",
    "convert",
    "parse_censored",
    "spelling_key",
]

AS_REPORTED = "as_reported"
"""The canonical unit of an analyte whose accepted units are kept as sent (no conversion between them)."""

# After `^` became `*`: x10*3/uL, x10E3/uL, 10e9/L, ×10*9/L → 10*3/uL, 10*9/L.
_POWER_OF_TEN = re.compile(r"^[xX×]?10(?:\*|[eE])(\d+)(?=/)")
_MICRO_SIGNS = str.maketrans({"\u00b5": "u", "\u03bc": "u", "^": "*"})
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_MEMO_SIZE = 1024
_VALUES_KEPT = 4096
_CENSORED = re.compile(r"^(<=|>=|<|>|=)?([-+]?(?:\d+(?:\.\d*)?|\.\d+))$")


def spelling_key(unit: str) -> str:
    """The lexical normal form two spellings of one unit share; case is kept (see `UnitTable`).

    Whitespace is removed, MICRO SIGN (U+00B5) and GREEK SMALL LETTER MU (U+03BC) read as ``u``,
    ``^`` as UCUM ``*``, and a leading power of ten (``x10E3/``, ``x10^3/``, ``10e9/``) as ``10*N/``.
    """
    text = "".join(unit.split()).translate(_MICRO_SIGNS)
    return _POWER_OF_TEN.sub(r"10*\1", text)


@dataclass(frozen=True, slots=True)
class Conversion:
    """Multiply a value sent in some unit by ``factor`` to get it in ``unit``."""

    factor: float
    unit: str
    # Numbers as sent → `convert` of them: a lab reports the same few hundred values per analyte, and
    # formatting to 12 digits and back is the dearest step of a conversion (bounded memo).
    _converted: dict[float, float | None] = field(default_factory=dict, init=False, compare=False, repr=False)

    def apply(self, number: float) -> float | None:
        """``convert(number, self)``, memoised."""
        converted = self._converted.get(number)
        if converted is None or not number:  # 0.0 and -0.0 are one key but convert to two values
            converted = convert(number, self)
            if len(self._converted) >= _VALUES_KEPT:
                self._converted.clear()
            self._converted[number] = converted
        return converted


@dataclass(frozen=True, slots=True)
class UnitTable:
    """One analyte's accepted units.

    ``canonical`` is the UCUM unit values convert to, ``""`` when the analyte takes no numeric values,
    or `AS_REPORTED` when each accepted unit is kept as its own unit. ``accepted`` pairs a spelling
    with its factor to the canonical unit; ``aliases`` pairs another spelling with an accepted one.
    ``empty_unit_ok`` lets an empty unit mean the canonical unit (unitless results such as INR).
    """

    canonical: str
    accepted: tuple[tuple[str, float], ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    empty_unit_ok: bool = False
    _exact: dict[str, Conversion] = field(default_factory=dict, init=False, compare=False, repr=False)
    _folded: dict[str, Conversion] = field(default_factory=dict, init=False, compare=False, repr=False)
    # Units as sent → lookup result: a feed repeats a handful of spellings (bounded memo).
    _seen: dict[str, Conversion | None] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for spelling, factor in self.accepted:
            unit = spelling if self.canonical == AS_REPORTED else self.canonical
            self._exact[spelling_key(spelling)] = Conversion(factor, unit)
        for alias, target in self.aliases:
            known = self._exact.get(spelling_key(target))
            if known is not None:
                self._exact.setdefault(spelling_key(alias), known)
        by_fold: dict[str, set[Conversion]] = {}
        for key, conversion in self._exact.items():
            by_fold.setdefault(key.casefold(), set()).add(conversion)
        # Case is ignored only where no two accepted spellings differ by case alone (mU/L vs MU/L).
        self._folded.update({fold: next(iter(found)) for fold, found in by_fold.items() if len(found) == 1})

    @classmethod
    def build(
        cls,
        canonical: str,
        accepted: Mapping[str, float],
        aliases: Mapping[str, str] | None = None,
        *,
        empty_unit_ok: bool = False,
    ) -> UnitTable:
        """A table from plain mappings (as read from configuration)."""
        return cls(
            canonical=canonical,
            accepted=tuple((str(unit), float(factor)) for unit, factor in accepted.items()),
            aliases=tuple((str(alias), str(target)) for alias, target in (aliases or {}).items()),
            empty_unit_ok=empty_unit_ok,
        )

    @property
    def takes_numbers(self) -> bool:
        """False for analytes reported only as presence/text (no accepted unit at all)."""
        return bool(self.accepted) or self.empty_unit_ok

    def lookup(self, unit: str) -> Conversion | None:
        """The conversion for a unit as sent, or None when the unit is unknown for this analyte.

        Exact match on `spelling_key` first, then a case-insensitive match when unambiguous, then
        the same with UCUM ``{annotations}`` removed (unless nothing would be left).
        """
        if unit in self._seen:
            return self._seen[unit]
        found = self._lookup(unit)
        if len(self._seen) >= _MEMO_SIZE:
            self._seen.clear()
        self._seen[unit] = found
        return found

    def _lookup(self, unit: str) -> Conversion | None:
        key = spelling_key(unit)
        if not key:
            return Conversion(1.0, self.canonical) if self.empty_unit_ok else None
        found = self._find(key)
        if found is None:
            # UCUM annotations are unity ({cells}/uL is /uL), but never reduce a unit to "no unit".
            bare = _ANNOTATION.sub("", key)
            found = self._find(bare) if bare and bare != key else None
        return found

    def _find(self, key: str) -> Conversion | None:
        return self._exact.get(key) or self._folded.get(key.casefold())


def convert(number: float, conversion: Conversion) -> float | None:
    """``number`` in the conversion's unit, without binary noise (12 significant digits kept); None
    when that is beyond the float range (a huge value times a factor above 1 overflows to infinity)."""
    converted = number * conversion.factor
    return float(f"{converted:.12g}") if isfinite(converted) else None


def parse_censored(text: str) -> tuple[str, float] | None:
    """``"<10"`` → ``("<", 10.0)``, ``"42"`` → ``("", 42.0)``; None unless the whole text is one number
    within the float range.

    Accepted comparators: ``<``, ``>``, ``<=``, ``>=``, ``=`` (``=`` is returned as ``""``).
    """
    match = _CENSORED.match("".join(text.split()))
    if match is None:
        return None
    number = parse_decimal(match.group(2))
    if number is None:
        return None
    comparator = match.group(1) or ""
    return ("" if comparator == "=" else comparator), number
