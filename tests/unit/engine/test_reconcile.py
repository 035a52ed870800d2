"""R10/R11 behaviour of the engine with hand-built findings: what is said, re-said, and taken back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from b12stream.clinical.model import Finding, Observation, ResultKey, Severity, SuggestedOrder
from b12stream.engine.engine import OutputSettings
from b12stream.engine.memory import Memory
from b12stream.engine.reconcile import Reconciled, announcement, reconcile
from b12stream.engine.schemas import validation_errors
from b12stream.engine.suppression import SuggestionPolicy
from tests.unit.engine.builders import B12, FILM, FOLATE, PATIENT, RULES_VERSION, day, finding, platelets

POLICY = SuggestionPolicy()


def run(
    memory: Memory,
    findings: Sequence[Finding],
    at=None,
    corrected: Mapping[ResultKey, Observation] | None = None,
) -> Reconciled:
    moment = at or (findings[0].observed_at if findings else day(0))
    return reconcile(
        patient=PATIENT,
        memory=memory,
        findings=findings,
        at=moment,
        corrected=corrected or {},
        policy=POLICY,
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
        held=(),
    )


def loincs(event: dict) -> list[str]:
    return [order["loinc"] for order in event["suggested_orders"]]


def test_a_new_finding_is_an_alert_with_every_suggestion_and_an_order_message():
    result = run(Memory(), [finding()])
    (event,) = result.events
    assert event["type"] == "alert"
    assert loincs(event) == ["2132-9", "2284-8", "18314-5"]
    assert all("previously_suggested_at" not in order for order in event["suggested_orders"])
    assert [message.alert_id for message in result.orders] == [event["id"]]
    assert result.pages == ()


def test_same_rule_episode_and_severity_again_says_nothing():
    first = run(Memory(), [finding()])
    again = run(first.memory, [finding(at=day(0, 11), evidence=(platelets(58, day(0, 11), "F2"),))])
    assert again.events == ()
    assert again.orders == ()


def test_an_alert_that_says_nothing_new_rests_on_the_results_it_holds_on_now():
    first = run(Memory(), [finding()])
    again = run(first.memory, [finding(at=day(0, 11), evidence=(platelets(58, day(0, 11), "F2"),))])
    (said,) = first.memory.alerts
    (kept,) = again.memory.alerts
    assert kept == replace(said, also_rests_on=(ResultKey("F2", "777-3", "1"),))


def test_an_alert_that_comes_to_hold_on_another_result_still_rests_on_the_one_it_held_on_before():
    # Evaluations come in the order results arrive, not in clinical time: one that sees the alert
    # holding on F3 does not take back that it held on F2, which stays in its input set (R10).
    first = run(Memory(), [finding(severity=Severity.HIGH)])
    on_f2 = finding(severity=Severity.HIGH, at=day(0, 11), evidence=(platelets(58, day(0, 11), "F2"),))
    on_f3 = finding(severity=Severity.HIGH, at=day(0, 12), evidence=(platelets(57, day(0, 12), "F3"),))
    memory = run(run(first.memory, [on_f2]).memory, [on_f3]).memory
    corrected_f2 = platelets(120, day(0, 11), "F2", status="C")
    after = finding(severity=Severity.MEDIUM, at=day(0, 11), evidence=(corrected_f2,))
    (update,) = run(memory, [after], corrected={corrected_f2.result_key: corrected_f2}).events
    assert (update["type"], update["severity"]) == ("alert_update", "medium")


def test_an_alert_that_holds_on_the_results_it_was_said_on_leaves_the_memory_as_it_was():
    first = run(Memory(), [finding()])
    assert run(first.memory, [finding(at=day(0, 11))]).memory is first.memory


def test_an_evaluation_before_the_alert_was_said_leaves_what_it_rests_on():
    first = run(Memory(), [finding(at=day(1))])
    earlier = run(first.memory, [finding(at=day(0), evidence=(platelets(70, day(0), "F0"),))])
    assert earlier.memory is first.memory


def test_escalation_is_an_update_superseding_the_open_alert_and_reshowing_suggestions():
    first = run(Memory(), [finding(severity=Severity.INFO, category=("plt:G1",))])
    update = run(first.memory, [finding(severity=Severity.MEDIUM, category=("plt:G1",), at=day(1))])
    (event,) = update.events
    assert event["type"] == "alert_update"
    assert event["supersedes"] == first.events[0]["id"]
    assert event["id"] != first.events[0]["id"]
    assert loincs(event) == ["2132-9", "2284-8", "18314-5"]
    assert all("previously_suggested_at" not in order for order in event["suggested_orders"])


def test_category_change_is_an_update_without_repeating_recent_suggestions():
    first = run(Memory(), [finding(category=("plt:G2",))])
    update = run(first.memory, [finding(category=("plt:G3",), at=day(1))])
    (event,) = update.events
    assert event["type"] == "alert_update"
    assert event["supersedes"] == first.events[0]["id"]
    assert event["suggested_orders"] == []
    assert update.orders == ()


def test_branch_change_with_a_category_change_updates_the_other_branch_alert():
    r05 = "PSEUDO-TMA-SUSPECTED"
    unknown, deficient = ("b12:UNKNOWN", "a13:NOT_SEVERE"), ("b12:DEFICIENT", "a13:NOT_SEVERE")
    first = run(Memory(), [finding(r05, Severity.HIGH, branch="a", category=unknown, orders=(B12,))])
    update = run(first.memory, [finding(r05, Severity.HIGH, branch="b", category=deficient, orders=())])
    (event,) = update.events
    assert (event["type"], event["branch"]) == ("alert_update", "b")
    assert event["supersedes"] == first.events[0]["id"]
    assert [(a.branch, a.is_open) for a in update.memory.alerts] == [("a", False), ("b", True)]


def test_branch_change_without_a_relevant_category_change_is_a_new_alert():
    r09 = "PLATELET-RECOVERY"
    first = run(Memory(), [finding(r09, Severity.INFO, branch="improving", category=("plt:G1",), orders=())])
    later = finding(r09, Severity.INFO, branch="normalised", category=("plt:none",), orders=(), at=day(7))
    (event,) = run(first.memory, [later]).events
    assert (event["type"], event["branch"]) == ("alert", "normalised")


def test_improving_platelet_grade_is_not_a_category_change():
    first = run(Memory(), [finding("B12-LOW-THROMBOCYTOPENIA", category=("plt:G2", "b12:DEFICIENT"))])
    better = finding("B12-LOW-THROMBOCYTOPENIA", category=("plt:G1", "b12:DEFICIENT"), at=day(7))
    assert run(first.memory, [better]).events == ()


def test_a_change_in_a_class_that_does_not_shape_the_rule_is_not_a_category_change():
    before, after = ("b12:DEFICIENT", "a13:PENDING"), ("b12:DEFICIENT", "a13:SEVERE")
    first = run(Memory(), [finding("B12-CAUSE-WORKUP", Severity.INFO, category=before)])
    later = finding("B12-CAUSE-WORKUP", Severity.INFO, category=after, at=day(1))
    assert run(first.memory, [later]).events == ()
    first = run(Memory(), [finding("MAHA-ADAMTS13-PENDING", Severity.HIGH, category=before)])
    later = finding("MAHA-ADAMTS13-PENDING", Severity.HIGH, category=after, at=day(1))
    assert [e["type"] for e in run(first.memory, [later]).events] == ["alert_update"]


def test_lower_severity_without_category_change_says_nothing():
    first = run(Memory(), [finding(severity=Severity.HIGH)])
    assert run(first.memory, [finding(severity=Severity.MEDIUM, at=day(1))]).events == ()


def test_suggestion_within_seven_days_is_withheld_from_a_new_lower_alert():
    first = run(Memory(), [finding()])
    other = finding("HOMOCYSTEINE-PROTHROMBOTIC", Severity.MEDIUM, orders=(B12, FOLATE), at=day(6, 23))
    (event,) = run(first.memory, [other]).events
    assert event["type"] == "alert"
    assert loincs(event) == []


def test_suggestion_after_seven_days_is_shown_again():
    first = run(Memory(), [finding()])
    other = finding("PLATELET-RECOVERY", Severity.MEDIUM, orders=(FILM,), branch="not-resolving", at=day(16))
    (event,) = run(first.memory, [other]).events
    assert loincs(event) == ["18314-5"]
    assert "previously_suggested_at" not in event["suggested_orders"][0]


def test_at_most_two_emissions_per_episode():
    memory = run(Memory(), [finding()]).memory
    second = run(memory, [finding("PLATELET-RECOVERY", orders=(FILM,), branch="x", at=day(8))])
    assert loincs(second.events[0]) == ["18314-5"]
    third = run(second.memory, [finding("HOMOCYSTEINE-PROTHROMBOTIC", orders=(FILM,), at=day(20))])
    assert loincs(third.events[0]) == []


def test_newly_fired_high_alert_reshows_recent_suggestions_marked_previously_suggested():
    first = run(Memory(), [finding("MAHA-ADAMTS13-PENDING", Severity.HIGH, orders=(B12,))])
    newly = finding("PSEUDO-TMA-SUSPECTED", Severity.HIGH, branch="a", orders=(B12, FOLATE), at=day(2))
    (event,) = run(first.memory, [newly]).events
    assert loincs(event) == ["2132-9", "2284-8"]
    assert event["suggested_orders"][0]["previously_suggested_at"] == "2026-03-02T09:00:00Z"
    assert "previously_suggested_at" not in event["suggested_orders"][1]


def test_newly_fired_alert_below_high_does_not_get_the_exception():
    first = run(Memory(), [finding("MAHA-ADAMTS13-PENDING", Severity.HIGH, orders=(B12,))])
    newly = finding("PSEUDO-TMA-SUSPECTED", Severity.INFO, branch="c", orders=(B12,), at=day(2))
    assert loincs(run(first.memory, [newly]).events[0]) == []


def test_x_status_lift_reshows_the_suggestion_as_an_update_of_the_open_alert():
    first = run(Memory(), [finding(category=("plt:G1",))])
    lifted = first.memory.with_lift({"b12_total"}, day(1, 5))
    update = run(lifted, [finding(category=("plt:G1",), at=day(1, 7))])
    (event,) = update.events
    assert event["type"] == "alert_update"
    assert event["supersedes"] == first.events[0]["id"]
    assert loincs(event) == ["2132-9"]
    assert len(update.orders) == 1
    assert run(update.memory, [finding(category=("plt:G1",), at=day(1, 9))]).events == ()


def test_corrected_evidence_that_no_longer_holds_is_retracted():
    first = run(Memory(), [finding()])
    correction = platelets(240, day(0), status="C")
    result = run(first.memory, [], at=day(0), corrected={correction.result_key: correction})
    (event,) = result.events
    assert event["type"] == "retraction"
    assert event["alert_id"] == first.events[0]["id"]
    assert (event["reason"], event["severity"]) == ("corrected result", "medium")
    assert run(result.memory, [], at=day(0), corrected={correction.result_key: correction}).events == ()


def test_wrong_patient_and_deleted_results_give_their_own_reasons():
    first = run(Memory(), [finding()])
    for status, reason in (("W", "posted to wrong patient"), ("D", "deleted result")):
        removal = platelets(60, day(0), status=status)
        (event,) = run(first.memory, [], at=day(0), corrected={removal.result_key: removal}).events
        assert event["reason"] == reason


def test_correction_that_still_holds_at_another_severity_is_an_update():
    first = run(Memory(), [finding(severity=Severity.HIGH)])
    correction = platelets(55, day(0), status="C")
    lower = finding(severity=Severity.MEDIUM, evidence=(correction,))
    (event,) = run(first.memory, [lower], corrected={correction.result_key: correction}).events
    assert (event["type"], event["severity"]) == ("alert_update", "medium")


def test_correction_that_still_holds_at_the_same_severity_says_nothing():
    first = run(Memory(), [finding()])
    correction = platelets(62, day(0), status="C")
    same = finding(evidence=(correction,))
    assert run(first.memory, [same], corrected={correction.result_key: correction}).events == ()


def test_correction_of_unrelated_evidence_retracts_nothing():
    first = run(Memory(), [finding()])
    other = replace(platelets(240, day(0), "F9", status="C"))
    assert run(first.memory, [], at=day(0), corrected={other.result_key: other}).events == ()


def test_after_retraction_the_same_rule_fires_again_with_a_fresh_id_and_suppressed_suggestions():
    first = run(Memory(), [finding()])
    removal = platelets(60, day(0), status="W")
    retracted = run(first.memory, [], at=day(0), corrected={removal.result_key: removal})
    again = run(retracted.memory, [finding(at=day(1), evidence=(platelets(50, day(1), "F2"),))])
    (event,) = again.events
    assert event["type"] == "alert"
    assert event["id"] not in {first.events[0]["id"]}
    assert loincs(event) == []


def test_critical_alerts_page_and_their_retraction_resolves():
    first = run(Memory(), [finding("TTP-ADAMTS13-SEVERE", Severity.CRITICAL, orders=())])
    (page,) = first.pages
    assert (page["event_action"], page["dedup_key"]) == ("trigger", first.events[0]["id"])
    removal = platelets(60, day(0), status="D")
    retraction = run(first.memory, [], at=day(0), corrected={removal.result_key: removal})
    assert retraction.pages == ({"event_action": "resolve", "dedup_key": first.events[0]["id"]},)


def test_update_of_a_critical_alert_resolves_the_superseded_page():
    r07 = "MAHA-ADAMTS13-PENDING"
    first = run(Memory(), [finding(r07, Severity.CRITICAL, category=("a13:PENDING",), orders=())])
    update = run(first.memory, [finding(r07, Severity.HIGH, category=("a13:INDETERMINATE",), orders=())])
    assert update.pages == ({"event_action": "resolve", "dedup_key": first.events[0]["id"]},)


R07 = "MAHA-ADAMTS13-PENDING"


def _r07(severity: Severity, category: tuple[str, ...], at=None) -> Finding:
    return finding(R07, severity, category=category, orders=(), at=at or day(0))


def test_a_new_critical_alert_pages_once_under_its_own_id():
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    (event,) = first.events
    assert [(p["event_action"], p["dedup_key"]) for p in first.pages] == [("trigger", event["id"])]


def test_an_update_that_keeps_a_critical_alert_critical_does_not_page_again():
    """A trigger for the incident that is open is merged into it; a new dedup key would page again."""
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    update = run(first.memory, [_r07(Severity.CRITICAL, ("a13:PENDING", "b12:DEFICIENT"), day(1))])
    again = run(update.memory, [_r07(Severity.CRITICAL, ("a13:PENDING", "b12:NORMAL"), day(2))])
    assert [e["type"] for e in (*update.events, *again.events)] == ["alert_update", "alert_update"]
    paged = first.events[0]["id"]
    for result in (update, again):
        (page,) = result.pages
        assert (page["event_action"], page["dedup_key"]) == ("trigger", paged)
        assert page["payload"]["custom_details"]["alert_id"] == result.events[0]["id"]


def test_a_retraction_after_updates_resolves_the_incident_that_is_open():
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    update = run(first.memory, [_r07(Severity.CRITICAL, ("a13:PENDING", "b12:DEFICIENT"), day(1))])
    removal = platelets(60, day(0), status="D")
    retraction = run(update.memory, [], at=day(0), corrected={removal.result_key: removal})
    (event,) = retraction.events
    assert (event["type"], event["alert_id"]) == ("retraction", update.events[0]["id"])
    assert retraction.pages == ({"event_action": "resolve", "dedup_key": first.events[0]["id"]},)


def test_an_escalation_to_critical_pages_and_its_retraction_resolves_that_page():
    first = run(Memory(), [_r07(Severity.MEDIUM, ("a13:PENDING",))])
    assert first.pages == ()
    escalation = run(first.memory, [_r07(Severity.CRITICAL, ("a13:PENDING",), day(1))])
    (page,) = escalation.pages
    assert page["event_action"] == "trigger"
    assert page["payload"]["custom_details"]["alert_id"] == escalation.events[0]["id"]
    still = run(escalation.memory, [_r07(Severity.CRITICAL, ("a13:PENDING", "b12:LOW"), day(2))])
    assert [(p["event_action"], p["dedup_key"]) for p in still.pages] == [("trigger", page["dedup_key"])]
    removal = platelets(60, day(0), status="D")
    retraction = run(still.memory, [], at=day(2), corrected={removal.result_key: removal})
    assert retraction.pages == ({"event_action": "resolve", "dedup_key": page["dedup_key"]},)


def _announced(memory: Memory, said: Finding) -> tuple[dict, ...]:
    """The pages of the announcement of ``memory``'s open alert saying ``said``."""
    (record,) = memory.open_alerts()
    _, _, pages = announcement(
        record,
        said,
        (),
        patient=PATIENT,
        memory=memory,
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
    )
    return pages


