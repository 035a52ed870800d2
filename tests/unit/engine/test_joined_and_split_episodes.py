"""process(): a count that joins or splits episodes, late or corrected, carries their open alerts to
the episode that now holds their evidence: the same finding is not alerted and paged a second
time, and every incident triggered is resolved under its key when its alert is withdrawn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from b12stream.engine.carried import MERGED
from b12stream.engine.engine import Engine
from b12stream.engine.process import Outcome
from b12stream.engine.schemas import validation_errors
from tests.unit.engine.test_alerts_follow_their_b12 import INTRINSIC_FACTOR_AB
from tests.unit.engine.test_current_results import R01, R06, R08, b12, hcy, oru, plt
from tests.unit.engine.test_re_based_pages import RECOVERED_TTP_EPISODE, SECOND_EPISODE, adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def of_rule(outcomes: list[Outcome], rule: str, kind: str) -> list[dict[str, Any]]:
    return [e for o in outcomes for e in o.events if (e["rule"], e["type"]) == (rule, kind)]


def pages(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(p["event_action"], p["dedup_key"]) for o in outcomes for p in o.pages]


def incidents(outcomes: list[Outcome]) -> list[str]:
    """The keys triggered, each once, in order (a trigger of an open incident merges into it)."""
    return list(dict.fromkeys(key for action, key in pages(outcomes) if action == "trigger"))


def heard(view: dict[str, dict[str, Any]], events: Iterable[dict[str, Any]]) -> None:
    """Apply ``events`` to a consumer's open alerts by id: an alert adds one, an alert_update
    replaces the one it supersedes, a retraction removes one (a KeyError: it was not open)."""
    for event in events:
        if event["type"] == "alert_update":
            del view[event["supersedes"]]
        if event["type"] == "retraction":
            del view[event["alert_id"]]
        elif event["type"] in ("alert", "alert_update"):
            view[event["id"]] = event


def open_alerts(outcomes: Iterable[Outcome]) -> dict[str, dict[str, Any]]:
    """The open alerts a consumer holds after ``outcomes``, by id."""
    view: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        heard(view, outcome.events)
    return view


def assert_heard_right(outcomes: Iterable[Outcome]) -> None:
    """After every message, a consumer that keeps open alerts by id (``heard``) holds exactly the
    engine's open alerts, under their current episode ids, and never two of one rule and branch in
    one episode."""
    view: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        heard_right(view, outcome)


def heard_right(view: dict[str, dict[str, Any]], outcome: Outcome) -> None:
    """``assert_heard_right`` for one message, ``view`` the consumer's open alerts before it."""
    moved = {
        e["id"]
        for e in outcome.events
        if e["type"] == "alert_update"
        and e["supersedes"] in view
        and view[e["supersedes"]]["episode_id"] != e["episode_id"]
    }
    heard(view, outcome.events)
    engine_view = {a.id: a.episode_id for a in outcome.state.memory.open_alerts()}
    assert {key: e["episode_id"] for key, e in view.items()} == engine_view
    threads = [(e["rule"], e["branch"], e["episode_id"]) for e in view.values()]
    assert len(threads) == len(set(threads)), "two open alerts of one rule and branch in one episode"
    # An alert carried into another episode is told so once: no other event of the message follows.
    assert moved.isdisjoint(e.get("supersedes", e.get("alert_id")) for e in outcome.events)


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
    (key,) = incidents(outcomes)
    # One R01 goes on in the joint episode; the other is withdrawn as merged into it. The ones that
    # go on are announced under the joint episode's id at once; the TTP alert, still critical, pages
    # nothing: the incident it has already shows it.
    joined = outcomes[len(SECOND_EPISODE)]
    assert [(e["type"], e["rule"]) for e in joined.events] == [
        ("retraction", R01),
        ("alert_update", R01),
        ("alert_update", R06),
    ]
    merged, *announced = joined.events
    assert merged["reason"] == MERGED
    assert {e["episode_id"] for e in announced} == {merged["episode_id"]} != {ttp["episode_id"]}
    assert joined.pages == ()
    assert len(of_rule(outcomes, R01, "alert")) == 2
    # The TTP alert is withdrawn once, and its incident resolved under the key it was paged with.
    (update,) = of_rule(outcomes, R06, "alert_update")
    (retraction,) = of_rule(outcomes, R06, "retraction")
    assert (update["supersedes"], retraction["alert_id"]) == (ttp["id"], update["id"])
    assert pages(outcomes)[-1] == ("resolve", key)


