"""trigger_times(): when the added results are evaluated, as collection times (spec 2.2)."""

from __future__ import annotations

from b12stream.clinical.evaluate import evaluate, trigger_times
from b12stream.clinical.rules_config import RulesConfig
from tests.unit.clinical.clinical_builders import CONFIG, day, history_of, obs, plt


def test_a_b12_drawn_just_before_the_count_that_opens_the_episode_is_evaluated_at_that_count() -> None:
    count = plt(60, day(0, 8))
    b12 = obs("b12_total", 100, day(0, 7.9))
    assert trigger_times([b12], history_of(count, b12), CONFIG) == (day(0, 8),)


def test_a_late_result_drawn_inside_an_open_episode_keeps_its_own_time() -> None:
    ldh = obs("ldh", 900, day(1), high=250)
    history = history_of(plt(80, day(0)), ldh, plt(70, day(5), filler="P2"))
    assert trigger_times([ldh], history, CONFIG) == (day(1),)


def test_a_b12_after_the_latest_count_is_evaluated_at_its_own_time() -> None:
    b12 = obs("b12_total", 100, day(0, 8.1))
    assert trigger_times([b12], history_of(plt(60, day(0, 8)), b12), CONFIG) == (day(0, 8.1),)


def test_a_b12_is_no_trigger_when_no_episode_is_open_at_either_time() -> None:
    b12 = obs("b12_total", 100, day(0, 7.9))
    assert trigger_times([b12], history_of(plt(200, day(0, 8)), b12), CONFIG) == ()
    primary_only = RulesConfig(secondary_triggers=False)
    assert trigger_times([b12], history_of(plt(60, day(0, 8)), b12), primary_only) == ()


def test_a_b12_drawn_in_an_episode_that_has_since_closed_keeps_its_own_time() -> None:
    b12 = obs("b12_total", 100, day(1))
    history = history_of(
        plt(80, day(0)), b12, plt(200, day(3), filler="P2"), plt(210, day(5), filler="P3")
    )
    assert trigger_times([b12], history, CONFIG) == (day(1),)


def test_primary_triggers_keep_their_own_times() -> None:
    early, late = plt(80, day(0)), plt(70, day(1), filler="P2")
    a13 = obs("adamts13_activity", 5, day(0, 12))
    assert trigger_times([late, a13, early], history_of(early, late, a13), CONFIG) == (
        day(0),
        day(0, 12),
        day(1),
    )


def test_an_adamts13_drawn_just_before_the_count_that_opens_the_episode_is_evaluated_at_that_count() -> None:
    count = plt(20, day(0, 8))
    a13 = obs("adamts13_activity", 5, day(0, 7.9))
    history = history_of(count, a13)
    assert trigger_times([a13], history, CONFIG) == (day(0, 7.9), day(0, 8))
    # Only the count's evaluation sees the ADAMTS13 inside an episode (spec 2.3: up to 7 d before it).
    assert evaluate(history, day(0, 7.9), CONFIG) == ()
    assert "TTP-ADAMTS13-SEVERE" in [f.rule for f in evaluate(history, day(0, 8), CONFIG)]


def test_an_adamts13_drawn_long_before_the_episode_keeps_its_own_time_only() -> None:
    a13 = obs("adamts13_activity", 5, day(-8))
    assert trigger_times([a13], history_of(plt(20, day(0)), a13), CONFIG) == (day(-8),)


def test_an_adamts13_collected_with_the_count_that_closed_the_previous_episode_keeps_its_own_time() -> None:
    a13 = obs("adamts13_activity", 5, day(2))
    closed = [plt(20, day(0)), plt(200, day(1), filler="P2"), plt(210, day(2), filler="P3")]
    history = history_of(*closed, a13, plt(120, day(4), filler="P4"))
    assert trigger_times([a13], history, CONFIG) == (day(2),)
