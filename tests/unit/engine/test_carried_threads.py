"""Memory.with_thread_carried and the pages of carried threads: an alert thread carried into the
episode that now holds its evidence (episodes joined or split) goes on there, one per rule and
branch, and its incident keeps the key it was triggered with."""

from __future__ import annotations

import json
from dataclasses import replace

from b12stream.clinical.model import ResultKey, Severity
from b12stream.engine.engine import OutputSettings
from b12stream.engine.ids import alert_id, page_key
from b12stream.engine.memory import AlertRecord, Memory
from b12stream.engine.reconcile import reconcile
from b12stream.engine.state import PatientState
from b12stream.engine.suppression import SuggestionPolicy
from tests.unit.engine.builders import PATIENT, RULES_VERSION, day, finding

R06 = "TTP-ADAMTS13-SEVERE"


def thread(
    episode: str,
    *,
    sequence: int = 1,
    severity: Severity = Severity.CRITICAL,
    at: int = 0,
    evidence: str = "A13A",
) -> AlertRecord:
    return AlertRecord(
        id=alert_id(PATIENT, R06, episode, "severe", sequence),
        rule=R06,
        episode_id=episode,
        branch="severe",
        severity=severity,
        category=("a13:SEVERE",),
        evidence=(ResultKey(evidence, "53622-7", "1"),),
        sequence=sequence,
        observed_at=day(at),
    )


def test_a_carried_thread_goes_on_in_the_episode_and_stays_behind_closed():
    memory, merged = Memory(alerts=(thread("ep-a", sequence=2),)).with_thread_carried(
        thread("ep-a", sequence=2), "ep-b"
    )
    assert merged is None
    left, moved = memory.thread(R06, "ep-a", "severe"), memory.thread(R06, "ep-b", "severe")
    assert left is not None and not left.is_open and left.sequence == 2
    assert moved is not None and moved.is_open
    assert (moved.id, moved.sequence, moved.paged_episode_id) == (thread("ep-a", sequence=2).id, 2, "ep-a")


def test_two_open_threads_that_meet_go_on_as_the_later_one_with_the_evidence_of_both():
    earlier, later = thread("ep-b", sequence=3, at=0), thread("ep-a", at=5, evidence="A13B")
    memory, merged = Memory(alerts=(earlier, later)).with_thread_carried(later, "ep-b")
    assert merged == earlier
    (open_thread,) = memory.open_alerts()
    assert (open_thread.id, open_thread.episode_id, open_thread.paged_episode_id) == (
        later.id,
        "ep-b",
        "ep-a",
    )
    # Its next emission has an id never used in ep-b, and corrections of either result reach it.
    assert open_thread.sequence == 3
    assert {k.filler_order_number for k in open_thread.evidence} == {"A13A", "A13B"}


def test_a_more_severe_thread_already_there_goes_on_and_the_carried_one_is_returned_as_it_was():
    there, carried = thread("ep-b"), thread("ep-a", severity=Severity.HIGH, at=5)
    memory, merged = Memory(alerts=(there, carried)).with_thread_carried(carried, "ep-b")
    assert merged == carried
    assert [a.id for a in memory.open_alerts()] == [there.id]


def test_a_new_alert_in_the_episode_a_paged_thread_was_carried_out_of_pages_under_its_own_key():
    carried, _ = Memory(alerts=(thread("ep-a"),)).with_thread_carried(thread("ep-a"), "ep-b")
    result = reconcile(
        patient=PATIENT,
        memory=carried,
        findings=[finding(R06, Severity.CRITICAL, branch="severe", episode="ep-a", at=day(1))],
        at=day(1),
        corrected={},
        policy=SuggestionPolicy(),
        outputs=OutputSettings(),
        held=(),
        rules_version=RULES_VERSION,
    )
    (alert,) = result.events
    (trigger,) = result.pages
    # The carried thread's incident stays its own: the new alert opens another one, keyed by its id.
    assert page_key(PATIENT, R06, "ep-a", "severe") == thread("ep-a").id
    assert alert["id"] == alert_id(PATIENT, R06, "ep-a", "severe", 2)
    assert trigger["dedup_key"] == alert["id"]


def test_the_sequence_a_thread_pages_under_is_kept_in_the_state_only_when_it_is_not_the_first():
    history = PatientState.empty(PATIENT).history
    paged = PatientState(history, Memory(alerts=(replace(thread("ep-a", sequence=2), paged_sequence=2),)))
    data = paged.to_bytes()
    assert json.loads(data)["memory"]["alerts"][0]["paged_sequence"] == 2
    assert PatientState.from_bytes(data) == paged
    first = PatientState(history, Memory(alerts=(thread("ep-a"),)))
    assert "paged_sequence" not in json.loads(first.to_bytes())["memory"]["alerts"][0]
