"""Reading one result against a limit: censored values, lab reference limits, flags, qualitative text."""

from __future__ import annotations

import math
import re

from b12stream.clinical.model import Observation

__all__ = [
    "above_upper_limit",
    "below_lower_limit",
    "compare",
    "format_value",
    "presence",
    "undetectable",
]

_HIGH_FLAGS = frozenset({"H", "HH", ">"})
_LOW_FLAGS = frozenset({"L", "LL", "<"})
_NORMAL_FLAGS = frozenset({"N"})
_POSITIVE_FLAGS = frozenset({"POS", "DET", "A", "AA"})
_NEGATIVE_FLAGS = frozenset({"NEG", "ND", "N"})

_POSITIVE_WORDS = frozenset(
    {"present", "pos", "positive", "det", "detected", "moderate", "many", "marked", "numerous", "seen"}
)
_EQUIVOCAL_WORDS = frozenset(
    {"rare", "occasional", "few", "equivocal", "borderline", "slight", "indeterminate"}
)
_NEGATIVE_WORDS = frozenset(
    {"absent", "neg", "negative", "nd", "not detected", "not seen", "none", "none seen", "nil", "0"}
)
_DISPLAY_UNITS = {"10*9/L": "×10⁹/L", "{INR}": "", "umol/L": "µmol/L"}
_GRADE = re.compile(r"^(?:>=|≥)?\s*([1-4])\s*\+$")


def _interval(observation: Observation) -> tuple[float, bool, float, bool] | None:
    """(low, low inclusive, high, high inclusive) of what a numeric, possibly censored, value can be."""
    value = observation.value
    if value is None or math.isnan(value):
        return None
    if not observation.comparator:  # the usual case: an exact value
        return (value, True, value, True)
    comparator = observation.comparator.strip()
    if comparator == "<":
        return (-math.inf, False, value, False)
    if comparator == "<=":
        return (-math.inf, False, value, True)
    if comparator == ">":
        return (value, False, math.inf, False)
    if comparator == ">=":
        return (value, True, math.inf, False)
    return (value, True, value, True)


def compare(observation: Observation, operator: str, limit: float) -> bool | None:
    """Whether the value satisfies ``value <operator> limit``; None if unknown.

    A censored value (``<50``) answers only when its whole interval falls on one side of the limit.
    ``operator`` is one of ``<``, ``<=``, ``>``, ``>=``.
    """
    bounds = _interval(observation)
    if bounds is None:
        return None
    low, low_inclusive, high, high_inclusive = bounds
    if operator == "<":
        all_satisfy = high < limit or (high == limit and not high_inclusive)  # every value < limit
        none_satisfy = low >= limit  # every value >= limit
    elif operator == "<=":
        all_satisfy = high <= limit
        none_satisfy = low > limit or (low == limit and not low_inclusive)
    elif operator == ">":
        all_satisfy = low > limit or (low == limit and not low_inclusive)
        none_satisfy = high <= limit
    elif operator == ">=":
        all_satisfy = low >= limit
        none_satisfy = high < limit or (high == limit and not high_inclusive)
    else:
        raise KeyError(operator)
    if all_satisfy:
        return True
    if none_satisfy:
        return False
    return None


def _flagged(observation: Observation, wanted: frozenset[str], contrary: frozenset[str]) -> bool | None:
    flags = {flag.strip().upper() for flag in observation.flags}
    if flags & wanted:
        return True
    if flags & contrary or flags & _NORMAL_FLAGS:
        return False
    return None


def above_upper_limit(observation: Observation, fallback: float | None = None) -> bool | None:
    """Value > lab ULN (OBX-7), else > ``fallback``; without either (or without a usable value) the
    OBX-8 flags decide. None when nothing can tell."""
    limit = observation.reference_high if observation.reference_high is not None else fallback
    if limit is not None and observation.value is not None:
        verdict = compare(observation, ">", limit)
        if verdict is not None:
            return verdict
    return _flagged(observation, _HIGH_FLAGS, _LOW_FLAGS)


def below_lower_limit(observation: Observation, fallback: float | None = None) -> bool | None:
    """Value < lab LLN (OBX-7), else < ``fallback``; otherwise the OBX-8 flags decide."""
    limit = observation.reference_low if observation.reference_low is not None else fallback
    if limit is not None and observation.value is not None:
        verdict = compare(observation, "<", limit)
        if verdict is not None:
            return verdict
    return _flagged(observation, _LOW_FLAGS, _HIGH_FLAGS)


def undetectable(observation: Observation) -> bool:
    """Reported below the limit of quantitation: a ``<`` comparator, zero, or 'undetectable' text."""
    if observation.comparator.strip() in ("<", "<="):
        return True
    if observation.value is not None and observation.value <= 0:
        return True
    text = observation.text.strip().lower()
    return text.startswith("<") or "undetect" in text or text in ("not detected", "nd")


def presence(observation: Observation, positive_above_pct: float) -> str | None:
    """A morphology finding as 'positive', 'equivocal' or 'negative' (spec 1, SCHI/HSN); None if unreadable.

    Text grades: Present/POS/DET/>=1+/Moderate/Many are positive, Rare/Occasional/Few equivocal.
    A percentage is positive above ``positive_above_pct``.
    """
    text = observation.text.strip().lower()
    if text:
        if text in _POSITIVE_WORDS or _GRADE.match(text):
            return "positive"
        if text in _EQUIVOCAL_WORDS:
            return "equivocal"
        if text in _NEGATIVE_WORDS:
            return "negative"
    if observation.value is not None and observation.unit.strip() == "%":
        verdict = compare(observation, ">", positive_above_pct)
        if verdict is not None:
            return "positive" if verdict else "negative"
    flagged = _flagged(observation, _POSITIVE_FLAGS, _NEGATIVE_FLAGS)
    if flagged is None:
        return None
    return "positive" if flagged else "negative"


def format_value(observation: Observation) -> str:
    """The value as a clinician reads it: comparator, number (no needless decimals), unit or text."""
    if observation.value is None:
        return observation.text or "(no value)"
    value = observation.value
    number = f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.3g}"
    shown = _DISPLAY_UNITS.get(observation.unit, observation.unit)
    unit = f" {shown}" if shown else ""
    return f"{observation.comparator}{number}{unit}"
