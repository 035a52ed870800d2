"""A B12 or ADAMTS13 drawn just before the first low count serves the episode that count opens. When
a late normal pair splits the patient's counts into two episodes, the alert resting on it stays with
that episode: it is not carried to the later one and raised again in the first."""

from __future__ import annotations

from typing import Any

from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from tests.unit.engine.test_current_results import Result, b12, oru, plt
from tests.unit.engine.test_re_based_pages import adamts13, run


def _split_after(look_back: Result) -> list[bytes]:
    return [
        oru("M1", "20260302080000", "F1", [plt("40")]),
        oru("M2", "20260306080000", "F2", [plt("60")]),
        oru("M3", "20260302060000", "F3", [look_back]),  # drawn 2 h before the first low count
        oru("M4", "20260303080000", "F4", [plt("200")]),
        oru("M5", "20260304120000", "F5", [plt("210")]),  # a normal pair: 03-06 opens a second episode
        oru("M6", "20260302120000", "F6", [plt("30")]),
    ]


def open_threads(outcomes: list[Outcome]) -> list[tuple[str, str, str]]:
    open_alerts: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        for event in outcome.events:
            if event["type"] == "alert_update":
                open_alerts.pop(event["supersedes"])
            if event["type"] == "retraction":
                open_alerts.pop(event["alert_id"])
            else:
                open_alerts[event["id"]] = event
    return [(e["rule"], e["episode_id"], e["branch"]) for e in open_alerts.values()]


def test_one_severe_adamts13_pages_and_orders_once_across_a_split() -> None:
    outcomes = run(Engine.load(), _split_after(adamts13("5")))
    triggers = {p["dedup_key"] for o in outcomes for p in o.pages if p["event_action"] == "trigger"}
    assert len(triggers) == 1
    assert len([order for o in outcomes for order in o.orders]) == 2  # the R01 work-up, the inhibitor
    threads = open_threads(outcomes)
    assert len(threads) == len(set(threads))


def test_an_alert_on_a_b12_drawn_before_the_first_count_stays_one_thread_across_a_split() -> None:
    threads = open_threads(run(Engine.load(), _split_after(b12("250"))))
    assert len(threads) == len(set(threads))
