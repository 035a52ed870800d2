"""Field values: OBX-5 (repetitions, explicit nulls, NM/SN to StructuredNumeric), CE/CWE codes, flags."""

from __future__ import annotations

from functools import lru_cache
from math import isfinite

from b12stream.hl7.er7 import NULL, Encoding, first_text, unescape
from b12stream.hl7.model import CodedElement, StructuredNumeric
from b12stream.hl7.records import slot_constructor

__all__ = [
    "abnormal_flags",
    "coded_element",
    "observation_values",
    "parse_decimal",
    "parse_numeric",
    "parse_structured_numeric",
]

# Value types whose OBX-5 is a code: the value is the code (component 1).
_CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID"})
_COMPARATORS = ("<=", ">=", "<>", "<", ">", "=")
_SN_COMPARATORS = frozenset({"", "<", ">", "<=", ">=", "=", "<>"})
_SN_SEPARATORS = frozenset({"", "-", "+", "/", ".", ":"})
_NUMBER_CHARS = frozenset("0123456789+-.")
_NO_VALUES: tuple[str, ...] = ()
_NO_VALUE = frozenset({"", NULL})  # what an empty or null repetition reads as, stripped
_EMPTY_CODE = CodedElement()
# Results vary from message to message, so numbers are built often: the frozen dataclass __init__
# costs several times the slot constructor.
_new_numeric = slot_constructor(StructuredNumeric)


def observation_values(
    raw: str, value_type: str, enc: Encoding
) -> tuple[tuple[str, ...], StructuredNumeric | None, bool]:
    """Split OBX-5 into ``(values, numeric, explicit_null)``.

    ``values`` has one entry per repetition that holds a value: the code (component 1) for coded
    types, otherwise the whole repetition with escapes decoded. An empty repetition, or an HL7 null
    (``""``), holds none and is left out: ``~150``, ``150~""`` and ``150`` are one value wherever the
    empty ones sit. ``numeric`` is set for NM and SN values that parse (an NM sent as ``<50`` keeps its
    comparator), from the first value: what several values mean is for the reader of ``values`` to
    decide. ``explicit_null`` is true when OBX-5 is ``""``.
    """
    text = raw.strip()
    if text in _NO_VALUE:
        return _NO_VALUES, None, text == NULL
    if value_type == "NM" and enc.repetition not in raw and enc.escape not in raw:
        return (raw,), parse_numeric(raw), False  # the common case, without the general path below
    repetitions = raw.split(enc.repetition)
    esc = enc.escape
    if value_type in _CODED_TYPES:
        decoded = [_code(repetition, enc) for repetition in repetitions]
    else:
        decoded = [unescape(r, enc) if esc in r else r for r in repetitions]
    values = [value for value in decoded if value.strip() not in _NO_VALUE]
    if not values:
        return _NO_VALUES, None, False
    numeric = None
    if value_type == "NM":
        numeric = parse_numeric(values[0])
    elif value_type == "SN":
        # The first value's own repetition: an equal one before it would be a value too.
        numeric = parse_structured_numeric(repetitions[decoded.index(values[0])], enc)
    return tuple(values), numeric, False


@lru_cache(maxsize=16384)
def parse_numeric(text: str) -> StructuredNumeric | None:
    """An NM value, optionally preceded by a comparator (``12.5``, ``<50``, ``>= 2000``).

    Memoised: a laboratory reports the same few thousand numbers over and over, and the result is
    immutable.
    """
    text = text.strip()
    if not text:
        return None
    comparator = ""
    if text[0] in "<>=":
        for candidate in _COMPARATORS:
            if text.startswith(candidate):
                comparator = candidate
                text = text[len(candidate):].strip()
                break
    number = parse_decimal(text)
    return None if number is None else _new_numeric(comparator, number)


def parse_structured_numeric(raw: str, enc: Encoding) -> StructuredNumeric | None:
    """An SN repetition ``comparator^num1^separator^num2``; ``None`` when malformed.

    An SN sent without components (``<10``) is read as an NM with a comparator.
    """
    if enc.component not in raw:
        return parse_numeric(unescape(raw, enc) if enc.escape in raw else raw)
    parts = raw.split(enc.component)
    parts.extend(("", "", ""))
    esc = enc.escape
    comparator, first, separator, second = (
        (unescape(p, enc) if esc in p else p).strip() for p in parts[:4])
    if comparator not in _SN_COMPARATORS or separator not in _SN_SEPARATORS:
        return None
    number = parse_decimal(first)
    if number is None:
        return None
    if not separator:
        return _new_numeric(comparator, number) if not second else None
    other = parse_decimal(second)
    if other is None:
        return None
    return _new_numeric(comparator, number, separator, other)


def parse_decimal(text: str) -> float | None:
    """A decimal number as HL7 NM writes it: sign, digits, one optional point. No exponents.

    None when unreadable, and also for digits beyond the float range: float() reads those as
    infinity, which no result or limit can be and which stored state (JSON) cannot hold.
    """
    if not text or not _NUMBER_CHARS.issuperset(text):
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if isfinite(number) else None


def _code(repetition: str, enc: Encoding) -> str:
    at = repetition.find(enc.component)
    if at != -1:
        repetition = repetition[:at]
    at = repetition.find(enc.subcomponent)
    if at != -1:
        repetition = repetition[:at]
    return unescape(repetition, enc) if enc.escape in repetition else repetition


def coded_element(raw: str, enc: Encoding) -> CodedElement:
    """A CE/CWE from a field's first repetition (each component's first sub-component), trimmed."""
    if not raw or raw == NULL:
        return _EMPTY_CODE
    parts = raw.split(enc.repetition, 1)[0].split(enc.component)
    if len(parts) < 6:
        parts.extend([""] * (6 - len(parts)))
    sub, esc = enc.subcomponent, enc.escape
    for i in range(6):
        part = parts[i]
        if sub in part:
            part = part.split(sub, 1)[0]
        if esc in part:
            part = unescape(part, enc)
        parts[i] = part.strip()
    return CodedElement(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])


def abnormal_flags(raw: str, enc: Encoding) -> tuple[str, ...]:
    """OBX-8: the code of every non-empty repetition."""
    if not raw or raw == NULL:
        return ()
    flags = []
    for repetition in raw.split(enc.repetition):
        flag = first_text(repetition, enc)
        if flag:
            flags.append(flag)
    return tuple(flags)
