"""Two R06 alerts open in one episode, one per branch: a severe one (critical, paged) said on one
ADAMTS13 and a grey-zone one (high) said on another, carried into it when a correction joined their
episodes. A correction that takes the severe branch's ADAMTS13 away (now normal) retracts the severe
alert and resolves its incident (R10): the grey-zone finding that still holds in the episode holds
its own alert, not the severe one."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from tests.unit.engine.test_current_results import R06, oru, plt
from tests.unit.engine.test_re_based_pages import adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


TWO_BRANCHES_IN_ONE_EPISODE = [
    oru("C1", "20260302080000", "CBC1", [plt("20")]),
    oru("C2", "20260302090000", "A13A", [adamts13("5")]),  # R06 severe: critical, paged
    # Two normal counts 24 h apart close that episode.
    oru("C3", "20260303080000", "N1", [plt("250")]),
    oru("C4", "20260304090000", "N2", [plt("250")]),
    oru("C5", "20260306080000", "CBC2", [plt("20")]),
    oru("C6", "20260306090000", "A13B", [adamts13("15")]),  # R06 grey zone, high, in a second episode
    # N1 was thrombocytopenic after all: the episodes join, the grey-zone alert goes to the first one.
    oru("C7", "20260303080000", "N1", [plt("90")], status="C"),
]
A13A_NORMAL = oru("C8", "20260302090000", "A13A", [adamts13("80")], status="C")


def _open_r06(outcome: Outcome) -> list[tuple[str, str]]:
    return sorted((a.branch, a.id) for a in outcome.state.memory.open_alerts() if a.rule == R06)


def _r06(outcome: Outcome) -> list[dict[str, Any]]:
    return [event for event in outcome.events if event["rule"] == R06]


def test_two_r06_branches_are_open_in_the_joined_episode(engine):
    *_, joined = run(engine, TWO_BRANCHES_IN_ONE_EPISODE)
    records = [a for a in joined.state.memory.open_alerts() if a.rule == R06]
    assert sorted(a.branch for a in records) == ["grey-zone", "severe"]
    assert len({a.episode_id for a in records}) == 1


def test_the_severe_alert_whose_adamts13_is_corrected_away_is_retracted_beside_the_grey_zone_one(engine):
    outcomes = run(engine, [*TWO_BRANCHES_IN_ONE_EPISODE, A13A_NORMAL])
    paged, joined, corrected = outcomes[1], outcomes[-2], outcomes[-1]
    (severe,) = _r06(paged)
    (trigger,) = paged.pages
    assert (severe["branch"], severe["severity"]) == ("severe", "critical")
    assert trigger["event_action"] == "trigger"
    ((_, grey_zone),) = [item for item in _open_r06(joined) if item[0] == "grey-zone"]

    (retraction,) = _r06(corrected)
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", severe["id"])
    assert retraction["reason"] == "corrected result"
    # Its incident is resolved; nothing is paged anew.
    paged_now = [(p["event_action"], p["dedup_key"]) for p in corrected.pages]
    assert paged_now == [("resolve", trigger["dedup_key"])]
    assert _open_r06(corrected) == [("grey-zone", grey_zone)]


def test_the_grey_zone_alert_whose_adamts13_is_corrected_away_is_retracted_beside_the_severe_one(engine):
    """The other way round: the severe finding still holds, on its own ADAMTS13, and keeps its own
    alert and incident; the grey-zone alert goes, and nothing is paged."""
    a13b_normal = oru("C8", "20260306090000", "A13B", [adamts13("80")], status="C")
    outcomes = run(engine, [*TWO_BRANCHES_IN_ONE_EPISODE, a13b_normal])
    joined, corrected = outcomes[-2], outcomes[-1]
    ((_, grey_zone), (_, severe)) = _open_r06(joined)

    (retraction,) = _r06(corrected)
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", grey_zone)
    assert retraction["reason"] == "corrected result"
    assert corrected.pages == ()
    assert _open_r06(corrected) == [("severe", severe)]
