"""process(): R09 follows a deficiency identified by R02 or R05 branch b and rests on what that held
on, so a correction, deletion or wrong-patient re-send of it retracts R09 when no deficiency is
identified any more (R10), as it retracts the R02 or R05 itself."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import R01, R02, R06, R09, Result, oru, plt
from tests.unit.engine.test_re_based_pages import adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def b12_si(value: str) -> Result:
    return ("14685-2", "NM", value, "pmol/L", "133-675", "L")


# S6 (R02), then S14's count on day 7: R09 'improving'.
S14_IMPROVING = [
    oru("C1", "20260302080000", "F1", [b12_si("90"), plt("60")]),
    oru("C2", "20260309080000", "F2", [plt("110")]),
]


def test_the_b12_re_sent_as_posted_to_the_wrong_patient_retracts_r09_with_the_r02_it_followed(engine):
    deficiency, improving, wrong_patient = run(
        engine, [*S14_IMPROVING, oru("C3", "20260310080000", "F1", [b12_si("90")], status="W")]
    )
    (r02,) = deficiency.events
    (r09,) = improving.events
    assert (r02["rule"], r09["rule"], r09["branch"]) == (R02, R09, "improving")
    retractions = [e for e in wrong_patient.events if e["type"] == "retraction"]
    assert [(e["alert_id"], e["reason"]) for e in retractions] == [
        (r02["id"], "posted to wrong patient"),
        (r09["id"], "posted to wrong patient"),
    ]
    # S12: B12 unknown again.
    assert [e["rule"] for e in wrong_patient.events if e["type"] == "alert"] == [R01]
    assert {a.rule for a in wrong_patient.state.memory.open_alerts()} == {R01}


def test_a_b12_correction_that_leaves_it_deficient_leaves_r09_as_it_was(engine):
    *_, corrected = run(
        engine, [*S14_IMPROVING, oru("C3", "20260302080000", "F1", [b12_si("95")], status="C")]
    )
    assert (corrected.events, corrected.orders, corrected.pages) == ((), (), ())
    assert {a.rule for a in corrected.state.memory.open_alerts()} == {R02, R09}


def test_an_adamts13_corrected_to_severe_retracts_the_r09_that_followed_pseudo_tma(engine):
    """R05 branch b identified the deficiency; ADAMTS13 corrected to 5 % is the TTP path (R06): no
    deficiency is identified in the episode any more, so R09 is outside its scope."""
    maha: list[Result] = [
        plt("45"),
        ("718-7", "NM", "6.2", "g/dL", "12.0-15.5", "L"),
        ("787-2", "NM", "112", "fL", "80-100", "H"),
        ("2532-0", "NM", "4200", "U/L", "135-250", "H"),
        ("4542-7", "SN", "<^10", "mg/dL", "30-200", "L"),
        ("800-3", "ST", "Present", "", "", "A"),
        ("2132-9", "SN", "<^50", "pg/mL", "180-900", "L"),
    ]
    *_, improving, corrected = run(
        engine,
        [
            oru("C1", "20260302080000", "F1", maha),
            oru("C2", "20260302100000", "A13A", [adamts13("72")]),
            oru("C3", "20260309080000", "F3", [plt("70")]),
            oru("C4", "20260302100000", "A13A", [adamts13("5")], status="C"),
        ],
    )
    (r09,) = improving.events
    assert (r09["rule"], r09["branch"]) == (R09, "improving")
    retracted = {e["rule"]: e for e in corrected.events if e["type"] == "retraction"}
    assert (retracted[R09]["alert_id"], retracted[R09]["reason"]) == (r09["id"], "corrected result")
    assert R06 in {e["rule"] for e in corrected.events if e["type"] == "alert"}
