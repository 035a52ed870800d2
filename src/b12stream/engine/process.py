"""The one processing step replay and the Kafka stream share: accepted message + state → outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from b12stream.clinical.adamts13 import ADAMTS13
from b12stream.clinical.episodes import PLATELETS, current_episode, is_thrombocytopenic
from b12stream.clinical.evaluate import evaluate, trigger_times
from b12stream.clinical.history import CANCELLED_STATUSES, HistoryChange, PatientHistory, is_evidence
from b12stream.clinical.model import Finding, Observation, ResultKey
from b12stream.clinical.rules.common import first_of_each
from b12stream.clinical.view import HistoryView, days
from b12stream.engine.announced import announced
from b12stream.engine.carried import Carried, carried
from b12stream.engine.corrections import affected, correcting_observations, holds, said_on_taken
from b12stream.engine.engine import Engine
from b12stream.engine.episode_names import episode_names
from b12stream.engine.ingest import Accepted
from b12stream.engine.memory import AlertRecord, Memory, SeenMessage
from b12stream.engine.orders import OrderMessage
from b12stream.engine.reconcile import reconcile
from b12stream.engine.state import PatientState
from b12stream.errors import StateError
from b12stream.hl7.records import slot_constructor

__all__ = ["OrderMessage", "Outcome", "process"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new patient state and everything to publish, in order. Events are JSON-ready dicts."""

    state: PatientState
    events: tuple[dict[str, Any], ...]
    orders: tuple[OrderMessage, ...]
    pages: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Step:
    """One evaluation: its findings, the corrections decided there, threads (rule, episode, branch)
    whose alerts are not retracted here (``corrections.holds``): at the newest time those that hold
    at another time of the same message, before it every thread the message speaks of (``_steps``),
    and the ids of the open alerts the corrections took the ADAMTS13 they were said on from
    (``corrections.said_on_taken``)."""

    findings: tuple[Finding, ...]
    corrected: Mapping[ResultKey, Observation]
    held: frozenset[tuple[str, str, str]]
    unsupported: frozenset[str] = frozenset()


# Built for every message: the frozen classes' own constructors set each field through
# object.__setattr__.
_new_outcome = slot_constructor(Outcome)
_new_state = slot_constructor(PatientState)
_new_step = slot_constructor(_Step)
_new_seen = slot_constructor(SeenMessage)


