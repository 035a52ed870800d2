"""Memoised decoders for the field texts a feed repeats, one set per declaration of delimiters."""

from __future__ import annotations

from datetime import datetime

from b12stream.hl7.er7 import Encoding, FieldMemo, component_text, first_text, repetition_text
from b12stream.hl7.model import CodedElement, StructuredNumeric
from b12stream.hl7.timestamps import parse_ts
from b12stream.hl7.values import abnormal_flags, coded_element, observation_values

__all__ = ["FieldDecoders", "decoders_for", "unit_code"]


def unit_code(raw: str, enc: Encoding) -> str:
    """OBX-6's unit code: its first component, decoded and trimmed.

    A power of ten sent with an unescaped component separator (``10^9/L``, ``x10^3/uL``; HL7 wants
    ``10\\S\\9/L``, but laboratory systems send it as written) arrives as components ``10`` and
    ``9/L``. Read by the rule, the unit would be ``10``, and a platelet count in it unusable; so a
    bare number, or one written as a multiplier (``x10``, ``X10``, ``×10``), followed by a component
    starting with a digit is read as that one unit.
    """
    code = first_text(raw, enc)
    if (code[1:] if code[:1] in _MULTIPLIER else code).isdigit():
        exponent = component_text(raw.split(enc.repetition, 1)[0], 2, enc).strip()
        if exponent[:1].isdigit():
            return f"{code}^{exponent}"
    return code


class FieldDecoders:
    """Memoised decoders (``FieldMemo``) for the fields whose texts repeat, for one set of delimiters.

    Values such as control ids, identifiers and OBX-5 change from message to message and are decoded
    directly; everything decoded here is immutable, so sharing one result per text is safe.

    ``descriptions`` maps the eight OBX fields a feed repeats for a given test (OBX-1/2/3/4/6/7/8/11,
    raw) to their decoded values: one plain-dict look-up per OBX instead of eight memo look-ups, and
    a plain ``dict`` because subscripting a dict subclass misses the interpreter's fast path. Each
    description ends with the OBX-5 decoder for its value type, so reading OBX-5 is one look-up too.
    """

    __slots__ = ("_enc", "_values", "coded", "descriptions", "first", "flags", "message_type", "ranges",
                 "times", "units")

    def __init__(self, enc: Encoding) -> None:
        self.first: FieldMemo[str] = FieldMemo(lambda raw: first_text(raw, enc))
        self.coded: FieldMemo[CodedElement] = FieldMemo(lambda raw: coded_element(raw, enc))
        self.flags: FieldMemo[tuple[str, ...]] = FieldMemo(lambda raw: abnormal_flags(raw, enc))
        self.ranges: FieldMemo[str] = FieldMemo(lambda raw: repetition_text(raw, enc).strip())
        self.units: FieldMemo[str] = FieldMemo(lambda raw: unit_code(raw, enc))
        self.times: FieldMemo[datetime | None] = FieldMemo(lambda raw: parse_ts(first_text(raw, enc)))
        self.message_type: FieldMemo[tuple[str, str]] = FieldMemo(
            lambda raw: (first_text(raw, enc), component_text(raw, 2, enc).strip()))
        self.descriptions: dict[tuple[str, ...], _Description] = {}
        self._enc = enc
        self._values: dict[str, FieldMemo[_Values]] = {}

    def describe(self, raw: tuple[str, ...]) -> _Description:
        """Decode and remember OBX-1/2/3/4/6/7/8/11 (``raw``, in that order) for ``descriptions``."""
        set_id, value_type, code, sub_id, units, reference_range, abnormal, status = raw
        first = self.first
        decoded_type = first[value_type]
        described = (first[set_id], decoded_type, self.coded[code], first[sub_id], self.units[units],
                     self.ranges[reference_range], self.flags[abnormal], first[status],
                     self._values_of(decoded_type))
        if len(self.descriptions) >= _DESCRIPTIONS_KEPT:
            self.descriptions.clear()  # bounds memory on a feed of unique values, as FieldMemo does
        self.descriptions[raw] = described
        return described

    def _values_of(self, value_type: str) -> FieldMemo[_Values]:
        """The memoised ``observation_values`` for OBX-5 texts of ``value_type``."""
        memo = self._values.get(value_type)
        if memo is None:
            if len(self._values) >= _VALUE_TYPES_KEPT:
                # Descriptions hold their decoder: dropping them too keeps at most this many alive.
                self._values.clear()
                self.descriptions.clear()
            enc = self._enc
            memo = FieldMemo(lambda raw: observation_values(raw, value_type, enc))
            self._values[value_type] = memo
        return memo


def decoders_for(enc: Encoding) -> FieldDecoders:
    """The decoders for ``enc``, looked up by identity: ``read_encoding`` hands out one instance per
    declaration, and hashing a dataclass per message costs more than this whole look-up. The entry
    keeps ``enc`` alive and is checked against it, so a recycled ``id`` cannot alias another."""
    entry = _DECODERS.get(id(enc))
    if entry is not None and entry[0] is enc:
        return entry[1]
    if len(_DECODERS) >= _DECODERS_KEPT:
        _DECODERS.clear()
    decoders = FieldDecoders(enc)
    _DECODERS[id(enc)] = (enc, decoders)
    return decoders


_MULTIPLIER = ("x", "X", "\u00d7")  # how a unit such as x10^9/L writes "times"
_DECODERS: dict[int, tuple[Encoding, FieldDecoders]] = {}
_DECODERS_KEPT = 16
_DESCRIPTIONS_KEPT = 4096
_VALUE_TYPES_KEPT = 32
# What observation_values gives: values, numeric, explicit null.
_Values = tuple[tuple[str, ...], StructuredNumeric | None, bool]
# OBX set id, value type, code, sub-id, units, reference range, abnormal flags, result status, and
# the OBX-5 decoder for that value type.
_Description = tuple[str, str, CodedElement, str, str, str, tuple[str, ...], str, FieldMemo[_Values]]
