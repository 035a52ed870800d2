"""process(): an alert a correction leaves standing rests, from then on, on the results it holds on
now, so a later correction or deletion of those takes it back (R10) and resolves its page."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import R06, oru, plt
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


@pytest.mark.parametrize("second", [SECOND_CORRECTED, SECOND_DELETED], ids=["corrected", "deleted"])
def test_every_severe_adamts13_taken_back_one_at_a_time_retracts_r06_and_resolves_its_page(engine, second):
    _, paged, _, kept, taken_back = run(engine, [*TWO_SEVERE, FIRST_CORRECTED, second])
    (alert,) = paged.events
    (trigger,) = paged.pages
    # R06 still holds on A13B, at the same severity: nothing the clinicians see changed.
    assert (kept.events, kept.orders, kept.pages) == ((), (), ())
    (retraction,) = taken_back.events
    assert (retraction["type"], retraction["rule"]) == ("retraction", R06)
    assert retraction["alert_id"] == alert["id"]
    assert taken_back.pages == ({"event_action": "resolve", "dedup_key": trigger["dedup_key"]},)


def test_a_correction_that_leaves_r06_holding_records_the_adamts13_it_now_rests_on(engine):
    *_, kept = run(engine, [*TWO_SEVERE, FIRST_CORRECTED])
    (record,) = [a for a in kept.state.memory.open_alerts() if a.rule == R06]
    assert [key.filler_order_number for key in record.evidence] == ["A13B", "CBC1"]
