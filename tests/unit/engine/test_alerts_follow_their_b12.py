"""An alert resting on a B12 result alone (R04's cause work-up) finds its episode as one resting on an
ADAMTS13 does: when a late count closes its episode before the B12 was drawn, it goes to the episode
whose look-back now holds the B12, so that episode does not raise it (and order its work-up) again."""

from __future__ import annotations

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import S8_HAEMOLYSIS, b12, oru, plt
from tests.unit.engine.test_look_back_results_across_splits import open_threads
from tests.unit.engine.test_re_based_pages import run

R04 = "B12-CAUSE-WORKUP"
INTRINSIC_FACTOR_AB = "31443-5"
# MAHA: R02 yields to it, so the cause work-up stands alone (R04) in the episode the count opens.
MAHA = [*S8_HAEMOLYSIS, ("800-3", "ST", "Present", "", "", "")]


def test_a_count_that_opens_an_episode_after_a_b12_takes_its_work_up_alert_into_it() -> None:
    outcomes = run(
        Engine.load(),
        [
            oru("M0", "20260303200000", "CBC1", [plt("90")]),
            oru("M1", "20260305230000", "CBC2", [plt("200")]),
            oru("M2", "20260307170000", "B12A", [b12("100")]),  # the episode is open: R04 alone
            # Late: with CBC2, a normal pair that closed the episode before the B12 was drawn.
            oru("M3", "20260307080000", "CBC3", [plt("250")]),
            # The next count opens an episode whose look-back holds the B12.
            oru("M4", "20260312110000", "CBC4", MAHA),
        ],
    )
    (alert,) = [e for e in outcomes[2].events if e["rule"] == R04]
    work_up = [e for o in outcomes for e in o.events if e["rule"] == R04]
    assert [rule for rule, _, _ in open_threads(outcomes)].count(R04) == 1
    assert all(e["type"] == "alert_update" and e["summary"] == alert["summary"] for e in work_up[1:])
    assert work_up[-1]["episode_id"] != alert["episode_id"]
    ordered = [line.code for o in outcomes for message in o.orders for line in message.request.orders]
    assert ordered.count(INTRINSIC_FACTOR_AB) == 1


def test_a_split_that_leaves_the_b12_in_the_later_episode_says_the_work_up_again_there() -> None:
    outcomes = run(
        Engine.load(),
        [
            oru("M0", "20260306200000", "CBC1", [plt("60")]),  # opens the episode alerts are published in
            oru("M1", "20260310080000", "CBC3", [plt("80")]),
            oru("M2", "20260310200000", "CBC4", [plt("200")]),
            oru("M3", "20260311080000", "B12A", [b12("100")]),  # the episode is open: R04 alone
            # Late: a normal pair 24 h apart splits the counts; the later episode holds the B12.
            oru("M4", "20260307200000", "CBC2", [plt("200")]),
            oru("M5", "20260308220000", "CBC5", [plt("210")]),
        ],
    )
    alert, announcement = [e for o in outcomes for e in o.events if e["rule"] == R04]
    assert announcement["type"] == "alert_update"
    assert announcement["summary"] == alert["summary"]
    assert announcement["episode_id"] != alert["episode_id"]


def test_a_b12_drawn_before_the_episode_it_was_said_in_keeps_the_work_up_there_across_a_split() -> None:
    # A B12 is valid for months: the episode the late counts open before it is served by it too, but
    # there R02 carries the work-up; the episode it was said in still holds it alone.
    outcomes = run(
        Engine.load(),
        [
            oru("M0", "20260310080000", "CBC3", MAHA),  # opens the episode alerts are published in
            oru("M1", "20260306080000", "B12A", [b12("100")]),  # its look-back: R04 alone (MAHA)
            oru("M2", "20260306200000", "CBC1", [plt("60")]),
            oru("M3", "20260307200000", "CBC2", [plt("200")]),
            oru("M4", "20260308220000", "CBC4", [plt("210")]),  # a normal pair: an earlier episode
            oru("M5", "20260307080000", "CBC5", [plt("50")]),
        ],
    )
    (alert,) = [e for o in outcomes for e in o.events if e["rule"] == R04]
    assert (R04, alert["episode_id"], "") in open_threads(outcomes)
