"""Findings at one evaluation time against the patient's memory → events, order messages, pages."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from b12stream.clinical.model import Finding, Observation, PatientKey, ResultKey, Severity
from b12stream.engine import pager
from b12stream.engine.corrections import evidence_keys, further_keys, re_based, rested_on, retracted
from b12stream.engine.engine import OutputSettings
from b12stream.engine.events import alert_event, retraction_event
from b12stream.engine.ids import alert_id, page_key
from b12stream.engine.memory import AlertRecord, Memory
from b12stream.engine.orders import OrderMessage, order_message
from b12stream.engine.suppression import (
    Decision,
    ShownOrder,
    SuggestionPolicy,
    carried_again,
    decide,
    ended,
    taken_over,
)

__all__ = ["Reconciled", "announcement", "reconcile", "withdrawal"]


@dataclass(frozen=True, slots=True)
class Reconciled:
    memory: Memory
    events: tuple[dict[str, Any], ...]
    orders: tuple[OrderMessage, ...]
    pages: tuple[dict[str, Any], ...]


def reconcile(
    *,
    patient: PatientKey,
    memory: Memory,
    findings: Sequence[Finding],
    at: datetime,
    corrected: Mapping[ResultKey, Observation],
    policy: SuggestionPolicy,
    outputs: OutputSettings,
    rules_version: str,
    held: Collection[tuple[str, str, str]],
    unsupported: Collection[str] = frozenset(),
) -> Reconciled:
    """Say what is new: retractions first (R10, then alerts a state change ended: R02 when ADAMTS13
    is in the grey zone, then a stand-alone alert a finding carries again: R04 when R02 holds again),
    then alerts and updates in the findings' order; the work-up an ended alert carried (R04 in R02)
    comes back on its own, with its suggestions.

    ``corrected`` maps the result keys corrected or deleted at this evaluation time to the incoming
    observation; only alerts resting on those keys can be retracted for a correction, and not those
    a thread (rule, episode, branch) of ``held`` holds up (it holds at another evaluation time,
    ``corrections.holds``). An open alert
    a finding holds with nothing new to say (one a correction leaves standing, or one a result it
    was not said on now holds too) rests, besides the results it was said on, on those it now holds
    on (``rested_on``). An open alert of ``unsupported`` (ids: the corrections took the ADAMTS13 it
    was said on away, ``corrections.said_on_taken``) that a finding holds on another one is said
    again on it, carried first to the finding's episode when it holds in another one only
    (``corrections.re_based``). Alerts and updates carry ``rules_version``. Pure: the returned
    memory records every emission.
    """
    if not findings and not corrected:
        return Reconciled(memory, (), (), ())  # nothing holds and nothing was taken back
    events: list[dict[str, Any]] = []
    orders: list[OrderMessage] = []
    pages: list[dict[str, Any]] = []
    memory, said_again = re_based(memory, findings, unsupported)
    for record, reason in retracted(memory, findings, corrected, held):
        memory = _retract(record, reason, patient, memory, at, events, pages)
    withdrawn = ended(memory, findings, at)
    for record, reason in withdrawn:
        memory = _retract(record, reason, patient, memory, at, events, pages)
    for record, reason in carried_again(memory, findings, at):
        memory = _retract(record, reason, patient, memory, at, events, pages)
    carried = taken_over(record for record, _ in withdrawn)
    for finding in findings:
        taking_over = (finding.rule, finding.episode_id) in carried
        decision = decide(
            finding,
            memory,
            at,
            corrected,
            policy,
            taking_over=taking_over,
            re_based=(finding.rule, finding.episode_id, finding.branch) in said_again,
        )
        if decision is None:
            memory = rested_on(memory, finding, at, corrected.keys())
            continue
        memory, event, record = _emit(decision, patient, memory, at, rules_version)
        events.append(event)
        message = order_message(
            alert_id=event["id"],
            finding=finding,
            patient=patient,
            # A suggestion re-shown as previously suggested at this very time (by another rule of
            # the same results, R01 and R08 say) has its order message already: a second one, with
            # its own placer numbers, would be a second order at the receiver.
            orders=[shown for shown in decision.orders if shown.previously_suggested_at != at],
            at=at,
            outputs=outputs,
        )
        if message is not None:
            orders.append(message)
        pages.extend(_pages(decision, event, record, patient, outputs.pager_source))
    return Reconciled(memory, tuple(events), tuple(orders), tuple(pages))


def _retract(
    record: AlertRecord,
    reason: str,
    patient: PatientKey,
    memory: Memory,
    at: datetime,
    events: list[dict[str, Any]],
    pages: list[dict[str, Any]],
) -> Memory:
    """Withdraw one open alert (``withdrawal``) and keep its thread closed."""
    event, resolved = withdrawal(record, reason, patient, at)
    events.append(event)
    pages.extend(resolved)
    return memory.with_alert(replace(record, is_open=False, observed_at=at))


def withdrawal(
    record: AlertRecord, reason: str, patient: PatientKey, at: datetime
) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The retraction of one open alert, at its own severity, and for a critical one the resolve of
    its incident."""
    event = retraction_event(record=record, patient=patient, reason=reason, at=at)
    if record.severity is Severity.CRITICAL:
        return event, (pager.resolve(_page_key(patient, record)),)
    return event, ()