def test_the_announcement_of_a_carried_critical_alert_pages_only_when_its_severity_changes():
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    key = first.events[0]["id"]
    assert _announced(first.memory, _r07(Severity.CRITICAL, ("a13:PENDING",))) == ()
    lower = _announced(first.memory, _r07(Severity.HIGH, ("a13:INDETERMINATE",)))
    assert [(p["event_action"], p["dedup_key"]) for p in lower] == [("resolve", key)]


def test_the_announcement_of_a_carried_alert_keeps_what_it_came_to_rest_on():
    """R07 came to hold on F2 with nothing new to say, then went into another episode; its
    announcement says the finding at the alert's time again, without F2. A correction of F2 that
    leaves R07 holding nowhere still takes it back and resolves its page (R10)."""
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    later = finding(
        R07,
        Severity.CRITICAL,
        category=("a13:PENDING",),
        orders=(),
        at=day(0, 11),
        evidence=(platelets(12, day(0, 11), "F2"),),
    )
    rested = run(first.memory, [later])
    (record,) = rested.memory.open_alerts()
    memory, _, _ = announcement(
        record,
        _r07(Severity.CRITICAL, ("a13:PENDING",)),
        (),
        patient=PATIENT,
        memory=rested.memory,
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
    )
    corrected_f2 = platelets(200, day(0, 11), "F2", status="C")
    taken_back = run(memory, [], at=day(0, 11), corrected={corrected_f2.result_key: corrected_f2})
    assert [e["type"] for e in taken_back.events] == ["retraction"]
    assert [p["event_action"] for p in taken_back.pages] == ["resolve"]


