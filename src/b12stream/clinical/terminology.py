"""Result codes to analytes and units to canonical units: what an ORU^R01 says, as Observations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from b12stream.clinical.analyte_codes import Analyte, CodeMatch, LocalCode, LoincCode
from b12stream.clinical.left_out import LeftOut, UnusableResult
from b12stream.clinical.model import Observation, ResultKey
from b12stream.clinical.reference_range import ReferenceRange, parse_reference_range
from b12stream.clinical.result_value import MAX_TEXT_LENGTH, NUMERIC_TYPES, ResultValue, read_value
from b12stream.clinical.terminology_config import load_terminology_data
from b12stream.clinical.units import AS_REPORTED, Conversion, UnitTable
from b12stream.errors import ClinicalError
from b12stream.hl7.model import CodedElement, MessageHeader, Order, OruMessage, RawObservation
from b12stream.hl7.records import slot_constructor
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
    "UnusableResult",
]

DEFAULT_TERMINOLOGY_PATH = CONFIG_DIR / "terminology.yaml"

# A single value: ``=`` reads as no comparator, ``<>`` is not one value.
_SINGLE_VALUE_COMPARATORS = frozenset({"", "=", "<", ">", "<=", ">="})
_MEMO_SIZE = 4096
_NO_RANGE = ReferenceRange()
_UNTIMED_NOTE = "no collection time (OBX-14, OBR-7)"
# One Observation per mapped result: built without the frozen dataclass's per-field __setattr__.
_new_observation = slot_constructor(Observation)
_new_result_key = slot_constructor(ResultKey)


@dataclass(frozen=True, slots=True)
class TerminologyReading:
    """Everything terminology made of one message, including what it left out and why.

    ``unmapped`` are codes of no known analyte (ER7-style ``code^text^system[^alt...]``),
    ``excluded`` codes the spec forbids mapping (``code (reason)``), ``untimed`` codes of known
    analytes skipped because neither OBX-14, OBR-7 nor MSH-7 gives a time the result needs (see
    `LeftOut.note_untimed`), ``outside_orders`` codes of known analytes in OBX outside any order (the
    PATIENT group of v2.7+), which are no order's results, with their segment (``777-3 (segment 3)``),
    and ``unusable`` results left out that the message does without (a cancellation with no time).
    Each in message order.
    """

    observations: tuple[Observation, ...]
    unmapped: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    untimed: tuple[str, ...] = ()
    outside_orders: tuple[str, ...] = ()
    unusable: tuple[UnusableResult, ...] = ()


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
        # ... and a few hundred result shapes (code, unit, range, value type): each is planned once.
        self._plans: dict[tuple[int, str, str, str], _ResultPlan] = {}

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
                codes=tuple(entry.codes),
                units=UnitTable.build(
                    entry.canonical_unit, entry.units, data.unit_aliases, empty_unit_ok=entry.empty_unit_ok
                ),
            )
            for analyte_id, entry in data.analytes.items()
        }
        local_codes = list(data.local_codes)
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
        with no time at all the result is left out (see `read`, which lists it as ``untimed`` when it
        needs one, by which ``ingest`` rejects its message, or as ``unusable``).
        """
        return self._observations(message, None)

    def read(self, message: OruMessage) -> TerminologyReading:
        """`observations`, together with the codes left out and why."""
        left_out = LeftOut()
        observations = self._observations(message, left_out)
        outside = []
        for obx in message.patient_observations:
            found = self.match(obx.code)
            if found is not None:
                outside.append(f"{found.code} (segment {obx.segment_index})")
        return TerminologyReading(
            observations,
            tuple(left_out.unmapped),
            tuple(left_out.excluded),
            tuple(left_out.untimed),
            tuple(outside),
            tuple(left_out.unusable),
        )

    def _observations(self, message: OruMessage, left_out: LeftOut | None) -> tuple[Observation, ...]:
        """The observations; what is left out is noted in ``left_out`` when one is given."""
        header = message.header
        control_id = header.control_id
        plans, result_words = self._plans, self._result_words
        observations: list[Observation] = []
        for order in message.orders:
            if not order.observations:
                self._order_level(order, header, observations, left_out)
                continue
            for obx in order.observations:
                # Keyed by the coded element's identity: the HL7 reader shares one CodedElement per
                # distinct OBX-3 text, and hashing a dataclass costs more than the whole look-up.
                # The plan keeps its coded element alive, so a stored id is never another object's.
                plan = plans.get((id(obx.code), obx.units, obx.reference_range, obx.value_type))
                if plan is None:
                    plan = self._plan(obx)
                found = plan.found
                if found is None:
                    if left_out is not None:
                        self._note_unmapped(obx.code, left_out)
                    continue
                status = obx.result_status.strip() or order.result_status.strip()
                observed_at, time_note = obx.observed_at, ""
                if observed_at is None:
                    observed_at, time_note = _fallback_time(order, header)
                    if observed_at is None:
                        if left_out is not None:
                            left_out.note_untimed(found, status)
                        continue
                value = _value(plan, found, obx, result_words)
                flags = obx.abnormal_flags
                if flags and (type(flags) is not tuple or not all(map(str.strip, flags))):
                    flags = tuple(flag for flag in flags if flag.strip())
                sub_id = obx.sub_id.strip()
                observations.append(
                    _observation(
                        found, order, sub_id, status, observed_at, time_note, flags, value, control_id
                    )
                )
        return tuple(observations)

    def _plan(self, obx: RawObservation) -> _ResultPlan:
        """Match OBX-3 and look up OBX-6 and OBX-7 for this shape of result, and remember the answer."""
        found = self.match(obx.code)
        conversion: Conversion | None = None
        reference = _NO_RANGE
        plain_numbers = False
        if found is not None:
            table = found.analyte.units
            conversion = table.lookup(obx.units)
            if conversion is not None:
                reference = _reference(obx.reference_range, conversion)
            plain_numbers = table.takes_numbers and obx.value_type.strip() in NUMERIC_TYPES
        plan = _ResultPlan(obx.code, found, conversion, reference, plain_numbers)
        if len(self._plans) >= _MEMO_SIZE:
            self._plans.clear()
        self._plans[(id(obx.code), obx.units, obx.reference_range, obx.value_type)] = plan
        return plan

    def _order_level(
        self, order: Order, header: MessageHeader, observations: list[Observation], left_out: LeftOut | None
    ) -> None:
        """An OBR without OBX: its OBR-4 as an observation with no value and the OBR-25 status."""
        found = self.match(order.universal_service_id)
        if found is None:
            if left_out is not None:
                self._note_unmapped(order.universal_service_id, left_out)
            return
        status = order.result_status.strip()
        observed_at, time_note = _fallback_time(order, header)
        if observed_at is None:
            if left_out is not None:
                left_out.note_untimed(found, status)
            return
        canonical = found.analyte.canonical_unit
        value = ResultValue(unit="" if canonical == AS_REPORTED else canonical)
        observations.append(
            _observation(found, order, "", status, observed_at, time_note, (), value, header.control_id)
        )

    def _note_unmapped(self, coded: CodedElement, left_out: LeftOut) -> None:
        reason = self.exclusion(coded)
        if reason is not None:
            left_out.excluded.append(reason)
        elif coded.code or coded.alt_code:
            left_out.unmapped.append(_er7(coded))


