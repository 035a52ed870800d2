"""One OBX value read against its analyte: a number in the canonical unit, qualitative text, or why not."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from b12stream.clinical.analyte_codes import Analyte
from b12stream.clinical.reference_range import ReferenceRange
from b12stream.clinical.units import Conversion, parse_censored
from b12stream.hl7.model import RawObservation

__all__ = ["MAX_TEXT_LENGTH", "NUMERIC_TYPES", "ResultValue", "read_value"]

MAX_TEXT_LENGTH = 200
"""Qualitative text longer than this is cut (with ``…``): results carry short coded text, not narrative."""

NUMERIC_TYPES = frozenset({"NM", "SN"})
_CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID"})
_PLAIN_COMPARATORS = frozenset({"", "<", ">", "<=", ">="})
# What a unit looks like (10*9/L, mmol/L, %, [IU]/L, ng/mL): short, no spaces. Anything else in OBX-6
# (a note typed into the wrong field: "called to ward 4W") is free text, which may name a patient or
# a person, and an unusable reason is logged and published; it is told by its length only.
_UNIT_SHAPE = re.compile(r"[\w*/%^.\-\[\]{}()']{1,24}")
"""Comparators a single value may carry (``=`` reads as none); ``<>`` is not one value."""


class ResultValue(NamedTuple):
    """An OBX value as the engine keeps it, named as in `Observation`; the reference limits are OBX-7
    in the same unit as ``value``."""

    value: float | None = None
    unit: str = ""
    comparator: str = ""
    text: str = ""
    reference_low: float | None = None
    reference_high: float | None = None
    unusable_reason: str = ""


def read_value(
    analyte: Analyte,
    obx: RawObservation,
    conversion: Conversion | None,
    reference: ReferenceRange,
    result_words: Mapping[str, str],
) -> ResultValue:
    """OBX-5 of a result of ``analyte`` with ``conversion`` (OBX-6 looked up in the analyte's table, None
    when unknown) and ``reference`` (OBX-7 converted the same way). Never raises.

    A number needs a known unit; without one the value is None and ``unusable_reason`` says why. Coded
    values read as words through ``result_words`` (a coded value is a code even when it is all digits:
    SNOMED CT 52101004 means "Present"). Text of a numeric type that is not one number is unusable,
    and so is a numeric OBX-5 with more than one value (its empty repetitions are none, see
    ``observation_values``): which one is the result is unknown, so none is used.
    """
    table = analyte.units
    value_type = obx.value_type.strip()
    coded = value_type in _CODED_TYPES
    values = [value.strip() for value in obx.values]
    if coded:
        values = [result_words.get(value, value) for value in values]
    repeats = len(values) if value_type in NUMERIC_TYPES else 0
    text = _short(_sn_text(obx) or ", ".join(values))
    as_sent = obx.units.strip()
    unit = conversion.unit if conversion is not None else as_sent
    number = None if coded or repeats > 1 else _number(obx, text)
    low, high = reference.low, reference.high
    if number is None:
        if repeats > 1:
            reason = (f"{analyte.id}: OBX-5 repeats ({repeats} values) for a numeric result ({value_type}): "
                      "which one is the result is unknown")
            return ResultValue(None, unit, "", text, low, high, reason)
        if text and value_type in NUMERIC_TYPES and table.takes_numbers:
            reason = f"{analyte.id}: OBX-5 {value_type} value is not one number, or is too large to use"
            return ResultValue(None, unit, "", text, low, high, reason)
        return ResultValue(None, unit, "", text, low, high)
    comparator, amount = number
    if not table.takes_numbers:
        reason = f"{analyte.id} is reported as presence or text, not as a number"
        return ResultValue(unit=as_sent, text=text, unusable_reason=reason)
    if conversion is None:
        reason = _unit_reason(analyte, as_sent)
        return ResultValue(unit=as_sent, comparator=comparator, unusable_reason=reason)
    converted = conversion.apply(amount)
    if converted is None:
        reason = f"{analyte.id}: OBX-5 value is too large to use in {conversion.unit}"
        return ResultValue(None, unit, comparator, text, low, high, reason)
    text_kept = text if value_type not in NUMERIC_TYPES else ""
    return ResultValue(converted, conversion.unit, comparator, text_kept, low, high)


def _number(obx: RawObservation, text: str) -> tuple[str, float] | None:
    numeric = obx.numeric
    if numeric is not None and numeric.number is not None and not numeric.separator:
        comparator = "" if numeric.comparator == "=" else numeric.comparator
        return (comparator, numeric.number) if comparator in _PLAIN_COMPARATORS else None
    if numeric is not None and numeric.separator:
        return None  # a range or ratio (SN ^10^-^20, ^1^:^128) is not one value
    return parse_censored(text) if text else None


def _sn_text(obx: RawObservation) -> str:
    numeric = obx.numeric
    if numeric is None or not numeric.separator or len(obx.values) > 1:
        return ""  # several values are shown as all of them, not as the first one parsed
    return "".join((numeric.comparator, _plain(numeric.number), numeric.separator, _plain(numeric.second)))


def _plain(number: float | None) -> str:
    return "" if number is None else f"{number:g}"


def _unit_reason(analyte: Analyte, unit: str) -> str:
    accepted = ", ".join(spelling for spelling, _ in analyte.units.accepted)
    if not unit:
        return f"no unit (OBX-6) for {analyte.id}; accepted: {accepted}"
    if not _UNIT_SHAPE.fullmatch(unit):
        return f"OBX-6 holds {len(unit)} characters of text, not a unit ({analyte.id}); accepted: {accepted}"
    return f"unit {unit!r} is not accepted for {analyte.id}; accepted: {accepted}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1] + "…"
