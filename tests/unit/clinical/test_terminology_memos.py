"""Terminology's memos (result plans, converted values) give the answers an empty memo gives."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from b12stream.clinical import terminology as terminology_module
from b12stream.clinical.model import Observation
from b12stream.clinical.reference_range import parse_reference_range
from b12stream.clinical.result_value import ResultValue, read_value
from b12stream.clinical.terminology import DEFAULT_TERMINOLOGY_PATH, Terminology
from b12stream.clinical.terminology_config import load_terminology_data
from b12stream.clinical.units import Conversion, convert
from b12stream.hl7.model import (
    CodedElement,
    MessageHeader,
    Order,
    OruMessage,
    PatientIdentifier,
    RawObservation,
    StructuredNumeric,
)

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLLECTED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WARM = Terminology.load()  # shared by every example, so its memos hold earlier examples' shapes
_DATA = load_terminology_data([DEFAULT_TERMINOLOGY_PATH])


def _fresh() -> Terminology:
    """A terminology whose memos are all empty (built from the configuration read once, for speed)."""
    with mock.patch.object(terminology_module, "load_terminology_data", return_value=_DATA):
        return Terminology.load()


CODES = ["777-3", "13056-7", "718-7", "787-2", "2132-9", "14685-2", "4679-7", "53622-7", "40824-5",
         "6301-6", "800-3", "2284-8", "16695-9", "74775-8", "6690-2", "PLT", ""]  # fmt: skip
UNITS = ["10*3/uL", "K/uL", "x10E9/L", "/uL", "{cells}/uL", "g/dL", "G/DL", "mmol/L", "fL", "pg/mL",
         "pmol/L", "%", "1", "{fraction}", "{INR}", "U/mL", "", " ", "furlong"]  # fmt: skip
RANGES = ["", "150-400", "4.0 - 11.0", "<5", ">=200", "0.1 to 1.2", "10-5", "abc"]
VALUE_TYPES = ["NM", "SN", "ST", "CWE", "TX", " NM"]
COMPARATORS = ["", "=", "<", ">", "<=", ">=", "<>"]

numbers = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 82.0, 13.8, 0.0131]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)


# Codes with a unit their analyte accepts, so that most results read as numbers.
USUAL = [("777-3", "K/uL"), ("718-7", "g/dL"), ("787-2", "fL"), ("2132-9", "pmol/L"), ("4679-7", "1"),
         ("6301-6", ""), ("53622-7", "[IU]/mL"), ("40824-5", "BU")]  # fmt: skip


@st.composite
def observations(draw: st.DrawFn) -> RawObservation:
    number = draw(numbers)
    numeric = draw(
        st.one_of(
            st.none(),
            st.builds(StructuredNumeric, st.sampled_from(COMPARATORS), st.just(number)),
            st.builds(StructuredNumeric, st.just(""), st.just(number), st.sampled_from(["-", ":"]), numbers),
        )
    )
    code, units = draw(
        st.one_of(st.sampled_from(USUAL), st.tuples(st.sampled_from(CODES), st.sampled_from(UNITS)))
    )
    text = draw(st.sampled_from([f"{number:g}", "<50", "Present", "52101004", "", "7 to 9"]))
    return RawObservation(
        set_id="1",
        value_type=draw(st.sampled_from(VALUE_TYPES)),
        code=CodedElement(code, "", draw(st.sampled_from(["LN", "LN", "L"]))),
        sub_id=draw(st.sampled_from(["", "1"])),
        values=(text,),
        numeric=numeric,
        units=units,
        reference_range=draw(st.sampled_from(RANGES)),
        abnormal_flags=draw(st.sampled_from([(), ("L",), ("H", " ")])),
        result_status=draw(st.sampled_from(["F", "C", ""])),
        observed_at=draw(st.sampled_from([COLLECTED, None])),
    )


def _message(raws: list[RawObservation]) -> OruMessage:
    header = MessageHeader("MSG-1", "ORU", "R01", "2.5.1", "LAB", "HOSP", COLLECTED, "utf-8", "utf-8")
    order = Order("PLAC-1", "FILL-1", CodedElement("58410-2", "CBC", "LN"), None, "F", tuple(raws))
    return OruMessage(header, (PatientIdentifier("123", "HOSP", "MR"),), "I", (order,))


def _general_path(terminology: Terminology, raw: RawObservation) -> ResultValue:
    """The value as `read_value` reads it, with every look-up done afresh."""
    found = terminology.match(raw.code)
    assert found is not None
    conversion = found.analyte.units.lookup(raw.units)
    read = parse_reference_range(raw.reference_range)
    reference = parse_reference_range("") if conversion is None else read.converted(conversion)
    return read_value(found.analyte, raw, conversion, reference, {"52101004": "Present"})


def _value_of(observation: Observation) -> ResultValue:
    o = observation
    reason = o.unusable_reason.removeprefix("no collection time (OBX-14, OBR-7)").removeprefix("; ")
    return ResultValue(o.value, o.unit, o.comparator, o.text, o.reference_low, o.reference_high, reason)


def _platelets(number: float, units: str = "K/uL", comparator: str = "") -> RawObservation:
    return RawObservation(
        set_id="1",
        value_type="NM",
        code=CodedElement("777-3", "", "LN"),  # a new object each time, equal to every other
        sub_id="",
        values=(f"{number:g}",),
        numeric=StructuredNumeric(comparator, number),
        units=units,
        reference_range="150-400",
        abnormal_flags=(),
        result_status="F",
        observed_at=COLLECTED,
    )


@_SETTINGS
@given(st.lists(observations(), min_size=1, max_size=6))
def test_memoised_and_fresh_terminologies_agree(raws: list[RawObservation]) -> None:
    message = _message(raws)
    assert WARM.observations(message) == _fresh().observations(message)
    assert WARM.read(message) == _fresh().read(message)


@_SETTINGS
@given(observations())
@example(_platelets(82.0, comparator="="))
@example(_platelets(82.0, comparator="<"))
@example(_platelets(82.0, comparator="<>"))
@example(_platelets(-0.0, units="/uL"))
def test_the_plain_number_path_reads_as_the_general_path(raw: RawObservation) -> None:
    found = WARM.match(raw.code)
    observations_read = WARM.observations(_message([raw]))
    if found is None:
        assert observations_read == ()
        return
    (observation,) = observations_read
    assert _value_of(observation) == _general_path(WARM, raw)


def test_equal_codes_held_by_different_objects_read_alike() -> None:
    terminology = _fresh()
    first, second = _platelets(82.0), _platelets(82.0)
    assert first.code is not second.code
    assert terminology.observations(_message([first])) == terminology.observations(_message([second]))


def test_a_full_plan_memo_starts_afresh_and_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminology_module, "_MEMO_SIZE", 2)
    terminology = _fresh()
    for number, units in enumerate(["K/uL", "/uL", "10*9/L", "K/uL", "x10E3/uL"], 1):
        message = _message([_platelets(float(number), units)])
        assert terminology.observations(message) == _fresh().observations(message)
    assert len(terminology._plans) <= 2


@settings(max_examples=200, deadline=None)
@given(numbers, st.sampled_from([1.0, 0.001, 10.0, 17.1, 88.4, 16.11, 100.0]))
def test_a_memoised_conversion_converts_as_convert_does(number: float, factor: float) -> None:
    conversion = Conversion(factor, "unit")
    for _ in range(2):  # the second answer comes from the memo
        assert repr(conversion.apply(number)) == repr(convert(number, conversion))