def process(state: PatientState, accepted: Accepted, engine: Engine) -> Outcome:
    """Apply one accepted message to one patient's state. Pure and deterministic.

    1. A message already applied (same MSH-10, same content) changes nothing, even after a later
       correction; otherwise apply its observations to the patient history. No change → no events
       (the message is still remembered as applied).
    2. An X result status re-allows that analyte's earlier suggestions (R10/R11).
    3. When the message's counts join or split episodes, or open one whose look-back takes an
       ADAMTS13 an open alert rests on, carry the open alerts and suggestions to the episodes that
       now hold their evidence (``carried``), merging two threads that meet.
    4. Evaluate the rules at each trigger time (``trigger_times``) and reconcile the findings
       with what was already said: new alerts, updates, retractions (R10), suggestion suppression (R11).
       A correction is judged against the patient's current results (the newest collection time):
       an alert resting on the corrected value stays while its finding holds there, or at the
       alert's own time (its rule and branch, ``corrections.holds``), and is retracted only when it
       holds at neither; a rule the correction makes hold only at the corrected result's own time
       fires there, as a late result would. An episode is
       published under the id its alerts already carry (``episode_names``): a count drawn before its
       first one and delivered late, or a correction or deletion of that first count, moves where
       it opens, not what the clinicians know it by.
    5. Announce each alert carried into another episode id that step 4 did not update or withdraw
       (``announced``): an ``alert_update`` under the new id, output before step 4's events.
    6. Prune history (with the results it remembers as deleted) and memory past their retention,
       counted back from the newest result (but not past the opening of an episode still open).

    Raises StateError when ``state`` belongs to another patient than the message.
    """
    if state.patient != accepted.patient:
        raise StateError("patient state and message belong to different patient keys")
    seen = _seen(accepted, state.history)
    if seen is not None and state.memory.has_seen(seen.control_id, seen.digest):
        return Outcome(state, (), (), ())
    sex = _stated_sex(accepted) or state.sex
    history, change = state.history.apply(accepted.observations)
    if not change.changed:
        if seen is None:
            return Outcome(state, (), (), ())
        # Nothing new in it (its results were already known), yet it was applied: redelivered after
        # a later correction or deletion of those results, it must change nothing either.
        return Outcome(_new_state(state.history, state.memory.with_seen(seen), sex), (), (), ())
    memory = _lift(state.memory, change)
    if seen is not None:
        memory = memory.with_seen(seen)
    changed_keys = change.corrected | change.deleted
    corrected = correcting_observations(accepted.observations, changed_keys)
    # A corrected result is re-judged at the patient's current time, not at its own collection time.
    fresh = [o for o in change.added if o.result_key not in changed_keys] if changed_keys else change.added
    newest = _newest(history, corrected)
    moved = _carried(state.history, history, memory, accepted, corrected, newest, engine)
    memory = moved.memory
    names = episode_names(history, memory, engine.rules)
    triggers = trigger_times(fresh, history, engine.rules)
    steps = _steps(
        state.history, history, names.as_the_rules_name_them(memory), triggers, corrected, newest, engine, sex
    )
    events: list[dict[str, Any]] = []
    orders: list[OrderMessage] = []
    pages: list[dict[str, Any]] = []
    for at, step in steps:
        result = reconcile(
            patient=accepted.patient,
            memory=memory,
            findings=names.findings(step.findings),
            at=at,
            corrected=step.corrected,
            policy=engine.suppression,
            outputs=engine.outputs,
            rules_version=engine.rules_version,
            held=names.threads(step.held),
            unsupported=step.unsupported,
        )
        memory = result.memory
        events.extend(result.events)
        orders.extend(result.orders)
        pages.extend(result.pages)
    told = announced(
        patient=accepted.patient,
        memory=memory,
        moved=moved.moved,
        history=history,
        names=names,
        engine=engine,
        sex=sex,
    )
    history, memory = _pruned(history, told.memory, engine)
    # Announced before the evaluations' events: the first of those may be a new alert of the rule in
    # the episode a thread left.
    return _new_outcome(
        _new_state(history, memory, sex),
        (*moved.events, *told.events, *events),
        tuple(orders),
        (*moved.pages, *told.pages, *pages),
    )


def _stated_sex(accepted: Accepted) -> str:
    """PID-8 when the message states the patient's sex; '' when it is empty or U (unknown)."""
    sex = accepted.message.sex.strip().upper()
    return "" if sex == "U" else sex


def _newest(history: PatientHistory, corrected: Mapping[ResultKey, Observation]) -> datetime | None:
    """The newest collection time in the history (or of the corrections, when nothing is left)."""
    if history.records:
        return history.records[-1].observed_at
    return max((o.observed_at for o in corrected.values()), default=None)


def _holding_alert(found: Sequence[Finding], alert: AlertRecord, memory: Memory) -> tuple[Finding, ...]:
    """The findings of ``found`` that hold the open ``alert`` up (``corrections.holds``)."""
    return tuple(f for f in found if holds((f.rule, f.episode_id, f.branch), alert, memory))


def _adamts13_times(alert: AlertRecord, history: PatientHistory, newest: datetime) -> list[datetime]:
    """When the ADAMTS13 results ``alert`` also rests on were collected, before ``newest``, oldest first."""
    also = frozenset(alert.also_rests_on)
    return sorted(
        {
            record.observed_at
            for record in history.records
            if record.result_key in also and record.analyte == ADAMTS13 and record.observed_at < newest
        }
    )