@dataclass(frozen=True, slots=True)
class _ResultPlan:
    """What an OBX of one shape (OBX-3, OBX-6, OBX-7, OBX-2) reads as, whatever its value.

    ``coded`` is kept so that the identity it is memoised under stays in use; ``plain_numbers``: a
    single NM/SN number converts directly when ``conversion`` is known (the analyte takes numbers).
    """

    coded: CodedElement
    found: CodeMatch | None
    conversion: Conversion | None
    reference: ReferenceRange
    plain_numbers: bool


def _value(
    plan: _ResultPlan, found: CodeMatch, obx: RawObservation, result_words: Mapping[str, str]
) -> ResultValue:
    """`read_value` with the plan's conversion and reference, and the usual result read sooner."""
    numeric = obx.numeric
    conversion = plan.conversion
    if (
        plan.plain_numbers
        and conversion is not None
        and numeric is not None
        and numeric.number is not None
        and not numeric.separator
        and numeric.comparator in _SINGLE_VALUE_COMPARATORS
        and len(obx.values) == 1
    ):
        # One number in a known unit: what read_value makes of it, without its text handling. A
        # number too large for the unit, or an OBX-5 of several values (``numeric`` is the first),
        # is left to read_value, which says why it is unusable.
        converted = conversion.apply(numeric.number)
        if converted is not None:
            reference = plan.reference
            comparator = "" if numeric.comparator == "=" else numeric.comparator
            return ResultValue(converted, conversion.unit, comparator, "", reference.low, reference.high)
    return read_value(found.analyte, obx, conversion, plan.reference, result_words)


def _observation(
    found: CodeMatch,
    order: Order,
    sub_id: str,
    status: str,
    observed_at: datetime,
    time_note: str,
    flags: tuple[str, ...],
    value: ResultValue,
    control_id: str,
) -> Observation:
    number, unit, comparator, text, low, high, reason = value
    return _new_observation(
        found.analyte.id,
        found.code,
        number,
        unit,
        observed_at,
        status,
        # Without a filler number the placer number is the best identity a correction can match.
        _new_result_key(order.filler_order_number or order.placer_order_number, found.code, sub_id),
        control_id,
        comparator,
        text,
        low,
        high,
        flags,
        f"{time_note}; {reason}" if time_note and reason else time_note or reason,
    )


def _fallback_time(order: Order, header: MessageHeader) -> tuple[datetime | None, str]:
    """The time of a result without OBX-14: OBR-7, else MSH-7 (noted), else none."""
    if order.observation_time is not None:
        return order.observation_time, ""
    if header.message_time is not None:
        return header.message_time, _UNTIMED_NOTE
    return None, ""


@lru_cache(maxsize=_MEMO_SIZE)
def _reference(text: str, conversion: Conversion) -> ReferenceRange:
    """OBX-7 limits in the canonical unit (memoised: labs send the same few ranges)."""
    return parse_reference_range(text).converted(conversion)


def _er7(coded: CodedElement) -> str:
    parts = [coded.code, coded.text, coded.system, coded.alt_code, coded.alt_text, coded.alt_system]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)
