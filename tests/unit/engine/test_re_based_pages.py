"""process(): a critical alert's incident is resolved under the key it was triggered with after a
correction (R10) moves its episode: the count the episode was first known by corrected or deleted,
or the episode joined to an earlier one."""

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


# A critical R06 alert paged in the episode the first count (CBC1) opened, which holds a second count.
OPENED_BY_CBC1 = [
    oru("C1", "20260302080000", "CBC1", [plt("20")]),
    oru("C2", "20260302090000", "A13A", [adamts13("5")]),
    oru("C3", "20260302200000", "CBC2", [plt("22")]),
]
DELETED = oru("C4", "20260302080000", "CBC1", [plt("20")], status="D")
CORRECTED = oru("C4", "20260302080000", "CBC1", [plt("210")], status="C")

# A critical R06 alert paged in a second episode, and the correction that joins it to the first one:
# the count that closed the first one was thrombocytopenic after all.
SECOND_EPISODE = [
    oru("C1", "20260302080000", "CBC1", [plt("80")]),
    oru("C2", "20260303080000", "CBC2", [plt("200")]),
    oru("C3", "20260304090000", "CBC3", [plt("210")]),  # two normal counts 24 h apart: closed
    oru("C4", "20260306080000", "CBC4", [plt("20")]),
    oru("C5", "20260306090000", "A13A", [adamts13("5")]),
]
JOINED = oru("C6", "20260303080000", "CBC2", [plt("90")], status="C")
# A paged TTP episode that recovers: two normal counts 24 h apart close it.
RECOVERED_TTP_EPISODE = [
    oru("C1", "20260302080000", "CBC1", [plt("20")]),
    oru("C2", "20260302090000", "A13A", [adamts13("5")]),  # R06 critical, paged
    oru("C3", "20260303080000", "CBC2", [plt("200")]),
    oru("C4", "20260304090000", "CBC3", [plt("210")]),
]


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


def paged(engine: Engine, messages: list[bytes]) -> tuple[dict[str, Any], str, Outcome, Outcome]:
    """Run ``messages``, of which one pages a critical R06 alert, the last but one is a correction and
    the last one comes after it: the alert, the key it paged under, and the outcomes of the last two."""
    *earlier, correction, after = run(engine, messages)
    (ttp,) = [outcome for outcome in earlier if outcome.pages]
    (alert,) = ttp.events
    (trigger,) = ttp.pages
    assert (alert["rule"], alert["severity"], trigger["event_action"]) == (R06, "critical", "trigger")
    return alert, trigger["dedup_key"], correction, after


A13_NORMAL = oru("C9", "20260302090000", "A13A", [adamts13("80")], status="C")


@pytest.mark.parametrize("correction", [DELETED, CORRECTED], ids=["deleted", "corrected"])
def test_a_retraction_after_the_first_count_moved_resolves_the_incident_that_was_triggered(
    engine, correction
):
    alert, key, corrected, after = paged(engine, [*OPENED_BY_CBC1, correction, A13_NORMAL])
    # The alert still holds on the counts left, in the same episode: nothing to say, order or page.
    assert (corrected.events, corrected.orders, corrected.pages) == ((), (), ())
    (retraction,) = after.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", alert["id"])
    assert retraction["episode_id"] == alert["episode_id"]
    assert after.pages == ({"event_action": "resolve", "dedup_key": key},)


def test_a_de_escalation_after_the_first_count_was_deleted_resolves_the_incident_that_was_triggered(
    engine,
):
    grey_zone = oru("C5", "20260302090000", "A13A", [adamts13("15")], status="C")
    alert, key, _, after = paged(engine, [*OPENED_BY_CBC1, DELETED, grey_zone])
    (update,) = after.events
    assert (update["type"], update["severity"], update["supersedes"]) == ("alert_update", "high", alert["id"])
    assert update["episode_id"] == alert["episode_id"]
    assert after.pages == ({"event_action": "resolve", "dedup_key": key},)


def test_an_update_still_critical_after_the_first_count_was_deleted_joins_the_incident_it_has(engine):
    low_b12 = oru("C5", "20260302100000", "B12A", [b12("160")])
    alert, key, _, after = paged(engine, [*OPENED_BY_CBC1, DELETED, low_b12])
    updates = [e for e in after.events if e["rule"] == R06]
    assert [(e["type"], e["severity"], e["episode_id"]) for e in updates] == [
        ("alert_update", "critical", alert["episode_id"])
    ]
    assert [(p["event_action"], p["dedup_key"]) for p in after.pages] == [("trigger", key)]


def test_a_retraction_after_a_correction_joined_the_episode_to_an_earlier_one_resolves_its_incident(engine):
    alert, key, joined, after = paged(
        engine, [*SECOND_EPISODE, JOINED, oru("C7", "20260306090000", "A13A", [adamts13("80")], status="C")]
    )
    moved = joined_update(alert, joined)
    (retraction,) = after.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", moved["id"])
    assert after.pages == ({"event_action": "resolve", "dedup_key": key},)


def test_an_update_still_critical_after_a_correction_joined_the_episodes_joins_the_incident_it_has(engine):
    low_b12 = oru("C7", "20260306100000", "B12A", [b12("160")])
    alert, key, joined, after = paged(engine, [*SECOND_EPISODE, JOINED, low_b12])
    (update,) = [e for e in after.events if e["rule"] == R06]
    assert (update["type"], update["severity"]) == ("alert_update", "critical")
    assert update["supersedes"] == joined_update(alert, joined)["id"]
    assert [(p["event_action"], p["dedup_key"]) for p in after.pages] == [("trigger", key)]


def test_the_announcement_of_a_critical_alert_carried_into_the_joint_episode_pages_nothing(engine):
    # Announced in the joint episode at once, still critical: the incident it has already shows it.
    alert, _, joined, _ = paged(
        engine, [*SECOND_EPISODE, JOINED, oru("C7", "20260306100000", "B12A", [b12("160")])]
    )
    joined_update(alert, joined)
    assert joined.pages == ()


def joined_update(alert: dict[str, Any], joined: Outcome) -> dict[str, Any]:
    """The alert_update that says at once that ``alert`` went on in the episode its own joined."""
    (update,) = [e for e in joined.events if e["rule"] == R06]
    assert (update["type"], update["supersedes"]) == ("alert_update", alert["id"])
    assert update["episode_id"] != alert["episode_id"]
    assert {k: v for k, v in update.items() if k not in _MOVED} == {
        k: v for k, v in alert.items() if k not in _MOVED
    }
    return update


# What an alert_update of an alert carried into another episode changes: the rest is said again.
_MOVED = {"type", "id", "supersedes", "episode_id"}
