"""process(): a critical alert's incident is resolved under the key it was triggered with after a
correction or deletion of the count its episode was first known by (R10) moves where the episode opens."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import Outcome, process
from b12stream.engine.state import PatientState
from tests.unit.engine.test_current_results import R06, Result, b12, oru, plt


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def adamts13(activity: str) -> Result:
    return ("53622-7", "NM", activity, "%", "61-131", "LL")


def run(engine: Engine, messages: list[bytes]) -> list[Outcome]:
    """Each message's outcome, the state stored and read back in between as the stream does."""
    state: PatientState | None = None
    outcomes = []
    for raw in messages:
        accepted = ingest(raw, engine)
        assert isinstance(accepted, Accepted)
        outcome = process(state or PatientState.empty(accepted.patient), accepted, engine)
        outcomes.append(outcome)
        state = PatientState.from_bytes(outcome.state.to_bytes())
    return outcomes


def paged(engine: Engine, correction: bytes, later: bytes) -> tuple[dict[str, Any], str, Outcome, Outcome]:
    """A critical R06 alert paged in the episode its first count opened, the ``correction`` of that
    count (a later count of the episode then opens it), then ``later``: the alert, the key it
    paged under, and the outcomes of the correction and of ``later``."""
    _, ttp, _, corrected, after = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("20")]),
            oru("C2", "20260302090000", "A13A", [adamts13("5")]),
            oru("C3", "20260302200000", "CBC2", [plt("22")]),
            correction,
            later,
        ],
    )
    (alert,) = ttp.events
    (trigger,) = ttp.pages
    assert (alert["rule"], alert["severity"], trigger["event_action"]) == (R06, "critical", "trigger")
    return alert, trigger["dedup_key"], corrected, after


DELETED = oru("C4", "20260302080000", "CBC1", [plt("20")], status="D")
CORRECTED = oru("C4", "20260302080000", "CBC1", [plt("210")], status="C")


@pytest.mark.parametrize("correction", [DELETED, CORRECTED], ids=["deleted", "corrected"])
def test_a_retraction_after_the_first_count_moved_resolves_the_incident_that_was_triggered(
    engine, correction
):
    alert, key, corrected, after = paged(
        engine, correction, oru("C5", "20260302090000", "A13A", [adamts13("80")], status="C")
    )
    # The alert still holds on the counts left, in the same episode: nothing to say, order or page.
    assert (corrected.events, corrected.orders, corrected.pages) == ((), (), ())
    (retraction,) = after.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", alert["id"])
    assert retraction["episode_id"] == alert["episode_id"]
    assert after.pages == ({"event_action": "resolve", "dedup_key": key},)


def test_a_de_escalation_after_the_first_count_was_deleted_resolves_the_incident_that_was_triggered(
    engine,
):
    alert, key, _, after = paged(
        engine, DELETED, oru("C5", "20260302090000", "A13A", [adamts13("15")], status="C")
    )
    (update,) = after.events
    assert (update["type"], update["severity"], update["supersedes"]) == ("alert_update", "high", alert["id"])
    assert update["episode_id"] == alert["episode_id"]
    assert after.pages == ({"event_action": "resolve", "dedup_key": key},)


def test_an_update_still_critical_after_the_first_count_was_deleted_joins_the_incident_it_has(engine):
    alert, key, _, after = paged(engine, DELETED, oru("C5", "20260302100000", "B12A", [b12("160")]))
    updates = [e for e in after.events if e["rule"] == R06]
    assert [(e["type"], e["severity"], e["episode_id"]) for e in updates] == [
        ("alert_update", "critical", alert["episode_id"])
    ]
    assert [(p["event_action"], p["dedup_key"]) for p in after.pages] == [("trigger", key)]
