"""process(): a count that joins or splits episodes, late or corrected, carries their open alerts to
the episode that now holds their evidence: the same finding is not alerted and paged a second
time, and every incident triggered is resolved under its key when its alert is withdrawn."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.carried import MERGED
from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from tests.unit.engine.test_current_results import R01, R06, oru, plt
from tests.unit.engine.test_re_based_pages import RECOVERED_TTP_EPISODE, SECOND_EPISODE, adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def of_rule(outcomes: list[Outcome], rule: str, kind: str) -> list[dict[str, Any]]:
    return [e for o in outcomes for e in o.events if (e["rule"], e["type"]) == (rule, kind)]


def pages(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(p["event_action"], p["dedup_key"]) for o in outcomes for p in o.pages]


A13_NORMAL = oru("C9", "20260306090000", "A13A", [adamts13("80")], status="C")
# Two TTP episodes, each paged: the first recovers (RECOVERED_TTP_EPISODE), the second opens 8 d on.
TWO_PAGED_EPISODES = [
    *RECOVERED_TTP_EPISODE,
    oru("C5", "20260312080000", "CBC4", [plt("20")]),
    oru("C6", "20260312090000", "A13B", [adamts13("5")]),
]


def test_a_late_count_that_joins_two_episodes_continues_their_alerts_and_pages(engine):
    # SECOND_EPISODE: R01 in the first episode; R01 and a paged R06 in the second. A count drawn
    # between the two normal counts that closed the first, delivered late, joins the two.
    late = oru("C6", "20260303200000", "CBCX", [plt("90")])
    next_count = oru("C7", "20260307080000", "CBC5", [plt("18")])
    outcomes = run(engine, [*SECOND_EPISODE, late, next_count, A13_NORMAL])
    (ttp,) = of_rule(outcomes, R06, "alert")
    (trigger,) = [p for p in pages(outcomes) if p[0] == "trigger"]
    # One R01 goes on in the joint episode; the other is withdrawn as merged into it.
    joined = outcomes[len(SECOND_EPISODE)]
    assert [(e["type"], e["rule"], e["reason"]) for e in joined.events] == [("retraction", R01, MERGED)]
    assert len(of_rule(outcomes, R01, "alert")) == 2
    # The TTP alert is withdrawn once, and its incident resolved under the key it was paged with.
    (retraction,) = of_rule(outcomes, R06, "retraction")
    assert retraction["alert_id"] == ttp["id"]
    assert pages(outcomes)[-1] == ("resolve", trigger[1])


def test_a_deleted_first_count_sent_again_continues_the_open_ttp_alert(engine):
    outcomes = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("20")]),  # R01 in the episode CBC1 opens
            oru("C2", "20260302080000", "CBC1", [plt("20")], status="D"),  # deleted: R01 retracted
            oru("C3", "20260302200000", "CBC2", [plt("20")]),  # R01 in the episode CBC2 opens
            oru("C4", "20260302210000", "A13A", [adamts13("5")]),  # R06 critical, paged
            oru("C5", "20260302080000", "CBC1", [plt("20")]),  # CBC1 sent again: it opens the episode
            oru("C6", "20260303080000", "CBC3", [plt("15")]),
            oru("C7", "20260302210000", "A13A", [adamts13("80")], status="C"),
        ],
    )
    (ttp,) = of_rule(outcomes, R06, "alert")
    assert [e["alert_id"] for e in of_rule(outcomes, R06, "retraction")] == [ttp["id"]]
    (trigger,) = [p for p in pages(outcomes) if p[0] == "trigger"]
    assert pages(outcomes) == [trigger, ("resolve", trigger[1])]


def test_a_late_normal_count_that_splits_an_episode_carries_the_ttp_alert_to_the_later_one(engine):
    outcomes = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("80")]),
            oru("C2", "20260303080000", "CBC2", [plt("200")]),
            oru("C3", "20260305080000", "CBC4", [plt("20")]),
            oru("C4", "20260305090000", "A13A", [adamts13("5")]),  # R06 critical, paged
            # Late: with CBC2 it closes the episode before CBC4, which opens another one.
            oru("C5", "20260304090000", "CBCX", [plt("210")]),
            oru("C6", "20260306080000", "CBC5", [plt("18")]),
            oru("C7", "20260305090000", "A13A", [adamts13("80")], status="C"),
        ],
    )
    (ttp,) = of_rule(outcomes, R06, "alert")
    assert len(of_rule(outcomes, R01, "alert")) == 1
    assert [e["alert_id"] for e in of_rule(outcomes, R06, "retraction")] == [ttp["id"]]
    (trigger,) = [p for p in pages(outcomes) if p[0] == "trigger"]
    assert pages(outcomes) == [trigger, ("resolve", trigger[1])]


def test_two_ttp_alerts_of_episodes_a_correction_joins_go_on_as_one_and_both_pages_are_resolved(engine):
    outcomes = run(
        engine,
        [
            *TWO_PAGED_EPISODES,
            oru("C7", "20260303080000", "CBC2", [plt("90")], status="C"),  # joins the two
            oru("C8", "20260313080000", "CBC5", [plt("15")]),
            oru("C9", "20260312090000", "A13B", [adamts13("80")], status="C"),
            oru("C10", "20260302090000", "A13A", [adamts13("80")], status="C"),
        ],
    )
    first, second = of_rule(outcomes, R06, "alert")
    first_key, second_key = (key for action, key in pages(outcomes) if action == "trigger")
    merged, withdrawn = of_rule(outcomes, R06, "retraction")
    # The earlier one is merged into the later one, which goes on with the evidence of both: no
    # severe ADAMTS13 left withdraws it, whichever of the two results it was first raised on.
    assert (merged["alert_id"], merged["reason"]) == (first["id"], MERGED)
    assert withdrawn["alert_id"] == second["id"]
    assert pages(outcomes)[2:] == [("resolve", first_key), ("resolve", second_key)]
    assert of_rule(outcomes, R06, "alert_update") == []


def test_the_alerts_of_an_episode_left_without_a_low_count_are_retracted(engine):
    outcomes = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("20")]),
            oru("C2", "20260302090000", "A13A", [adamts13("15")]),  # R06 high (grey zone)
            oru("C3", "20260302200000", "CBC2", [plt("200")]),
            # Severe after all: R06 critical, paged, as judged at the latest count (CBC2, normal).
            oru("C4", "20260302090000", "A13A", [adamts13("5")], status="C"),
            oru("C5", "20260302080000", "CBC1", [plt("210")], status="C"),  # no episode left
        ],
    )
    (critical,) = [e for e in of_rule(outcomes, R06, "alert_update") if e["severity"] == "critical"]
    retraction = of_rule(outcomes, R06, "retraction")
    assert [(e["alert_id"], e["reason"]) for e in retraction] == [(critical["id"], "corrected result")]
    (trigger,) = [p for p in pages(outcomes) if p[0] == "trigger"]
    assert pages(outcomes) == [trigger, ("resolve", trigger[1])]


def test_a_ttp_alert_merged_into_a_joint_episode_goes_back_to_its_own_when_the_join_is_undone(engine):
    outcomes = run(
        engine,
        [
            *TWO_PAGED_EPISODES,
            oru("C7", "20260303080000", "CBC2", [plt("90")], status="C"),  # joins the two
            oru("C8", "20260303080000", "CBC2", [plt("200")], status="C"),  # splits them again
            oru("C9", "20260313080000", "CBC5", [plt("15")]),
            oru("C10", "20260312090000", "A13B", [adamts13("80")], status="C"),
        ],
    )
    _, second = of_rule(outcomes, R06, "alert")
    _, second_key = (key for action, key in pages(outcomes) if action == "trigger")
    merged, withdrawn = of_rule(outcomes, R06, "retraction")
    assert merged["reason"] == MERGED
    # Back in the episode it was raised in, it is the one its next results speak of.
    assert (withdrawn["alert_id"], withdrawn["episode_id"]) == (second["id"], second["episode_id"])
    assert pages(outcomes)[-1] == ("resolve", second_key)


def test_the_alerts_of_a_patient_left_without_any_result_are_retracted(engine):
    outcomes = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("80")]),
            oru("C2", "20260302200000", "CBC2", [plt("20")]),  # R01 updated: it rests on CBC2 now
            oru("C3", "20260302200000", "CBC2", [plt("20")], status="D"),  # R01 holds on CBC1
            oru("C4", "20260302080000", "CBC1", [plt("80")], status="D"),  # nothing left
        ],
    )
    (alert,) = of_rule(outcomes, R01, "alert")
    (update,) = of_rule(outcomes, R01, "alert_update")
    assert outcomes[2].events == ()
    (retraction,) = outcomes[3].events
    assert (retraction["type"], retraction["alert_id"], retraction["reason"]) == (
        "retraction",
        update["id"],
        "deleted result",
    )
    assert alert["id"] == update["supersedes"]