def test_a_deleted_first_count_posted_again_continues_the_open_ttp_alert(engine):
    outcomes = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("20")]),  # R01 in the episode CBC1 opens
            oru("C2", "20260302080000", "CBC1", [plt("20")], status="D"),  # deleted: R01 retracted
            oru("C3", "20260302200000", "CBC2", [plt("20")]),  # R01 in the episode CBC2 opens
            oru("C4", "20260302210000", "A13A", [adamts13("5")]),  # R06 critical, paged
            # CBC1 posted again (as a correction: sent again as it was, it stays deleted): it opens
            # the episode.
            oru("C5", "20260302080000", "CBC1", [plt("20")], status="C"),
            oru("C6", "20260303080000", "CBC3", [plt("15")]),
            oru("C7", "20260302210000", "A13A", [adamts13("80")], status="C"),
        ],
    )
    (ttp,) = of_rule(outcomes, R06, "alert")
    # Published under the id of the episode CBC1 opened again: announced there, and withdrawn.
    (moved,) = of_rule(outcomes, R06, "alert_update")
    assert moved["supersedes"] == ttp["id"] and moved["episode_id"] != ttp["episode_id"]
    assert [e["alert_id"] for e in of_rule(outcomes, R06, "retraction")] == [moved["id"]]
    (key,) = incidents(outcomes)
    assert pages(outcomes) == [("trigger", key), ("resolve", key)]  # the announcement pages nothing


# R01 and a paged R06 in one episode, and a late normal count that splits it: with CBC2 it closes
# the episode before CBC4, which opens another one, holding all the alerts' evidence.
SPLIT_BY_A_LATE_NORMAL_COUNT = [
    oru("C1", "20260302080000", "CBC1", [plt("80")]),
    oru("C2", "20260303080000", "CBC2", [plt("200")]),
    oru("C3", "20260305080000", "CBC4", [plt("20")]),
    oru("C4", "20260305090000", "A13A", [adamts13("5")]),  # R06 critical, paged
    oru("C5", "20260304090000", "CBCX", [plt("210")]),
]


def test_a_late_normal_count_that_splits_an_episode_carries_the_ttp_alert_to_the_later_one(engine):
    outcomes = run(
        engine,
        [
            *SPLIT_BY_A_LATE_NORMAL_COUNT,
            oru("C6", "20260306080000", "CBC5", [plt("18")]),
            oru("C7", "20260305090000", "A13A", [adamts13("80")], status="C"),
        ],
    )
    (ttp,) = of_rule(outcomes, R06, "alert")
    assert len(of_rule(outcomes, R01, "alert")) == 1
    (moved,) = of_rule(outcomes, R06, "alert_update")
    assert moved["supersedes"] == ttp["id"] and moved["episode_id"] != ttp["episode_id"]
    assert [e["alert_id"] for e in of_rule(outcomes, R06, "retraction")] == [moved["id"]]
    (key,) = incidents(outcomes)
    assert pages(outcomes) == [("trigger", key), ("resolve", key)]  # the announcement pages nothing