def test_critical_again_after_leaving_critical_pages_again_after_the_resolve():
    first = run(Memory(), [_r07(Severity.CRITICAL, ("a13:PENDING",))])
    lower = run(first.memory, [_r07(Severity.HIGH, ("a13:INDETERMINATE",), day(1))])
    again = run(lower.memory, [_r07(Severity.CRITICAL, ("a13:SEVERE",), day(2))])
    key = first.events[0]["id"]
    assert [(p["event_action"], p["dedup_key"]) for p in lower.pages] == [("resolve", key)]
    assert [(p["event_action"], p["dedup_key"]) for p in again.pages] == [("trigger", key)]


def test_a_branch_escalating_to_critical_pages_and_a_branch_leaving_it_resolves():
    r06 = "TTP-ADAMTS13-SEVERE"
    grey = finding(r06, Severity.HIGH, branch="grey-zone", category=("a13:INDETERMINATE",), orders=())
    severe = finding(r06, Severity.CRITICAL, branch="severe", category=("a13:SEVERE",), orders=(), at=day(1))
    first = run(Memory(), [grey])
    escalation = run(first.memory, [severe])
    (event,) = escalation.events
    assert event["type"] == "alert_update"
    assert [(p["event_action"], p["dedup_key"]) for p in escalation.pages] == [("trigger", event["id"])]
    back = replace(grey, observed_at=day(2), category=("a13:INDETERMINATE", "b12:LOW"))
    lower = run(escalation.memory, [back])
    assert [(p["event_action"], p["dedup_key"]) for p in lower.pages] == [("resolve", event["id"])]


