"""process(): an ADAMTS13 is valid only for the episode it was drawn in (spec 2.3), so the TTP alert
and page of a recovered episode are not raised again in the next one (R06)."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import R06, oru, plt
from tests.unit.engine.test_re_based_pages import RECOVERED_TTP_EPISODE, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def test_an_adamts13_of_the_previous_episode_does_not_page_the_next_one(engine):
    outcomes = run(
        engine,
        [*RECOVERED_TTP_EPISODE, oru("C5", "20260306080000", "CBC4", [plt("120")])],  # next, within 7 d
    )
    *_, next_episode = outcomes
    assert [e["rule"] for e in next_episode.events if e["rule"] == R06] == []
    assert next_episode.pages == ()
    assert [p["event_action"] for o in outcomes for p in o.pages] == ["trigger"]