def _steps(
    before: PatientHistory,
    history: PatientHistory,
    memory: Memory,
    triggers: Sequence[datetime],
    corrected: Mapping[ResultKey, Observation],
    newest: datetime | None,
    engine: Engine,
    sex: str,
) -> list[tuple[datetime, _Step]]:
    """The evaluations one message calls for, oldest first.

    Trigger times are evaluated as usual. After a correction or deletion, the newest collection time
    is evaluated with the corrections: there an alert resting on a changed value is updated when its
    severity changed, and retracted unless its finding holds there or, re-checked with the corrected
    values, at the alert's own time (an alert of an episode that has since closed): its rule and
    branch, or another branch that takes it over (``corrections.holds``). An alert that
    holds only at its own time is decided there (an update when the correction changed its severity).
    An alert whose rule no longer holds, at its own time, on a corrected ADAMTS13 it was said on goes
    on resting on another one that holds it, if any, and says so (``corrections.re_based``): when
    neither the newest time nor its own holds it (its episode since closed), it is decided at the
    first collection time of those other ADAMTS13 where its rule and branch hold, before another
    branch at its own time takes it over.
    A rule that the correction makes hold at the changed result's collection time (it did not hold
    there in ``before``, the history as it was), that has no open alert and does not hold at the
    newest time, fires at that collection time (R10 "a new rule now fires"), as the same result
    arriving late would.
    """
    rules = engine.rules
    steps = {at: _new_step(evaluate(history, at, rules, sex=sex), {}, frozenset()) for at in triggers}
    if not corrected or newest is None:
        return sorted(steps.items(), key=lambda item: item[0])
    now = evaluate(history, newest, rules, sex=sex)
    holding_now = {(f.rule, f.episode_id) for f in now}
    threads_now = {(f.rule, f.episode_id, f.branch) for f in now}
    resting = affected(memory, corrected.keys())
    resting_threads = frozenset((a.rule, a.episode_id, a.branch) for a in resting)
    # Everything that holds at each time evaluated, apart from what each step decides there.
    evaluated = {at: step.findings for at, step in steps.items()} | {newest: now}
    held: set[tuple[str, str, str]] = set()

    def holding_at(moment: datetime) -> tuple[Finding, ...]:
        found = evaluated.get(moment)
        if found is None:
            found = evaluated[moment] = evaluate(history, moment, rules, sex=sex)
        return found

    unsupported = frozenset(a.id for a in resting if said_on_taken(a, corrected, holding_at))
    decided: dict[datetime, tuple[Finding, ...]] = {}

    def decided_at(moment: datetime, found: Sequence[Finding]) -> None:
        held.update((f.rule, f.episode_id, f.branch) for f in found)
        decided[moment] = _unique((*decided.get(moment, ()), *found))

    for alert in resting:
        if alert.observed_at >= newest or any(holds(thread, alert, memory) for thread in threads_now):
            continue
        # One whose ADAMTS13 was taken away may still hold where another one it rests on was drawn:
        # after its episode closed, neither the newest time nor its own would tell (README). Its own
        # branch holding anywhere comes first: another branch takes it over only where it does not.
        moments = [alert.observed_at]
        if alert.id in unsupported:
            moments.extend(_adamts13_times(alert, history, newest))
        for moment in moments:
            same = _holding_alert(holding_at(moment), alert, memory)
            if any(f.branch == alert.branch for f in same):
                decided_at(moment, same)
                break
        else:
            same = _holding_alert(holding_at(alert.observed_at), alert, memory)
            if same:
                decided_at(alert.observed_at, same)
    for moment in sorted({o.observed_at for o in corrected.values() if o.observed_at < newest}):
        if moment in triggers:  # every finding there is decided already
            continue
        # What held there before the correction, or holds now, is not new at this time.
        known = {(f.rule, f.episode_id) for f in evaluate(before, moment, rules, sex=sex)} | holding_now
        new = tuple(
            f
            for f in holding_at(moment)
            if (f.rule, f.episode_id) not in known and not memory.open_branches(f.rule, f.episode_id)
        )
        if new:
            decided_at(moment, new)
    # The corrections retract alerts at the newest time alone, where every alert they touch is judged:
    # before it, neither one resting on them already nor one that came to rest on them at an earlier
    # evaluation of this message (said there, or holding there on them: a finding of its thread).
    said = resting_threads.union(
        (f.rule, f.episode_id, f.branch)
        for found in (*(step.findings for step in steps.values()), *decided.values())
        for f in found
    )
    for moment, found in decided.items():
        # At a trigger time ``found`` is among its findings already: all of them are now decided with
        # the corrections. Elsewhere the step decides the findings that hold there, one by one.
        earlier = steps.get(moment)
        merged = _unique((*earlier.findings, *found)) if earlier is not None else found
        steps[moment] = _Step(merged, corrected, said, unsupported)
    steps[newest] = _Step(now, corrected, frozenset(held), unsupported)
    return sorted(steps.items(), key=lambda item: item[0])


