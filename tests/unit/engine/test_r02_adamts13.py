"""An open R02 and a later ADAMTS13 result without MAHA, on real messages (spec R02, R04, R06, R11)."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import Outcome, process
from b12stream.engine.schemas import validation_errors
from b12stream.engine.state import PatientState
from b12stream.hl7.model import Rejection

R02 = "B12-LOW-THROMBOCYTOPENIA"
R04 = "B12-CAUSE-WORKUP"
R06 = "TTP-ADAMTS13-SEVERE"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def obx(n: int, code: str, value: str, unit: str, reference: str, flag: str, collected: str) -> str:
    return f"OBX|{n}|NM|{code}^^LN||{value}|{unit}|{reference}|{flag}|||F|||{collected}"


def run(engine: Engine, *texts: str) -> list[Outcome]:
    state: PatientState | None = None
    outcomes = []
    for text in texts:
        accepted = ingest(text.encode(), engine)
        assert not isinstance(accepted, Rejection), accepted
        assert isinstance(accepted, Accepted)
        outcome = process(state or PatientState.empty(accepted.patient), accepted, engine)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def oru(control: str, collected: str, filler: str, *observations: tuple[str, str, str, str, str]) -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                "PID|1||A13R02^^^HOSP^MR||TEST^ADAMTS",
                f"OBR|1|P-{filler}|{filler}|PANEL^Panel^L|||{collected}|||||||||||||||{collected}||HM|F",
                *(obx(n, *item, collected) for n, item in enumerate(observations, 1)),
            ]
        )
        + "\r"
    )


PLT_B12 = oru(
    "M1",
    "20260302080000",
    "CBC1",
    ("777-3", "60", "10*3/uL", "150-400", "L"),
    ("2132-9", "100", "ng/L", "180-900", "L"),
)


def adamts13(percent: str) -> str:
    return oru("M2", "20260303080000", "A13", ("53622-7", percent, "%", "61-131", "L"))


def adamts13_later(percent: str) -> str:
    """A repeat ADAMTS13, a day after the first."""
    return oru("M4", "20260304080000", "A13B", ("53622-7", percent, "%", "61-131", "L"))


def test_adamts13_below_10_percent_downgrades_the_open_r02_to_info(engine):
    first, second = run(engine, PLT_B12, adamts13("5"))
    (r02,) = [e for e in first.events if e["rule"] == R02]
    assert r02["severity"] == "medium"
    update, r06 = second.events
    assert (update["type"], update["rule"], update["severity"]) == ("alert_update", R02, "info")
    assert update["supersedes"] == r02["id"]
    assert "severely reduced" in update["detail"]
    assert (r06["rule"], r06["severity"]) == (R06, "critical")
    assert all(validation_errors(e) == [] for e in second.events)


def test_adamts13_in_the_grey_zone_retracts_the_open_r02(engine):
    first, second = run(engine, PLT_B12, adamts13("15"))
    (r02,) = [e for e in first.events if e["rule"] == R02]
    retraction, _, r06 = second.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", r02["id"])
    assert (retraction["reason"], retraction["severity"]) == ("ADAMTS13 grey zone", "medium")
    assert (r06["rule"], r06["branch"], r06["severity"]) == (R06, "grey-zone", "high")
    assert all(validation_errors(e) == [] for e in second.events)


def test_the_cause_work_up_withdrawn_with_r02_in_the_grey_zone_stands_alone_again(engine):
    first, second = run(engine, PLT_B12, adamts13("15"))
    (r02,) = first.events
    assert r02["bundled"] == [R04]
    r04 = second.events[1]
    assert (r04["type"], r04["rule"], r04["severity"]) == ("alert", R04, "info")
    assert [(o["loinc"], o["previously_suggested_at"]) for o in r04["suggested_orders"]] == [
        ("31443-5", "2026-03-02T08:00:00Z"),
        ("8087-9", "2026-03-02T08:00:00Z"),
    ]
    assert [m.alert_id for m in second.orders] == [r04["id"]]
    assert "intrinsic-factor antibody" in r04["detail"]
    assert validation_errors(r04) == []


def test_no_cause_work_up_comes_back_when_the_intrinsic_factor_antibody_is_already_ordered(engine):
    ordered = oru("M1B", "20260302090000", "IFAB", ("31443-5", "", "AU/mL", "0.0-1.1", "")).replace(
        "|||F|||", "|||I|||"
    )
    *_, grey = run(engine, PLT_B12, ordered, adamts13("15"))
    assert [(e["type"], e["rule"]) for e in grey.events] == [("retraction", R02), ("alert", R06)]


def open_work_ups(outcome: Outcome) -> list[str]:
    """The open alerts that carry the R04 cause work-up: R04 on its own, or a host it is bundled in."""
    return [a.rule for a in outcome.state.memory.open_alerts() if a.rule in (R02, R04)]


def test_adamts13_back_above_20_percent_raises_r02_again_without_a_second_work_up(engine):
    *_, grey, normal = run(engine, PLT_B12, adamts13("15"), adamts13_later("40"))
    assert [(e["type"], e["rule"]) for e in grey.events] == [
        ("retraction", R02),
        ("alert", R04),
        ("alert", R06),
    ]
    retraction, r02 = normal.events
    # R02 carries the work-up again: the one standing alone is withdrawn, saying where it went.
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", grey.events[1]["id"])
    assert (retraction["reason"], retraction["severity"]) == (f"bundled into {R02}", "info")
    assert (r02["type"], r02["rule"], r02["bundled"]) == ("alert", R02, [R04])
    # IF/PCA were shown twice in this episode (R02, then R04 on its own): R11 (c) keeps them back.
    assert [o["loinc"] for o in r02["suggested_orders"]] == []
    assert normal.pages == ()
    assert open_work_ups(normal) == [R02]
    assert all(validation_errors(e) == [] for e in normal.events)


def test_adamts13_below_10_percent_after_the_grey_zone_pages_once_and_keeps_one_work_up(engine):
    *_, severe = run(engine, PLT_B12, adamts13("15"), adamts13_later("5"))
    assert [(e["type"], e["rule"], e["severity"]) for e in severe.events] == [
        ("retraction", R04, "info"),
        ("alert", R02, "info"),
        ("alert_update", R06, "critical"),
    ]
    assert [p["event_action"] for p in severe.pages] == ["trigger"]
    assert open_work_ups(severe) == [R02]


def test_a_b12_corrected_to_normal_retracts_the_work_up_standing_alone(engine):
    corrected = oru("M3", "20260302080000", "CBC1", ("2132-9", "600", "ng/L", "180-900", "")).replace(
        "|||F|||", "|||C|||"
    )
    *_, correction = run(engine, PLT_B12, adamts13("15"), corrected)
    retractions = [(e["rule"], e["reason"]) for e in correction.events if e["type"] == "retraction"]
    assert retractions == [(R04, "corrected result")]


def test_adamts13_not_severe_leaves_the_open_r02_alone(engine):
    _, second = run(engine, PLT_B12, adamts13("65"))
    assert [e for e in second.events if e["rule"] == R02] == []


def test_no_second_work_up_while_r02_stays_open_after_a_grey_zone_collected_before_its_update(engine):
    # The R02 was updated on D2 (count 40); a grey-zone ADAMTS13 collected on D1 and reported after it
    # does not end it (an earlier time says nothing of a later alert), so R02 still carries R04.
    fall = oru("M3", "20260304080000", "CBC2", ("777-3", "40", "10*3/uL", "150-400", "L"))
    *_, escalation, grey = run(engine, PLT_B12, fall, adamts13("15"))
    assert ("alert_update", R02) in [(e["type"], e["rule"]) for e in escalation.events]
    assert [(e["type"], e["rule"]) for e in grey.events] == [("alert", R06)]
