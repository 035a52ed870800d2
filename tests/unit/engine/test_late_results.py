"""process(): results delivered out of collection order, as hospital interfaces do (spec 2.1)."""

from __future__ import annotations

import pytest

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
                f"OBR|1|P-A13|A13|ADAMTS13^ADAMTS13 activity^L|||{collected}"
                f"|||||||||||||||{collected}||SP|F",
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
