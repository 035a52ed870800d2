"""process(): an open alert that still holds, with nothing new to say, rests from then on on the
results it holds on now (a correction left it standing, or a result it was not said on came in), so
a later correction or deletion of those takes it back (R10) and resolves its page. One whose
ADAMTS13 a correction took away says what it rests on now (``corrections.re_based``)."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import R01, R06, S8_HAEMOLYSIS, Result, b12, oru, plt
from tests.unit.engine.test_re_based_pages import adamts13, run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


# A critical R06 paged on the first severe ADAMTS13 (A13A); a repeat (A13B) is as severe: nothing new.
TWO_SEVERE = [
    oru("C1", "20260302080000", "CBC1", [plt("20")]),
    oru("C2", "20260302090000", "A13A", [adamts13("5")]),
    oru("C3", "20260303090000", "A13B", [adamts13("6")]),
]
FIRST_CORRECTED = oru("C4", "20260302090000", "A13A", [adamts13("80")], status="C")
SECOND_CORRECTED = oru("C5", "20260303090000", "A13B", [adamts13("80")], status="C")
SECOND_DELETED = oru("C5", "20260303090000", "A13B", [adamts13("6")], status="D")

R07 = "MAHA-ADAMTS13-PENDING"


def schistocytes(reported: str) -> Result:
    return ("800-3", "ST", reported, "", "", "A")


# Haemolytic thrombocytopenia, ADAMTS13 unknown: R07 critical, paged. Then the film in a message of
# its own: MAHA now, R07 as critical as it was: nothing new to say.
R07_THEN_FILM = [
    oru("C1", "20260302080000", "CBC1", S8_HAEMOLYSIS),
    oru("C2", "20260302080000", "FILM1", [schistocytes("Present")]),
]


@pytest.mark.parametrize("second", [SECOND_CORRECTED, SECOND_DELETED], ids=["corrected", "deleted"])
def test_every_severe_adamts13_taken_back_one_at_a_time_retracts_r06_and_resolves_its_page(engine, second):
    _, paged, _, kept, taken_back = run(engine, [*TWO_SEVERE, FIRST_CORRECTED, second])
    (alert,) = paged.events
    (trigger,) = paged.pages
    # R06 still holds on A13B, at the same severity: it says it rests on it now, in the same incident.
    (update,) = kept.events
    assert (update["type"], update["supersedes"]) == ("alert_update", alert["id"])
    assert update["severity"] == "critical"
    assert kept.orders == ()
    assert [(p["event_action"], p["dedup_key"]) for p in kept.pages] == [("trigger", trigger["dedup_key"])]
    (retraction,) = taken_back.events
    assert (retraction["type"], retraction["rule"]) == ("retraction", R06)
    assert retraction["alert_id"] == update["id"]
    assert taken_back.pages == ({"event_action": "resolve", "dedup_key": trigger["dedup_key"]},)


def test_a_correction_that_leaves_r06_holding_on_another_adamts13_says_it_rests_on_that_one(engine):
    *_, kept = run(engine, [*TWO_SEVERE, FIRST_CORRECTED])
    (record,) = [a for a in kept.state.memory.open_alerts() if a.rule == R06]
    assert sorted(key.filler_order_number for key in record.evidence) == ["A13B", "CBC1"]
    assert record.also_rests_on == ()  # A13A holds it no longer


def test_a_film_corrected_to_no_schistocytes_retracts_the_r07_that_held_on_it_and_resolves_its_page(engine):
    """R07 was said before the film came; the film it then held on, corrected to "Absent", leaves no
    MAHA (schistocytes looked for and not found): R07 no longer holds, R01 does."""
    paged, film, corrected = run(
        engine, [*R07_THEN_FILM, oru("C3", "20260302080000", "FILM1", [schistocytes("Absent")], status="C")]
    )
    (alert,) = paged.events
    (trigger,) = paged.pages
    assert (alert["rule"], alert["severity"], trigger["event_action"]) == (R07, "critical", "trigger")
    assert (film.events, film.orders, film.pages) == ((), (), ())
    retraction, r01 = corrected.events
    assert (retraction["type"], retraction["alert_id"], retraction["reason"]) == (
        "retraction",
        alert["id"],
        "corrected result",
    )
    assert (r01["type"], r01["rule"]) == ("alert", R01)
    assert corrected.pages == ({"event_action": "resolve", "dedup_key": trigger["dedup_key"]},)


def test_an_r07_that_still_holds_without_the_deleted_film_stays_and_rests_on_the_haemolysis_alone(engine):
    *_, film, deleted = run(
        engine, [*R07_THEN_FILM, oru("C3", "20260302080000", "FILM1", [schistocytes("Present")], status="D")]
    )
    (held,) = [a for a in film.state.memory.open_alerts() if a.rule == R07]
    assert [key.filler_order_number for key in held.also_rests_on] == ["FILM1"]
    # Haemolytic thrombocytopenia without a film is R07 as critical as before: nothing new to say.
    assert (deleted.events, deleted.orders, deleted.pages) == ((), (), ())
    (kept,) = [a for a in deleted.state.memory.open_alerts() if a.rule == R07]
    assert kept.id == held.id
    assert {key.filler_order_number for key in kept.rests_on} == {"CBC1"}


def test_a_count_delivered_late_does_not_take_the_film_out_of_what_r07_rests_on(engine):
    """R07 said at the 10:00 count comes to hold on the film of 10:00. A count of 08:00 delivered late
    holds R07 at 08:00, on what was collected by then: not on the film, which R07 still rests on.
    The film corrected to "Absent" takes R07 back and resolves its page."""
    haemolysis = [result for result in S8_HAEMOLYSIS if result[0] != "777-3"]
    _, paged, _, late, corrected = run(
        engine,
        [
            oru("C1", "20260302060000", "LAB1", haemolysis),
            oru("C2", "20260302100000", "CBC2", [plt("12")]),
            oru("C3", "20260302100000", "FILM1", [schistocytes("Present")]),
            oru("C4", "20260302080000", "CBC1", [plt("12")]),
            oru("C5", "20260302100000", "FILM1", [schistocytes("Absent")], status="C"),
        ],
    )
    (alert,) = paged.events
    (trigger,) = paged.pages
    assert (alert["rule"], alert["severity"]) == (R07, "critical")
    assert late.events == ()
    retraction, _ = corrected.events
    assert (retraction["type"], retraction["alert_id"], retraction["reason"]) == (
        "retraction",
        alert["id"],
        "corrected result",
    )
    assert corrected.pages == ({"event_action": "resolve", "dedup_key": trigger["dedup_key"]},)


def test_r01_that_came_to_hold_on_a_later_count_is_still_taken_back_by_a_correction_of_its_own(engine):
    """R01 said on CBC1 holds on CBC2 too, with nothing new to say; a normal B12 then ends it, but
    nothing it rests on was taken back: it stays open. CBC1, the count its alert shows, corrected
    to normal leaves it holding neither now nor at its own time: retracted."""
    said, *_, corrected = run(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60")]),
            oru("C2", "20260305080000", "CBC2", [plt("95")]),
            oru("C3", "20260304080000", "B12A", [b12("600")]),
            oru("C4", "20260302080000", "CBC1", [plt("200")], status="C"),
        ],
    )
    (alert,) = said.events
    (retraction,) = corrected.events
    assert (retraction["type"], retraction["alert_id"], retraction["reason"]) == (
        "retraction",
        alert["id"],
        "corrected result",
    )
