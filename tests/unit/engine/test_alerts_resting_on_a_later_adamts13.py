"""An R06 alert said on one severe ADAMTS13 comes to rest on a second one, collected later in its
episode. When a correction takes the first one away (no longer severe), the alert goes on resting
on the second one and says so (an ``alert_update`` naming it, R10): its incident is triggered again
under the key it has, not paged anew. When the second one counts for another episode, the alert
goes there with it, so that episode does not raise it, and page it, a second time."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from tests.unit.engine.test_current_results import R06, oru, plt
from tests.unit.engine.test_look_back_results_across_splits import open_threads
from tests.unit.engine.test_re_based_pages import adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


# R06 critical, paged on A13A; A13B, as severe, three days later: nothing new to say, it rests on it too.
TWO_SEVERE_DAYS_APART = [
    oru("C1", "20260302080000", "CBC1", [plt("20")]),
    oru("C2", "20260302090000", "A13A", [adamts13("5")]),
    oru("C3", "20260305080000", "CBC2", [plt("20")]),
    oru("C4", "20260305090000", "A13B", [adamts13("6")]),
]
A13A_NORMAL = oru("C5", "20260302090000", "A13A", [adamts13("80")], status="C")
A13A_STILL_SEVERE = oru("C5", "20260302090000", "A13A", [adamts13("4")], status="C")
# Two normal counts 24 h apart, delivered late: CBC1 and A13A's episode closes, CBC2 and A13B's
# opens after it.
SPLIT = [
    oru("C6", "20260303080000", "N1", [plt("250")]),
    oru("C7", "20260304080000", "N2", [plt("250")]),
]
NEXT_COUNT = oru("C8", "20260306080000", "CBC3", [plt("20")])


def _r06(outcome: Outcome) -> list[dict[str, Any]]:
    return [event for event in outcome.events if event["rule"] == R06]


def _adamts13_said(event: dict[str, Any]) -> list[float]:
    return [item["value"] for item in event["evidence"] if item["analyte"] == "adamts13_activity"]


def _paged(outcome: Outcome) -> list[tuple[str, str]]:
    return [(p["event_action"], p["dedup_key"]) for p in outcome.pages]


def _triggered(outcomes: list[Outcome]) -> set[str]:
    return {p["dedup_key"] for o in outcomes for p in o.pages if p["event_action"] == "trigger"}


def test_an_alert_whose_adamts13_is_corrected_away_says_it_rests_on_the_later_one(engine):
    _, paged, *_, corrected = run(engine, [*TWO_SEVERE_DAYS_APART, A13A_NORMAL])
    (alert,) = _r06(paged)
    (trigger,) = paged.pages
    (update,) = corrected.events
    assert (update["type"], update["rule"], update["severity"]) == ("alert_update", R06, "critical")
    assert update["supersedes"] == alert["id"]
    assert update["episode_id"] == alert["episode_id"]
    assert _adamts13_said(update) == [6.0]
    # The same incident, triggered again so that it shows what the alert rests on now.
    assert _paged(corrected) == [("trigger", trigger["dedup_key"])]


def test_the_alert_goes_with_the_later_adamts13_when_a_split_parts_them_and_is_paged_once(engine):
    outcomes = run(engine, [*TWO_SEVERE_DAYS_APART, A13A_NORMAL, *SPLIT, NEXT_COUNT])
    first = _r06(outcomes[1])[0]
    threads = [thread for thread in open_threads(outcomes) if thread[0] == R06]
    assert len(threads) == 1
    assert threads[0][1] != first["episode_id"]  # in the later episode, with A13B
    assert _triggered(outcomes) == {outcomes[1].pages[0]["dedup_key"]}
    assert [e["type"] for e in _r06(outcomes[-1])] in ([], ["alert_update"])


def test_a_correction_after_the_split_carries_the_alert_to_the_later_adamts13s_episode(engine):
    messages = [*TWO_SEVERE_DAYS_APART, *SPLIT, A13A_NORMAL, NEXT_COUNT]
    _, paged, *_, split, corrected, after = run(engine, messages)
    (alert,) = _r06(paged)
    (trigger,) = paged.pages
    assert _r06(split) == []  # A13A still counts for the earlier episode: the alert stays there
    # No retraction, no second alert (R01 is raised in the later episode, on CBC2: its own finding).
    (update,) = _r06(corrected)
    assert (update["type"], update["supersedes"]) == ("alert_update", alert["id"])
    assert update["severity"] == "critical"
    assert update["episode_id"] != alert["episode_id"]
    assert _adamts13_said(update) == [6.0]
    assert _paged(corrected) == [("trigger", trigger["dedup_key"])]
    # The inhibitor it suggested is not proposed again: it goes on with the alert (R11 (c)).
    assert update["suggested_orders"] == []
    assert update["id"] not in [message.alert_id for message in corrected.orders]
    assert _r06(after) == []


def test_an_adamts13_corrected_but_still_severe_keeps_the_alert_where_it_was_said(engine):
    """A13A still holds R06 in its episode: the alert stays said on it, and with it when a split
    parts A13A from A13B (the later episode's own finding is another one)."""
    _, paged, *_, corrected, _, split = run(engine, [*TWO_SEVERE_DAYS_APART, A13A_STILL_SEVERE, *SPLIT])
    (alert,) = _r06(paged)
    assert (corrected.events, corrected.pages) == ((), ())
    assert _r06(split) == []
    (record,) = [a for a in split.state.memory.open_alerts() if a.rule == R06]
    assert (record.id, record.episode_id) == (alert["id"], alert["episode_id"])


def test_an_alert_of_a_closed_episode_goes_on_resting_on_the_later_adamts13_when_its_own_is_corrected_away(
    engine,
):
    """The episode closed after A13B (two normal counts): R06 holds neither at the newest result nor,
    corrected, at the alert's own time, but still at A13B's, in the alert's episode. The alert says
    it rests on A13B, as it does while the episode is open, instead of being retracted and its
    incident resolved while a severe ADAMTS13 still holds it."""
    closed = [
        oru("C6", "20260307080000", "N1", [plt("250")]),
        oru("C7", "20260308090000", "N2", [plt("250")]),
    ]
    _, paged, *_, corrected = run(engine, [*TWO_SEVERE_DAYS_APART, *closed, A13A_NORMAL])
    (alert,) = _r06(paged)
    (trigger,) = paged.pages
    (update,) = _r06(corrected)
    assert (update["type"], update["supersedes"]) == ("alert_update", alert["id"])
    assert update["severity"] == "critical"
    assert update["episode_id"] == alert["episode_id"]
    assert _adamts13_said(update) == [6.0]
    assert _paged(corrected) == [("trigger", trigger["dedup_key"])]


def test_an_adamts13_corrected_into_the_grey_zone_leaves_a_closed_episodes_alert_on_the_later_severe_one(
    engine,
):
    """A13A corrected to 15 % (grey zone) while A13B, in the same episode since closed, is 6 %: the
    severe finding still holds there, so the alert stays critical, resting on A13B, and keeps its
    incident, as it does while the episode is open; not taken over by the grey zone and resolved."""
    closed = [
        oru("C6", "20260307080000", "N1", [plt("250")]),
        oru("C7", "20260308090000", "N2", [plt("250")]),
    ]
    a13a_grey = oru("C5", "20260302090000", "A13A", [adamts13("15")], status="C")
    open_outcomes = run(engine, [*TWO_SEVERE_DAYS_APART, a13a_grey])
    closed_outcomes = run(engine, [*TWO_SEVERE_DAYS_APART, *closed, a13a_grey])
    for outcomes in (open_outcomes, closed_outcomes):
        (update,) = _r06(outcomes[-1])
        assert (update["type"], update["severity"]) == ("alert_update", "critical")
        assert _adamts13_said(update) == [6.0]
        assert _paged(outcomes[-1]) == [("trigger", outcomes[1].pages[0]["dedup_key"])]