def test_ids_are_the_same_for_the_same_history():
    sequence = [finding(category=("plt:G1",)), finding(category=("plt:G2",), at=day(1))]
    ids = []
    for _ in range(2):
        memory, seen = Memory(), []
        for item in sequence:
            result = run(memory, [item])
            memory = result.memory
            seen.extend(event["id"] for event in result.events)
        ids.append(seen)
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 2


def test_an_order_listed_twice_in_one_finding_is_suggested_once():
    (event,) = run(Memory(), [finding(orders=(FILM, B12, FILM))]).events
    assert loincs(event) == ["18314-5", "2132-9"]


R02 = "B12-LOW-THROMBOCYTOPENIA"
R06 = "TTP-ADAMTS13-SEVERE"


def _r02(severity: Severity, a13: str, at=None) -> Finding:
    return finding(R02, severity, category=("plt:G2", "b12:DEFICIENT", f"a13:{a13}"), at=at or day(0))


def _r06_grey(at=None) -> Finding:
    category = ("plt:G2", "b12:DEFICIENT", "a13:INDETERMINATE")
    return finding(R06, Severity.HIGH, branch="grey-zone", category=category, orders=(), at=at or day(1))


def test_a_severe_adamts13_downgrades_an_open_r02_to_info_by_an_update():
    first = run(Memory(), [_r02(Severity.MEDIUM, "UNKNOWN")])
    severe = finding(R06, Severity.CRITICAL, branch="severe", orders=(), at=day(1))
    result = run(first.memory, [_r02(Severity.INFO, "SEVERE", day(1)), severe])
    update, r06 = result.events
    assert (update["type"], update["rule"], update["severity"]) == ("alert_update", R02, "info")
    assert update["supersedes"] == first.events[0]["id"]
    assert (r06["type"], r06["severity"]) == ("alert", "critical")
    assert all(validation_errors(e) == [] for e in result.events)


