"""An ADAMTS13 is valid only for its episode (spec 2.3): it counts for the episode from whose 7-day
look-back to its close it was collected. When late or new counts give it to another episode, earlier
or later, the open alert resting on it goes there, so that episode does not raise it (and page it)
a second time."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from tests.unit.engine.test_current_results import R01, R06, b12, oru, plt
from tests.unit.engine.test_look_back_results_across_splits import open_threads
from tests.unit.engine.test_re_based_pages import adamts13, run

# An R06 alert said in the episode CBC3 opened, and the split that gives its ADAMTS13 to an earlier one.
SPLIT_GIVING_THE_ADAMTS13_AWAY = [
    oru("M0", "20260310080000", "CBC3", [plt("80")]),  # opens the episode alerts are published in
    oru("M1", "20260306080000", "A13A", [adamts13("5")]),  # its look-back: R06 critical, paged, 40824-5
    oru("M2", "20260306200000", "CBC1", [plt("60")]),  # late: now the episode's first count
    oru("M3", "20260307200000", "CBC2", [plt("200")]),
    # A normal pair 24 h apart: the counts up to it are an earlier episode, which holds the
    # ADAMTS13; the later one keeps the published id.
    oru("M4", "20260308220000", "CBC4", [plt("210")]),
    oru("M5", "20260307080000", "CBC5", [plt("50")]),  # a count of the earlier episode
]


# An R06 alert said on its look-back, and a late count that opens an earlier episode, which the
# normal pair closes. It joins and splits nothing, but the ADAMTS13 is in its look-back now, no
# longer in the later one's.
EARLIER_EPISODE_TAKING_THE_ADAMTS13 = [
    oru("M0", "20260309080000", "A13A", [adamts13("5")]),
    oru("M1", "20260310230000", "CBC2", [plt("250")]),
    oru("M2", "20260312230000", "CBC3", [plt("250")]),
    oru("M3", "20260314050000", "CBC4", [plt("80")]),  # R06 on its look-back: critical, paged, 40824-5
    oru("M4", "20260310050000", "CBC1", [plt("40")]),
]


def _ttp(outcomes: list[Outcome]) -> tuple[list[str], set[str]]:
    """The episodes of the R06 alerts open after ``outcomes`` (as a consumer keeps them), and the
    keys paged."""
    keys = {p["dedup_key"] for o in outcomes for p in o.pages if p["event_action"] == "trigger"}
    return [episode for rule, episode, _ in open_threads(outcomes) if rule == R06], keys


def _said_again(outcomes: list[Outcome]) -> bool:
    """Whether every update of the R06 alert says its finding again: its rule holds in the episode
    it went to."""
    alert, *updates = [e for o in outcomes for e in o.events if e["rule"] == R06]
    return bool(updates) and all(u["summary"] == alert["summary"] for u in updates)


def _episode_of(outcome: Outcome) -> str:
    """The episode id the first event of ``outcome`` carries."""
    return outcome.events[0]["episode_id"]


def test_a_split_that_gives_the_adamts13_to_the_earlier_new_episode_carries_the_alert_there() -> None:
    outcomes = run(Engine.load(), SPLIT_GIVING_THE_ADAMTS13_AWAY)
    (ttp,), keys = _ttp(outcomes)
    assert len(keys) == 1
    assert _said_again(outcomes)
    assert ttp != _episode_of(outcomes[0])


def test_a_late_count_that_opens_an_earlier_episode_takes_the_adamts13_alert_into_it() -> None:
    outcomes = run(Engine.load(), EARLIER_EPISODE_TAKING_THE_ADAMTS13)
    (ttp,), keys = _ttp(outcomes)
    assert len(keys) == 1
    assert _said_again(outcomes)
    assert ttp != _episode_of(outcomes[3])


def test_a_count_that_opens_an_episode_after_an_adamts13_takes_its_alert_into_it() -> None:
    outcomes = run(
        Engine.load(),
        [
            oru("M0", "20260303200000", "CBC1", [plt("90")]),
            oru("M1", "20260305230000", "CBC2", [plt("200")]),
            oru("M2", "20260307170000", "A13A", [adamts13("5")]),  # R06 critical, paged
            # Late: with CBC2, a normal pair that closed the episode before the ADAMTS13 was drawn.
            oru("M3", "20260307080000", "CBC3", [plt("250")]),
            # The next count opens an episode whose look-back holds the ADAMTS13.
            oru("M4", "20260312110000", "CBC4", [plt("40")]),
        ],
    )
    (ttp,), keys = _ttp(outcomes)
    assert len(keys) == 1
    assert _said_again(outcomes)
    assert ttp != _episode_of(outcomes[0])


@pytest.mark.parametrize(
    ("messages", "moving", "b12_collected"),
    [
        (SPLIT_GIVING_THE_ADAMTS13_AWAY, 4, "20260307120000"),
        (EARLIER_EPISODE_TAKING_THE_ADAMTS13, 4, "20260310060000"),
    ],
    ids=["split", "earlier episode"],
)
def test_the_alert_carried_by_its_adamts13_takes_the_suggestions_it_showed_along(
    messages: list[bytes], moving: int, b12_collected: str
) -> None:
    # A low B12 in the episode the alert went to changes its category there: an update (R11).
    outcomes = run(Engine.load(), [*messages, oru("M9", b12_collected, "B12A", [b12("90")])])
    alert = next(e for o in outcomes for e in o.events if e["rule"] == R06)
    (announced,) = [e for e in outcomes[moving].events if e["rule"] == R06]
    assert [o["loinc"] for o in alert["suggested_orders"]] == ["40824-5"]
    assert announced["suggested_orders"] == alert["suggested_orders"]
    # Suggested for this finding within R11 (c)'s window: no second order.
    later = [e for o in outcomes[moving + 1 :] for e in o.events]
    (update,) = [e for e in later if e["rule"] == R06]
    assert update["episode_id"] == announced["episode_id"]
    assert "40824-5" not in {o["loinc"] for e in later for o in e["suggested_orders"]}
    # What the alert that stayed showed beside it (B12, folate, film) does not go along.
    (unknown,) = [
        e
        for o in outcomes[moving:]
        for e in o.events
        if (e["rule"], e["episode_id"]) == (R01, announced["episode_id"])
    ]
    assert [o["loinc"] for o in unknown["suggested_orders"]] == ["2132-9", "2284-8", "18314-5"]