def _unique(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    return tuple(first_of_each(findings, lambda f: (f.rule, f.episode_id, f.branch)))


def _carried(
    before: PatientHistory,
    after: PatientHistory,
    memory: Memory,
    accepted: Accepted,
    corrected: Mapping[ResultKey, Observation],
    newest: datetime | None,
    engine: Engine,
) -> Carried:
    """``carried`` when the message's platelet counts, the only results that shape episodes, can
    join or split them, or move an open alert's evidence into another one: not when they only follow
    every result known, as most counts do, unless they may open an episode whose look-back takes a
    result an open alert rests on (``_opens_on_kept_results``)."""
    counts = [o.observed_at for o in accepted.observations if o.analyte == PLATELETS]
    if not (before.records and counts and newest):
        return Carried(memory, (), ())
    first = min(counts)
    if (
        not corrected
        and first > before.records[-1].observed_at
        and not _opens_on_kept_results(memory, before, first, engine)
    ):
        return Carried(memory, (), ())
    return carried(
        patient=accepted.patient,
        memory=memory,
        before=before,
        after=after,
        rules=engine.rules,
        corrected=corrected,
        at=newest,
    )


def _opens_on_kept_results(memory: Memory, history: PatientHistory, first: datetime, engine: Engine) -> bool:
    """Whether a count collected at ``first``, after every result of ``history``, may open an
    episode whose look-back takes a result an open alert rests on: one collected after the latest
    count. Not while that count is thrombocytopenic and recent enough for its episode to go on with
    ``first``. Usually the newest result is a count, and little is looked at."""
    rules = engine.rules
    excluded = set(rules.platelets.non_trigger_codes)
    later: list[Observation] = []
    for record in reversed(history.records):
        if record.analyte == PLATELETS and is_evidence(record) and record.code not in excluded:
            idle = days(rules.episode.close_after_days_without_tp)
            if is_thrombocytopenic(record, rules) and first - record.observed_at <= idle:
                return False
            later = [r for r in later if r.observed_at > record.observed_at]  # not those drawn with it
            break
        later.append(record)
    keys = {r.result_key for r in later}
    return bool(keys) and any(not keys.isdisjoint(a.evidence) for a in memory.open_alerts())


def _seen(accepted: Accepted, history: PatientHistory) -> SeenMessage | None:
    """The message's identity for idempotency, or None when it carries no observation to apply.

    Remembered as long as the results of the patient's time it was applied at (its newest result,
    or the patient's newest one if later): results older than the history keeps are forgotten as
    soon as applied, and a message forgotten with them would be applied again at every redelivery.
    """
    if not accepted.observations:
        return None
    newest = max(o.observed_at for o in accepted.observations)
    if history.records:
        newest = max(newest, history.records[-1].observed_at)
    return _new_seen(accepted.message.header.control_id, accepted.digest, newest)


def _lift(memory: Memory, change: HistoryChange) -> Memory:
    cancelled = [o for o in change.added if o.status in CANCELLED_STATUSES]
    if not cancelled:
        return memory
    return memory.with_lift({o.analyte for o in cancelled}, max(o.observed_at for o in cancelled))


def _pruned(history: PatientHistory, memory: Memory, engine: Engine) -> tuple[PatientHistory, Memory]:
    """History and memory past their retention, counted back from the newest result, but never past
    the opening of an episode still open (chronic thrombocytopenia outlives the retention): pruning
    its first count would rename the episode and forgetting its alerts would raise them again."""
    if not history.records:
        return history, memory
    newest = history.records[-1].observed_at
    retention = engine.rules.history_retention
    keep = timedelta(days=retention.default_days)
    if history.records[0].observed_at < newest - keep:  # something to prune: the usual case is not
        episode = current_episode(HistoryView.of(history, newest), engine.rules)
        if episode is not None:
            newest = min(newest, episode.opened_at + keep)
    return history.pruned(newest, retention), memory.pruned(newest, keep)