def test_alerts_carried_out_of_an_episode_are_announced_at_once_so_new_ones_there_are_no_second_ones(
    engine,
):
    outcomes = run(
        engine,
        [
            *SPLIT_BY_A_LATE_NORMAL_COUNT,
            # Severe in the first episode too: R06 (and R01) fire there again.
            oru("C6", "20260302100000", "A13X", [adamts13("5")]),
        ],
    )
    *_, before, split, again = outcomes
    open_before = {(e["rule"], e["id"]): e for e in open_alerts(outcomes[:-2]).values()}
    first_episode = {e["episode_id"] for e in open_before.values()}
    # The split says where the alerts went, in its own output: each one updated, as it was, under
    # the later episode's id; the TTP alert, still critical, pages nothing: its incident shows it.
    assert [(e["type"], e["rule"]) for e in split.events] == [("alert_update", R01), ("alert_update", R06)]
    assert {(e["rule"], e["supersedes"]) for e in split.events} == set(open_before)
    assert {e["episode_id"] for e in split.events}.isdisjoint(first_episode)
    (key,) = {p["dedup_key"] for p in before.pages}
    assert split.pages == ()
    # Suggestions said again are not suggested again: no order message, no emission counted (R11).
    assert [e["suggested_orders"] for e in split.events] == [
        open_before[e["rule"], e["supersedes"]]["suggested_orders"] for e in split.events
    ]
    assert split.orders == ()
    emitted = [{(s.loinc, s.emitted_at) for s in o.state.memory.suggestions} for o in (before, split)]
    assert emitted[0] == emitted[1]
    # New alerts of the first episode are one of a kind there, and page under their own key.
    assert [(e["type"], e["episode_id"]) for e in again.events] == [("alert", *first_episode)] * 2
    assert [p["event_action"] for p in again.pages] == ["trigger"]
    assert again.pages[0]["dedup_key"] != key
    assert_heard_right(outcomes)


def two_r01_episodes(second_count: str) -> list[bytes]:
    """An R01 episode closed by two normal counts 24 h apart, and a second R01 episode whose first
    count is ``second_count``."""
    return [
        oru("C1", "20260302080000", "CBC1", [plt("80")]),
        oru("C2", "20260303080000", "CBC2", [plt("200")]),
        oru("C3", "20260304090000", "CBC3", [plt("210")]),
        oru("C4", "20260306080000", "CBC4", [plt(second_count)]),
    ]


# Late, between the normal counts that closed the first episode: it joins the two.
JOINING = "20260303200000"


def merged_and_moved(joined: Outcome, alert: dict[str, Any]) -> dict[str, Any]:
    """The events of the message that joined the episodes: the first R01 withdrawn as merged into
    ``alert``, and one alert_update of ``alert`` under the joint episode's id."""
    merged, update = joined.events
    assert (merged["type"], merged["reason"]) == ("retraction", MERGED)
    assert (update["type"], update["supersedes"], update["episode_id"]) == (
        "alert_update",
        alert["id"],
        merged["episode_id"],
    )
    return update


def test_an_alert_carried_and_updated_by_one_message_is_updated_once(engine):
    # The joining count is also the lowest count yet.
    outcomes = run(engine, [*two_r01_episodes("60"), oru("C5", JOINING, "CBCX", [plt("15")])])
    *_, second, joined = outcomes
    # One update says both: the joint episode, and the lower count.
    assert merged_and_moved(joined, *second.events)["summary"].startswith("Platelets 15 ")
    assert_heard_right(outcomes)


def test_an_announcement_keeps_the_previously_suggested_marks_its_alert_showed(engine):
    outcomes = run(
        engine,
        [
            *two_r01_episodes("20"),  # R01 suggests B12, folate and a film in the second episode
            # R08, newly fired high: B12 and folate shown again, marked "previously suggested" (R11).
            oru("C5", "20260306090000", "HCY1", [hcy("120")]),
            oru("C6", JOINING, "CBCX", [plt("90")]),
        ],
    )
    (alert,) = outcomes[4].events
    (announcement,) = [e for e in outcomes[-1].events if e["rule"] == R08]
    assert alert["rule"] == R08
    assert {s.get("previously_suggested_at") for s in alert["suggested_orders"]} == {"2026-03-06T08:00:00Z"}
    assert announcement["suggested_orders"] == alert["suggested_orders"]
    assert announcement["episode_id"] != alert["episode_id"]