def announcement(
    record: AlertRecord,
    finding: Finding,
    orders: Sequence[ShownOrder],
    *,
    patient: PatientKey,
    memory: Memory,
    outputs: OutputSettings,
    rules_version: str,
) -> tuple[Memory, dict[str, Any], tuple[dict[str, Any], ...]]:
    """An ``alert_update`` of the open alert ``record`` saying ``finding`` (with the suggestions
    ``orders``) again, and its pages: the update of an alert carried into another episode, which
    a consumer keeping open alerts by rule and episode must hear of at once (``carried``).

    It repeats what was said: the suggestions are no new emission (R11 (c) counts none, no order
    message), and an alert whose severity it keeps pages nothing: its incident already shows the
    alert, and a trigger would replace the incident's summary with this one, which may be the generic
    text of an alert whose rule does not hold in its new episode. One whose severity it changes pages
    as any update does (a resolve when it leaves critical).
    """
    decision = Decision(finding, tuple(orders), record, record.sequence + 1)
    memory, event, updated = _said(decision, patient, memory, record.observed_at, rules_version)
    # Said again, the alert still rests on what it came to hold on since it was said: the finding
    # of the alert's time does not see a result collected after it (R10, ``rested_on``).
    resting = updated.also_resting_on(record.rests_on)
    if resting is not updated:
        updated = resting
        memory = memory.with_alert(updated)
    if finding.severity is record.severity:
        return memory, event, ()
    return memory, event, tuple(_pages(decision, event, updated, patient, outputs.pager_source))


def _emit(
    decision: Decision, patient: PatientKey, memory: Memory, at: datetime, rules_version: str
) -> tuple[Memory, dict[str, Any], AlertRecord]:
    """``_said``, its suggestions recorded as shown at ``at`` (R11 (c))."""
    memory, event, record = _said(decision, patient, memory, at, rules_version)
    finding = decision.finding
    for shown in decision.orders:
        memory = memory.with_emission(
            finding.episode_id,
            shown.order.loinc,
            shown.order.analyte,
            at,
            finding.severity,
            counted=shown.previously_suggested_at != at,  # no order message of its own (``reconcile``)
        )
    return memory, event, record


def _said(
    decision: Decision, patient: PatientKey, memory: Memory, at: datetime, rules_version: str
) -> tuple[Memory, dict[str, Any], AlertRecord]:
    """The event of one decision, and the memory with its thread's latest emission."""
    finding = decision.finding
    previous = decision.previous
    event_id = alert_id(patient, finding.rule, finding.episode_id, finding.branch, decision.sequence)
    event = alert_event(
        event_id=event_id,
        finding=finding,
        patient=patient,
        orders=decision.orders,
        at=at,
        rules_version=rules_version,
        supersedes=previous.id if previous else None,
    )
    same_thread = previous is not None and previous.branch == finding.branch
    if previous is not None and not same_thread:
        memory = memory.with_alert(replace(previous, is_open=False))
    evidence = evidence_keys(finding)
    record = AlertRecord(
        id=event_id,
        rule=finding.rule,
        episode_id=finding.episode_id,
        branch=finding.branch,
        severity=finding.severity,
        category=finding.category,
        evidence=evidence,
        sequence=decision.sequence,
        observed_at=finding.observed_at or at,
        paged_episode_id=previous.paged_episode_id if previous is not None and same_thread else None,
        paged_sequence=previous.paged_sequence if previous is not None and same_thread else 1,
        also_rests_on=further_keys(finding, evidence),
        suggested=tuple((shown.order.loinc, shown.previously_suggested_at) for shown in decision.orders),
    )
    if not same_thread and _taken(patient, memory, record):
        # A thread carried out of this episode still pages under the key this one would have.
        record = replace(record, paged_sequence=record.sequence)
    return memory.with_alert(record), event, record


def _pages(
    decision: Decision, event: dict[str, Any], record: AlertRecord, patient: PatientKey, source: str
) -> list[dict[str, Any]]:
    """An alert that becomes critical pages once; its incident stays open while it stays critical.

    An update that keeps a critical alert critical re-triggers the incident it has (same dedup key:
    merged, not paged again, so the incident shows the latest alert); one that leaves critical, or
    supersedes a critical alert of another branch, resolves that incident.
    """
    finding = decision.finding
    key = _page_key(patient, record)
    result: list[dict[str, Any]] = []
    previous = decision.previous
    if previous is not None and previous.severity is Severity.CRITICAL:
        open_key = _page_key(patient, previous)
        if open_key != key or finding.severity is not Severity.CRITICAL:
            result.append(pager.resolve(open_key))
    if finding.severity is Severity.CRITICAL:
        result.append(pager.trigger(event, source, key))
    return result


def _page_key(patient: PatientKey, record: AlertRecord) -> str:
    """The dedup key of the incident a critical alert has: its thread's, made with the episode it
    was paged in (its episode may have joined another one since)."""
    episode = record.paged_episode_id or record.episode_id
    return page_key(patient, record.rule, episode, record.branch, record.paged_sequence)


def _taken(patient: PatientKey, memory: Memory, record: AlertRecord) -> bool:
    """Whether an open alert of another thread pages under the key ``record`` would page under."""
    key = _page_key(patient, record)
    identity = (record.rule, record.episode_id, record.branch)
    return any(
        _page_key(patient, other) == key
        for other in memory.open_alerts()
        if (other.rule, other.episode_id, other.branch) != identity
    )