def test_an_adamts13_that_is_not_severe_leaves_an_open_r02_as_it_was():
    first = run(Memory(), [_r02(Severity.MEDIUM, "UNKNOWN")])
    pending = run(first.memory, [_r02(Severity.MEDIUM, "PENDING", day(1))])
    assert pending.events == ()
    assert run(pending.memory, [_r02(Severity.MEDIUM, "NOT_SEVERE", day(2))]).events == ()


def test_an_adamts13_no_longer_severe_raises_r02_again():
    first = run(Memory(), [_r02(Severity.INFO, "SEVERE")])
    (event,) = run(first.memory, [_r02(Severity.MEDIUM, "NOT_SEVERE", day(1))]).events
    assert (event["type"], event["severity"]) == ("alert_update", "medium")


def test_an_adamts13_in_the_grey_zone_retracts_an_open_r02():
    first = run(Memory(), [_r02(Severity.MEDIUM, "NOT_SEVERE")])
    result = run(first.memory, [_r06_grey()])
    retraction, r06 = result.events
    assert retraction["type"] == "retraction"
    assert retraction["alert_id"] == first.events[0]["id"]
    assert (retraction["reason"], retraction["severity"]) == ("ADAMTS13 grey zone", "medium")
    assert retraction["observed_at"] == "2026-03-03T09:00:00Z"
    assert (r06["rule"], r06["branch"]) == (R06, "grey-zone")
    assert all(validation_errors(e) == [] for e in result.events)
    assert [a.is_open for a in result.memory.alerts if a.rule == R02] == [False]
    assert run(result.memory, [_r06_grey(day(2))]).events == ()


