"""Whatever numbers a lab writes in OBX-5 and OBX-7, the engine keeps only finite ones: a state or event
holding infinity cannot be written as JSON, and one such message would stop the stream at every restart."""

from __future__ import annotations

from math import isfinite

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b12stream.engine.engine import Engine
from b12stream.engine.events import encode_event
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState
from tests.unit.engine.builders import oru

HUGE = "9" * 400

# (OBX-3 code, OBX-6 unit): factors below, at and above 1, so a huge value may also overflow when converted.
RESULTS = [
    ("777-3", "10*3/uL"), ("777-3", "/uL"), ("718-7", "g/dL"), ("718-7", "mmol/L"), ("2132-9", "pg/mL"),
]

# Ordinary numbers, numbers near the float limit (about 1.8e308: beyond it once converted, or already as
# sent) and numbers far beyond it.
digits = st.one_of(
    st.text("0123456789", min_size=1, max_size=12),
    st.builds(lambda lead, zeros: lead + "0" * zeros, st.sampled_from("159"), st.integers(305, 310)),
    st.just(HUGE),
)
numbers = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{fraction}",
    st.sampled_from(["", "-", "+"]),
    digits,
    st.sampled_from(["", ".", ".5", "." + "9" * 40]),
)
comparators = st.sampled_from(["", "<", ">", "<=", ">=", "=", "<>"])
separators = st.sampled_from(["", "-", ":", "/"])
values = st.one_of(
    st.builds(lambda c, n: c + n, comparators, numbers),
    st.builds(lambda c, a, s, b: f"{c}^{a}^{s}^{b}", comparators, numbers, separators, numbers),
    st.text("0123456789.-+<>= ^", max_size=30),
)
ranges = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", numbers, numbers),
    st.builds(lambda a, b: f"{a} to {b}", numbers, numbers),
    st.builds(lambda c, n: c + n, st.sampled_from(["<", "<=", ">", ">="]), numbers),
    st.text("0123456789.-+<>= ", max_size=30),
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _message(value_type: str, result: tuple[str, str], value: str, reference_range: str) -> bytes:
    code, unit = result
    text = oru("M-NUM", "20260302080000", value).replace("|NM|777-3^", f"|{value_type}|{code}^")
    return text.replace("|10*3/uL|150-400|", f"|{unit}|{reference_range}|").encode()


def _accepted(data: bytes, engine: Engine) -> Accepted:
    accepted = ingest(data, engine)
    assert isinstance(accepted, Accepted), accepted
    return accepted


def _finite_only(accepted: Accepted) -> None:
    for observation in accepted.observations:
        for number in (observation.value, observation.reference_low, observation.reference_high):
            assert number is None or isfinite(number), observation


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value_type=st.sampled_from(["NM", "SN", "ST"]),
    result=st.sampled_from(RESULTS),
    value=values,
    reference_range=ranges,
    after_low_count=st.booleans(),
)
def test_any_obx5_and_obx7_give_finite_numbers_and_a_state_that_writes(
    engine: Engine, value_type: str, result: tuple[str, str], value: str, reference_range: str,
    after_low_count: bool,
) -> None:
    accepted = _accepted(_message(value_type, result, value, reference_range), engine)
    _finite_only(accepted)
    state = PatientState.empty(accepted.patient)
    if after_low_count:  # a history to compare with, so that rules weigh the new value against an earlier one
        earlier = _accepted(oru("M-EARLIER", "20260301080000", "82").encode(), engine)
        state = process(state, earlier, engine).state
    outcome = process(state, accepted, engine)
    assert PatientState.from_bytes(outcome.state.to_bytes()).to_bytes() == outcome.state.to_bytes()
    for event in (*outcome.events, *outcome.pages):
        encode_event(event)


@pytest.mark.parametrize(
    ("value", "reference_range"),
    [(HUGE, "150-400"), ("150", f"150-{HUGE}"), (f">{HUGE}", "150-400"), (f"<{HUGE}", f"<{HUGE}"),
     (f"-{HUGE}", f"-{HUGE}-0")],
)
def test_a_number_beyond_the_float_range_is_kept_unusable_and_the_state_writes(
    engine: Engine, value: str, reference_range: str
) -> None:
    accepted = _accepted(_message("NM", ("777-3", "10*3/uL"), value, reference_range), engine)
    (observation,) = accepted.observations
    _finite_only(accepted)
    if HUGE in value:
        assert observation.value is None and "OBX-5" in observation.unusable_reason
    if HUGE in reference_range:
        assert (observation.reference_low, observation.reference_high) == (None, None)
    process(PatientState.empty(accepted.patient), accepted, engine).state.to_bytes()


def test_a_value_that_overflows_its_conversion_is_kept_unusable_and_the_state_writes(engine: Engine) -> None:
    accepted = _accepted(_message("NM", ("718-7", "mmol/L"), "1" + "0" * 308, "7.4-9.9"), engine)
    (observation,) = accepted.observations
    assert observation.value is None and "too large" in observation.unusable_reason
    process(PatientState.empty(accepted.patient), accepted, engine).state.to_bytes()
