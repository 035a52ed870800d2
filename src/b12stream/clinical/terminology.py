"""Result codes to analytes and units to canonical units: what an ORU^R01 says, as Observations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from b12stream.clinical.model import Observation, ResultKey
from b12stream.clinical.reference_range import ReferenceRange, parse_reference_range
from b12stream.clinical.terminology_config import load_terminology_data
from b12stream.clinical.units import AS_REPORTED, Conversion, UnitTable, convert, parse_censored
from b12stream.errors import ClinicalError
from b12stream.hl7.model import CodedElement, MessageHeader, Order, OruMessage, RawObservation
from b12stream.paths import CONFIG_DIR

__all__ = [
    "DEFAULT_TERMINOLOGY_PATH",
    "MAX_TEXT_LENGTH",
    "Analyte",
    "CodeMatch",
    "LocalCode",
    "LoincCode",
    "Terminology",
    "TerminologyReading",
]

DEFAULT_TERMINOLOGY_PATH = CONFIG_DIR / "terminology.yaml"
MAX_TEXT_LENGTH = 200
"""Qualitative text longer than this is cut (with ``…``): results carry short coded text, not narrative."""

_NUMERIC_TYPES = frozenset({"NM", "SN"})
_CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID"})
_COMPARATORS = frozenset({"", "<", ">", "<=", ">="})
_MEMO_SIZE = 4096


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


@dataclass(frozen=True, slots=True)
class TerminologyReading:
    """Everything terminology made of one message, including what it left out and why.

    ``unmapped`` are codes of no known analyte (ER7-style ``code^text^system[^alt...]``),
    ``excluded`` codes the spec forbids mapping (``code (reason)``), and ``untimed`` codes of known
    analytes skipped because neither OBX-14, OBR-7 nor MSH-7 gives a time. Each in message order.
    """

    observations: tuple[Observation, ...]
    unmapped: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    untimed: tuple[str, ...] = ()


class Terminology:
    """Immutable code and unit maps. Build with `Terminology.load`; every method is pure.

    A site extends the shipped ``config/terminology.yaml`` with a file loaded after it
    (``Terminology.load([default, site])``, or ``engine.terminology`` in ``b12stream.yaml``)::

        local_codes:
          - {system: "L", code: "PLT", analyte: platelets}
          - {system: "99LAB", code: "PPLT", analyte: platelets, triggers: false}
        unit_aliases: {"thou/cumm": "10*3/mm3"}
        analytes:
          b12_total: {primary_loinc: "14685-2"}   # order the molar code at an SI site
    """

    def __init__(
        self,
        analytes: Mapping[str, Analyte],
        local_codes: Sequence[LocalCode],
        excluded: Mapping[str, str],
        loinc_systems: frozenset[str],
        result_codes: Mapping[str, str] | None = None,
    ) -> None:
        self._analytes = dict(analytes)
        self._result_words = dict(result_codes or {})
        self._loinc = {code.code: (analyte, code) for analyte in analytes.values() for code in analyte.codes}
        self._local = {(local.system.casefold(), local.code): local for local in local_codes}
        self._excluded = dict(excluded)
        self._loinc_systems = frozenset(system.casefold() for system in loinc_systems)
        self._store_only = frozenset(
            {code for analyte in analytes.values() for code in analyte.store_only_codes}
            | {local.code for local in local_codes if not local.triggers}
        )
        # A feed repeats a few hundred codes: each coded element is matched once (bounded memo).
        self._matches: dict[CodedElement, CodeMatch | None] = {}

    @classmethod
    def load(cls, paths: Sequence[Path] | None = None) -> Terminology:
        """Read the default file, or the given files in order (a site file after the default).

        Later files add analytes, LOINC codes, units, unit aliases, exclusions and local codes, and
        may replace an analyte's display or primary LOINC. Raises `ConfigError` naming the file and key.
        """
        data = load_terminology_data(list(paths) if paths else [DEFAULT_TERMINOLOGY_PATH])
        analytes = {
            analyte_id: Analyte(
                id=analyte_id,
                key=entry.key,
                display=entry.display,
                canonical_unit=entry.canonical_unit,
                primary_loinc=entry.primary_loinc,
                codes=tuple(LoincCode(c.code, c.level, c.name, c.triggers) for c in entry.codes),
                units=UnitTable.build(
                    entry.canonical_unit, entry.units, data.unit_aliases, empty_unit_ok=entry.empty_unit_ok
                ),
            )
            for analyte_id, entry in data.analytes.items()
        }
        local_codes = [LocalCode(c.system, c.code, c.analyte, c.triggers) for c in data.local_codes]
        return cls(analytes, local_codes, data.excluded, data.loinc_systems, data.result_codes)

    @property
    def analytes(self) -> tuple[Analyte, ...]:
        return tuple(self._analytes.values())

    def analyte(self, analyte_id: str) -> Analyte:
        """The analyte with this id; raises `ClinicalError` for an id the terminology does not know."""
        try:
            return self._analytes[analyte_id]
        except KeyError:
            raise ClinicalError(f"unknown analyte id {analyte_id!r}") from None

    def analyte_for_code(self, code: str, system: str = "LN") -> Analyte | None:
        """The analyte a LOINC (or, with another system, a site's local) code stands for."""
        found = self.match(CodedElement(code=code, system=system))
        return None if found is None else found.analyte

    def triggers(self, observation: Observation) -> bool:
        """False when the observation's code is stored only and never triggers a rule."""
        return observation.code not in self._store_only

    def match(self, coded: CodedElement) -> CodeMatch | None:
        """The analyte a coded element (OBX-3, OBR-4) stands for, matched on code, never on name.

        The primary triplet first (LOINC when its system is LN/LOINC/LNC, else a site local code),
        then the alternate triplet the same way. An excluded LOINC in the primary triplet stops the
        search: it is never mapped, whatever the alternate says.
        """
        if coded in self._matches:
            return self._matches[coded]
        found = self._match(coded)
        if len(self._matches) >= _MEMO_SIZE:
            self._matches.clear()
        self._matches[coded] = found
        return found

    def _match(self, coded: CodedElement) -> CodeMatch | None:
        triplets = ((coded.code, coded.system, "primary"), (coded.alt_code, coded.alt_system, "alternate"))
        for code, system, via in triplets:
            code, system = code.strip(), system.strip()
            if not code:
                continue
            if system.casefold() in self._loinc_systems:
                if code in self._excluded:
                    return None
                loinc = self._loinc.get(code)
                if loinc is not None:
                    return CodeMatch(loinc[0], code, system, loinc[1].triggers, via)
            else:
                local = self._local.get((system.casefold(), code))
                if local is not None:
                    return CodeMatch(self._analytes[local.analyte], code, system, local.triggers, via)
        return None

    def exclusion(self, coded: CodedElement) -> str | None:
        """Why a coded element is deliberately not mapped, or None."""
        for code, system in ((coded.code, coded.system), (coded.alt_code, coded.alt_system)):
            if system.strip().casefold() in self._loinc_systems and code.strip() in self._excluded:
                return f"{code.strip()} ({self._excluded[code.strip()]})"
        return None

    def observations(self, message: OruMessage) -> tuple[Observation, ...]:
        """One Observation per OBX whose code maps to an analyte, plus one per OBR without OBX whose
        OBR-4 maps (an order-level status such as OBR-25 = I, value None). Unknown codes are skipped.

        Time is OBX-14, else OBR-7. With neither, MSH-7 stands in and ``unusable_reason`` says so;
        with no time at all the result is left out (see `read`, which lists it as ``untimed``).
        """
        return self._observations(message, None)

    def read(self, message: OruMessage) -> TerminologyReading:
        """`observations`, together with the codes left out and why."""
        left_out = _LeftOut()
        observations = self._observations(message, left_out)
        return TerminologyReading(
            observations, tuple(left_out.unmapped), tuple(left_out.excluded), tuple(left_out.untimed)
        )

    def _observations(self, message: OruMessage, left_out: _LeftOut | None) -> tuple[Observation, ...]:
        """The observations; what is left out is noted in ``left_out`` when one is given."""
        observations: list[Observation] = []
        for order in message.orders:
            sources: Sequence[RawObservation | None] = order.observations or (None,)
            for obx in sources:
                coded = order.universal_service_id if obx is None else obx.code
                found = self.match(coded)
                if found is None:
                    if left_out is not None:
                        reason = self.exclusion(coded)
                        if reason is not None:
                            left_out.excluded.append(reason)
                        elif coded.code or coded.alt_code:
                            left_out.unmapped.append(_er7(coded))
                    continue
                observation = _observation(found, obx, order, message.header, self._result_words)
                if observation is not None:
                    observations.append(observation)
                elif left_out is not None:
                    left_out.untimed.append(found.code)
        return tuple(observations)


@dataclass(slots=True)
class _LeftOut:
    unmapped: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    untimed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Value:
    value: float | None = None
    unit: str = ""
    comparator: str = ""
    text: str = ""
    reference: ReferenceRange = field(default_factory=ReferenceRange)
    unusable_reason: str = ""


def _observation(
    found: CodeMatch,
    obx: RawObservation | None,
    order: Order,
    header: MessageHeader,
    result_words: Mapping[str, str],
) -> Observation | None:
    observed_at, time_note = _collection_time(obx, order, header)
    if observed_at is None:
        return None
    analyte = found.analyte
    flags: tuple[str, ...] = ()
    if obx is None:
        value = _Value(unit="" if analyte.canonical_unit == AS_REPORTED else analyte.canonical_unit)
        status, sub_id = order.result_status.strip(), ""
    else:
        value = _read_value(analyte, obx, result_words)
        status = obx.result_status.strip() or order.result_status.strip()
        sub_id, flags = obx.sub_id.strip(), obx.abnormal_flags
        if type(flags) is not tuple or not all(flag.strip() for flag in flags):
            flags = tuple(flag for flag in flags if flag.strip())
    return Observation(
        analyte=analyte.id,
        code=found.code,
        value=value.value,
        unit=value.unit,
        observed_at=observed_at,
        status=status,
        # Without a filler number the placer number is the best identity a correction can match.
        result_key=ResultKey(order.filler_order_number or order.placer_order_number, found.code, sub_id),
        source_message_id=header.control_id,
        comparator=value.comparator,
        text=value.text,
        reference_low=value.reference.low,
        reference_high=value.reference.high,
        flags=flags,
        unusable_reason="; ".join((time_note, value.unusable_reason))
        if time_note and value.unusable_reason
        else time_note or value.unusable_reason,
    )


def _collection_time(
    obx: RawObservation | None, order: Order, header: MessageHeader
) -> tuple[datetime | None, str]:
    if obx is not None and obx.observed_at is not None:
        return obx.observed_at, ""
    if order.observation_time is not None:
        return order.observation_time, ""
    if header.message_time is not None:
        return header.message_time, "no collection time (OBX-14, OBR-7)"
    return None, ""


def _read_value(analyte: Analyte, obx: RawObservation, result_words: Mapping[str, str]) -> _Value:
    table = analyte.units
    numeric = obx.numeric
    if (
        numeric is not None
        and numeric.number is not None
        and not numeric.separator
        and table.takes_numbers
        and obx.value_type.strip() in _NUMERIC_TYPES
    ):
        # The usual result, one number in a known unit, reads the same as below without its text.
        comparator = "" if numeric.comparator == "=" else numeric.comparator
        conversion = table.lookup(obx.units) if comparator in _COMPARATORS else None
        if conversion is not None:
            reference = _reference(obx.reference_range, conversion)
            return _Value(convert(numeric.number, conversion), conversion.unit, comparator, "", reference)
    coded = obx.value_type.strip() in _CODED_TYPES
    values = [value.strip() for value in obx.values if value.strip()]
    if coded:
        values = [result_words.get(value, value) for value in values]
    text = _short(_sn_text(obx) or ", ".join(values))
    conversion = table.lookup(obx.units)
    as_sent = obx.units.strip()
    unit = conversion.unit if conversion is not None else as_sent
    reference = _NO_RANGE if conversion is None else _reference(obx.reference_range, conversion)
    # A coded value is a code even when it is all digits (SNOMED CT 52101004 means "Present").
    number = None if coded else _number(obx, text)
    if number is None:
        if text and obx.value_type.strip() in _NUMERIC_TYPES and table.takes_numbers:
            reason = f"{analyte.id}: {obx.value_type.strip()} value is not one number"
            return _Value(unit=unit, text=text, reference=reference, unusable_reason=reason)
        return _Value(unit=unit, text=text, reference=reference)
    comparator, amount = number
    if not table.takes_numbers:
        reason = f"{analyte.id} is reported as presence or text, not as a number"
        return _Value(unit=as_sent, text=text, unusable_reason=reason)
    if conversion is None:
        return _Value(unit=as_sent, comparator=comparator, unusable_reason=_unit_reason(analyte, as_sent))
    text_kept = text if obx.value_type.strip() not in _NUMERIC_TYPES else ""
    return _Value(convert(amount, conversion), conversion.unit, comparator, text_kept, reference)


_NO_RANGE = ReferenceRange()


@lru_cache(maxsize=_MEMO_SIZE)
def _reference(text: str, conversion: Conversion) -> ReferenceRange:
    """OBX-7 limits in the canonical unit (memoised: labs send the same few ranges)."""
    return parse_reference_range(text).converted(conversion)


def _number(obx: RawObservation, text: str) -> tuple[str, float] | None:
    numeric = obx.numeric
    if numeric is not None and numeric.number is not None and not numeric.separator:
        comparator = "" if numeric.comparator == "=" else numeric.comparator
        return (comparator, numeric.number) if comparator in _COMPARATORS else None
    if numeric is not None and numeric.separator:
        return None  # a range or ratio (SN ^10^-^20, ^1^:^128) is not one value
    return parse_censored(text) if text else None


def _sn_text(obx: RawObservation) -> str:
    numeric = obx.numeric
    if numeric is None or not numeric.separator:
        return ""
    return "".join((numeric.comparator, _plain(numeric.number), numeric.separator, _plain(numeric.second)))


def _plain(number: float | None) -> str:
    return "" if number is None else f"{number:g}"


def _unit_reason(analyte: Analyte, unit: str) -> str:
    accepted = ", ".join(spelling for spelling, _ in analyte.units.accepted)
    if not unit:
        return f"no unit (OBX-6) for {analyte.id}; accepted: {accepted}"
    return f"unit {unit!r} is not accepted for {analyte.id}; accepted: {accepted}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1] + "…"


def _er7(coded: CodedElement) -> str:
    parts = [coded.code, coded.text, coded.system, coded.alt_code, coded.alt_text, coded.alt_system]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)