def test_after_a_grey_zone_retraction_r02_fires_again_as_a_new_alert():
    first = run(Memory(), [_r02(Severity.MEDIUM, "NOT_SEVERE")])
    retracted = run(first.memory, [_r06_grey()])
    (event,) = run(retracted.memory, [_r02(Severity.MEDIUM, "NOT_SEVERE", day(3))]).events
    assert event["type"] == "alert"
    assert event["id"] != first.events[0]["id"]


def test_the_grey_zone_retracts_nothing_while_r02_still_holds_or_in_another_episode():
    first = run(Memory(), [_r02(Severity.MEDIUM, "NOT_SEVERE")])
    holding = _r02(Severity.MEDIUM, "INDETERMINATE", day(1))
    assert [e["type"] for e in run(first.memory, [holding, _r06_grey()]).events] == ["alert"]
    other = replace(_r06_grey(), episode_id="ep-other")
    assert [e["type"] for e in run(first.memory, [other]).events] == ["alert"]


def test_the_grey_zone_retracts_no_other_rule():
    first = run(Memory(), [finding(category=("plt:G2", "a13:UNKNOWN"))])
    assert [e["rule"] for e in run(first.memory, [_r06_grey()]).events] == [R06]


def test_the_grey_zone_at_an_evaluation_time_before_r02_retracts_nothing():
    first = run(Memory(), [_r02(Severity.MEDIUM, "NOT_SEVERE", day(2))])
    assert [e["type"] for e in run(first.memory, [_r06_grey(day(1))]).events] == ["alert"]