def test_an_alert_whose_rule_no_longer_holds_where_it_went_is_announced_as_remembered(engine):
    outcomes = run(
        engine,
        [
            *two_r01_episodes("20"),
            oru("C5", "20260305200000", "B12A", [b12("600")]),  # late: the B12 is known after all
            oru("C6", JOINING, "CBCX", [plt("90")]),
        ],
    )
    (second,) = outcomes[3].events
    update = merged_and_moved(outcomes[-1], second)
    # R01 does not hold in the joint episode with the B12 known: the alert as the engine keeps it.
    assert (update["rule"], update["severity"], update["observed_at"]) == (
        R01,
        "medium",
        second["observed_at"],
    )
    assert {e["source_message_id"] for e in update["evidence"]} == {"C1", "C4"}
    assert update["suggested_orders"] == []
    assert validation_errors(update) == []
    assert_heard_right(outcomes)


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
    first_key, second_key = incidents(outcomes)
    merged, withdrawn = of_rule(outcomes, R06, "retraction")
    # The earlier one is merged into the later one, which goes on, announced in the joint episode,
    # and its incident with it. A13B, which it was said on, corrected: it says it rests on A13A now,
    # in the same incident. No severe ADAMTS13 left withdraws it.
    assert (merged["alert_id"], merged["reason"]) == (first["id"], MERGED)
    moved, re_based = of_rule(outcomes, R06, "alert_update")
    assert (moved["supersedes"], moved["episode_id"]) == (second["id"], first["episode_id"])
    assert (re_based["supersedes"], re_based["episode_id"]) == (moved["id"], first["episode_id"])
    assert [e["observed_at"] for e in re_based["evidence"] if e["analyte"] == "adamts13_activity"] == [
        "2026-03-02T09:00:00Z"
    ]
    assert withdrawn["alert_id"] == re_based["id"]
    assert pages(outcomes)[2:] == [("resolve", first_key), ("trigger", second_key), ("resolve", second_key)]


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
    _, second_key = incidents(outcomes)
    merged, withdrawn = of_rule(outcomes, R06, "retraction")
    assert merged["reason"] == MERGED
    # Announced in the joint episode, then back in the episode it was raised in, it is the one its
    # next results speak of.
    joint, back = of_rule(outcomes, R06, "alert_update")
    assert (joint["supersedes"], back["supersedes"]) == (second["id"], joint["id"])
    assert back["episode_id"] == second["episode_id"] != joint["episode_id"]
    assert (withdrawn["alert_id"], withdrawn["episode_id"]) == (back["id"], second["episode_id"])
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



def test_a_suggestion_carried_with_its_thread_and_its_episode_keeps_both_its_emissions(
    engine: Engine,
) -> None:
    """The intrinsic-factor antibody is shown twice at one time (R04's work-up, retracted as R02
    takes it over: R11 (c) counts two emissions). A late count joins that episode to an earlier one:
    the suggestion goes there with its episode and with the R02 thread that showed it, and carried
    onto itself it must not count as one emission."""
    outcomes = run(
        engine,
        [
            oru("M0", "20260311230000", "CBC6", [plt("20")], status="C"),
            oru("M1", "20260304230000", "CBC1", [plt("40")]),
            oru("M2", "20260308200000", "A13A", [adamts13("15")]),
            oru("M3", "20260312170000", "CBC7", [plt("90")]),
            oru("M4", "20260312200000", "B12A", [b12("100")]),
            oru("M5", "20260305020000", "CBC2", [plt("250")]),
            oru("M6", "20260309020000", "CBC4", [plt("200")], status="C"),
            oru("M7", "20260311230000", "CBC6", [plt("200")], status="C"),
            oru("M8", "20260308080000", "CBC3", [plt("90")]),
            oru("M9", "20260309110000", "CBC5", [plt("40")]),  # late: the episodes join
        ],
    )
    (before,) = [s for s in outcomes[-2].state.memory.suggestions if s.loinc == INTRINSIC_FACTOR_AB]
    (after,) = [s for s in outcomes[-1].state.memory.suggestions if s.loinc == INTRINSIC_FACTOR_AB]
    assert after.episode_id != before.episode_id
    assert after.emitted_at == before.emitted_at
    assert len(before.emitted_at) == 2
