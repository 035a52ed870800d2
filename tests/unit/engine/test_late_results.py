"""process(): results delivered out of collection order, as hospital interfaces do (spec 2.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import Outcome, process
from b12stream.engine.state import PatientState
from tests.unit.engine.builders import oru


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def adamts13_oru(control: str, collected: str, activity: str) -> str:
    """One ORU^R01 v2.5.1 with an ADAMTS13 activity (%, lab range 60-130)."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                "PID|1||RP0001^^^HOSP^MR||TEST^REPLAY",
                f"OBR|1|P-A13|A13|ADAMTS13^ADAMTS13 activity^L|||{collected}|||||||||||||||{collected}||SP|F",
                f"OBX|1|NM|53622-7^ADAMTS13 activity^LN||{activity}|%|60-130|L|||F|||{collected}",
            ]
        )
        + "\r"
    )


def run(texts: list[str], engine: Engine) -> list[Outcome]:
    state: PatientState | None = None
    outcomes = []
    for text in texts:
        message = ingest(text.encode(), engine)
        assert isinstance(message, Accepted)
        outcome = process(state or PatientState.empty(message.patient), message, engine)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def test_an_adamts13_drawn_before_the_opening_count_and_reported_after_it_pages_at_that_count(engine):
    count = oru("M1", "20260302080000", "20")
    _, late = run([count, adamts13_oru("M2", "20260302075500", "5")], engine)
    (event,) = late.events
    assert (event["rule"], event["severity"]) == ("TTP-ADAMTS13-SEVERE", "critical")
    assert event["observed_at"] == "2026-03-02T08:00:00Z"
    assert [page["event_action"] for page in late.pages] == ["trigger"]


def published(outcomes: list[Outcome]) -> list[tuple[str, str, str, str | None]]:
    return [(e["type"], e["rule"], e["episode_id"], e.get("supersedes")) for o in outcomes for e in o.events]


def test_a_count_drawn_before_the_first_one_and_reported_after_it_repeats_no_alert_and_no_order(engine):
    first, late = run(
        [oru("M1", "20260302080000", "82", filler="F1"), oru("M2", "20260301200000", "85", filler="F0")],
        engine,
    )
    assert [e["rule"] for e in first.events] == ["B12-UNKNOWN-THROMBOCYTOPENIA"]
    assert (late.events, late.orders, late.pages) == ((), (), ())


def test_the_episode_keeps_its_id_when_a_late_earlier_count_changes_what_its_alert_says(engine):
    first, late = run(
        [oru("M1", "20260302080000", "82", filler="F1"), oru("M2", "20260301200000", "45", filler="F0")],
        engine,
    )
    (alert,) = first.events
    (update,) = late.events
    assert update["type"] == "alert_update" and update["supersedes"] == alert["id"]
    assert update["episode_id"] == alert["episode_id"]
    # The suggestions were shown hours ago in this episode (R11 c): not repeated, so no order either.
    assert update["suggested_orders"] == [] and late.orders == ()


def test_a_late_earlier_count_does_not_page_again_for_a_critical_alert_of_the_episode(engine):
    outcomes = run(
        [
            oru("M1", "20260302080000", "20", filler="F1"),
            adamts13_oru("M2", "20260302090000", "5"),
            oru("M3", "20260301200000", "25", filler="F0"),
            oru("M4", "20260302200000", "22", filler="F2"),
        ],
        engine,
    )
    pages = [page for o in outcomes for page in o.pages]
    assert [page["event_action"] for page in pages] == ["trigger"]
    assert [e[:2] for e in published(outcomes)] == [
        ("alert", "B12-UNKNOWN-THROMBOCYTOPENIA"),
        ("alert", "TTP-ADAMTS13-SEVERE"),
    ]
    assert len({e[2] for e in published(outcomes)}) == 1


def test_deleting_the_count_the_episode_was_first_known_by_after_a_late_earlier_count_repeats_nothing(engine):
    outcomes = run(
        [
            oru("M1", "20260302080000", "82", filler="F1"),
            oru("M2", "20260301200000", "85", filler="F0"),
            oru("M3", "20260302080000", "82", filler="F1", status="W"),
        ],
        engine,
    )
    assert [e[:2] for e in published(outcomes)] == [("alert", "B12-UNKNOWN-THROMBOCYTOPENIA")]
    assert sum(len(o.orders) for o in outcomes) == 1


def test_a_correction_keeps_an_alert_that_still_holds_at_its_own_time_after_a_late_earlier_count(engine):
    outcomes = run(
        [
            oru("M1", "20260302080000", "82", filler="F1"),
            oru("M2", "20260301200000", "85", filler="F0"),
            oru("M3", "20260304080000", "200", filler="F2"),
            oru("M4", "20260302080000", "80", filler="F1", status="C"),
        ],
        engine,
    )
    assert [e[:2] for e in published(outcomes)] == [("alert", "B12-UNKNOWN-THROMBOCYTOPENIA")]


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.integers(min_value=30, max_value=99), min_size=2, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_whatever_order_an_episode_s_counts_arrive_in_r01_is_alerted_once(engine, values, order):
    texts = [
        oru(f"M{n}", f"202603{2 + n:02d}080000", str(value), filler=f"F{n}") for n, value in enumerate(values)
    ]
    order.shuffle(texts)
    events = published(run(texts, engine))
    assert [e[:2] for e in events if e[0] == "alert"] == [("alert", "B12-UNKNOWN-THROMBOCYTOPENIA")]
    assert len({e[2] for e in events}) == 1