R04 = "B12-CAUSE-WORKUP"
IF_AB = SuggestedOrder("intrinsic_factor_ab", "31443-5", "Intrinsic factor Ab", "routine", "OS-IF")


def _r04(at) -> Finding:
    category = ("plt:G2", "b12:DEFICIENT", "a13:INDETERMINATE")
    return finding(R04, Severity.INFO, category=category, orders=(IF_AB,), at=at)


def test_the_work_up_of_an_r02_the_grey_zone_ends_reshows_its_suggestions_marked_previously_suggested():
    first = run(Memory(), [replace(_r02(Severity.MEDIUM, "NOT_SEVERE"), suggested_orders=(FILM, IF_AB))])
    result = run(first.memory, [_r04(day(1)), _r06_grey()])
    retraction, r04, _ = result.events
    assert (retraction["rule"], r04["type"], r04["rule"]) == (R02, "alert", R04)
    assert r04["suggested_orders"][0]["loinc"] == "31443-5"
    assert r04["suggested_orders"][0]["previously_suggested_at"] == "2026-03-02T09:00:00Z"


def test_a_work_up_newly_fired_at_a_later_evaluation_than_the_withdrawal_keeps_r11c():
    first = run(Memory(), [replace(_r02(Severity.MEDIUM, "NOT_SEVERE"), suggested_orders=(FILM, IF_AB))])
    withdrawn = run(first.memory, [_r06_grey()])
    (r04,) = run(withdrawn.memory, [_r04(day(2))]).events
    assert r04["suggested_orders"] == []


def test_no_stand_alone_work_up_while_an_open_r02_carries_it():
    # A grey zone at a time before the R02's latest emission does not end it: R02 still carries R04.
    r02 = replace(_r02(Severity.MEDIUM, "NOT_SEVERE", day(2)), suggested_orders=(FILM, IF_AB))
    first = run(Memory(), [r02])
    assert run(first.memory, [_r04(day(1))]).events == ()


R05 = "PSEUDO-TMA-SUSPECTED"


def _r05b(at) -> Finding:
    category = ("plt:G2", "b12:DEFICIENT", "a13:NOT_SEVERE", "maha:on")
    r05 = finding(R05, Severity.HIGH, branch="b", category=category, orders=(IF_AB,), at=at)
    return replace(r05, bundled=(R04,))


def test_a_stand_alone_work_up_is_withdrawn_when_a_later_alert_carries_it():
    first = run(Memory(), [_r04(day(0))])
    result = run(first.memory, [_r05b(day(1))])
    retraction, r05 = result.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", first.events[0]["id"])
    assert (retraction["reason"], retraction["severity"]) == (f"bundled into {R05}", "info")
    assert (r05["type"], r05["bundled"]) == ("alert", [R04])
    assert [a.rule for a in result.memory.open_alerts()] == [R05]
    assert all(validation_errors(e) == [] for e in result.events)


def test_a_stand_alone_work_up_stays_for_a_carrier_of_an_earlier_time_or_another_episode():
    first = run(Memory(), [_r04(day(2))])
    assert [e["type"] for e in run(first.memory, [_r05b(day(1))]).events] == ["alert"]
    other = replace(_r05b(day(3)), episode_id="ep-other")
    assert [e["type"] for e in run(first.memory, [other]).events] == ["alert"]
