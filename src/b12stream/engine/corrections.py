"""R10: which open alerts a corrected, deleted or mis-posted result takes back."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from b12stream.clinical.adamts13 import ADAMTS13
from b12stream.clinical.model import Finding, Observation, ResultKey
from b12stream.engine.memory import AlertRecord, Memory

__all__ = [
    "REASONS",
    "affected",
    "correcting_observations",
    "evidence_keys",
    "further_keys",
    "holds",
    "re_based",
    "reason_for",
    "rested_on",
    "retracted",
    "said_on_taken",
]

# OBX-11 (HL7 table 0085) of the correcting result → the retraction reason the events carry.
REASONS: Mapping[str, str] = {
    "C": "corrected result",
    "D": "deleted result",
    "W": "posted to wrong patient",
}


def correcting_observations(
    observations: Sequence[Observation], changed_keys: Iterable[ResultKey]
) -> dict[ResultKey, Observation]:
    """The incoming observation behind each corrected or deleted result key.

    ``changed_keys`` are the keys the patient history reported as corrected or deleted. The
    observation gives both the reason (its status) and the evaluation time (its collection time).
    """
    wanted = frozenset(changed_keys)
    if not wanted:
        return {}
    return {o.result_key: o for o in observations if o.result_key in wanted}


def reason_for(observation: Observation) -> str:
    """A result replaced by a final result of another value is a correction even without status C."""
    return REASONS.get(observation.status.strip().upper(), REASONS["C"])


def evidence_keys(finding: Finding) -> tuple[ResultKey, ...]:
    """The result keys of a finding's evidence, as its alert records them (``AlertRecord.evidence``)."""
    return tuple(sorted({o.result_key for o in finding.evidence}))


def further_keys(finding: Finding, evidence: Collection[ResultKey]) -> tuple[ResultKey, ...]:
    """The result keys a finding rests on besides ``evidence``: its scope's, and those of its evidence
    that ``evidence`` lacks (``AlertRecord.also_rests_on``)."""
    return tuple(sorted({o.result_key for o in (*finding.evidence, *finding.scope)}.difference(evidence)))


def affected(memory: Memory, changed_keys: Collection[ResultKey]) -> tuple[AlertRecord, ...]:
    """Open alerts resting on a corrected or deleted result key (``AlertRecord.rests_on``)."""
    return tuple(a for a in memory.open_alerts() if not a.rests_on.isdisjoint(changed_keys))


def retracted(
    memory: Memory,
    findings: Sequence[Finding],
    corrected: Mapping[ResultKey, Observation],
    held: Collection[tuple[str, str, str]],
) -> tuple[tuple[AlertRecord, str], ...]:
    """Open alerts resting on a corrected key whose finding no longer holds in the episode (``holds``).

    ``held`` names further threads (rule, episode, branch) that still hold, found at another
    evaluation time. Returns each such alert with its reason; alerts that still hold are left to
    ``suppression.decide`` (same severity → nothing, different severity → update).
    """
    holding = {(f.rule, f.episode_id, f.branch) for f in findings}.union(held)
    result: list[tuple[AlertRecord, str]] = []
    for record in memory.open_alerts():
        hit = sorted(key for key in record.rests_on if key in corrected)
        if hit and not any(holds(thread, record, memory) for thread in holding):
            result.append((record, reason_for(corrected[hit[0]])))
    return tuple(result)


def holds(thread: tuple[str, str, str], record: AlertRecord, memory: Memory) -> bool:
    """Whether a finding of ``thread`` (rule, episode, branch) holds the open alert ``record`` up.

    Its own thread does, whatever values it now holds on (R10 retracts only when the conditions no
    longer hold). So does another branch of its rule in its episode with no open alert of its own:
    its finding is the one that takes an open alert of the rule over (``suppression.decide``: an
    update when a relevant category changed, R10 "still holds with a different severity", as R06
    severe corrected into the grey zone). A branch with an open alert of its own says its own
    finding there and never ``record``'s: two R06 alerts of one episode, each said on its ADAMTS13,
    stand or fall by their own.
    """
    rule, episode, branch = thread
    if (rule, episode) != (record.rule, record.episode_id):
        return False
    if branch == record.branch:
        return True
    sibling = memory.thread(rule, episode, branch)
    return sibling is None or not sibling.is_open


def rested_on(memory: Memory, finding: Finding, at: datetime, corrected: Collection[ResultKey]) -> Memory:
    """Record what an open alert that still holds, with nothing new to say, rests on now.

    Nothing the clinicians see changed (no event: same severity and category), but the alert may now
    hold on other results than those it was said on: a film reported after a haemolysis alert, a
    second severe ADAMTS13 after the first was corrected. A later correction or deletion of those
    must find it, as one of its evidence does, to retract it when it no longer holds (R10): with its
    scope, they are its ``also_rests_on``. They add to those it held on before, but for the ones
    corrected here: evaluations come in the order results arrive, not in clinical time, and one that
    sees the alert holding on a later count does not take the earlier one out of its input set. An
    evaluation at ``at`` before the alert's latest emission (a late result) sees less than the alert
    holds on now: it changes nothing, unless it judged a correction of what the alert rests on
    (``corrected``)."""
    record = memory.thread(finding.rule, finding.episode_id, finding.branch)
    if record is None or not record.is_open:
        return memory
    if at < record.observed_at and record.rests_on.isdisjoint(corrected):
        return memory
    kept = {key for key in record.also_rests_on if key not in corrected}
    also = tuple(sorted(kept.union(further_keys(finding, record.evidence))))
    if also == record.also_rests_on:
        return memory  # the usual case: it holds on what it held on (the state keeps its bytes)
    return memory.with_alert(replace(record, also_rests_on=also))


def said_on_taken(
    record: AlertRecord,
    corrected: Mapping[ResultKey, Observation],
    findings_at: Callable[[datetime], Sequence[Finding]],
) -> bool:
    """Whether ``corrected`` took from the open alert ``record`` the ADAMTS13 it was said on: its
    rule and branch, at the alert's own time (``findings_at`` gives the findings there, with the
    corrections), no longer hold in its episode on that result. Another ADAMTS13 it also rests on
    may yet hold it (``re_based``). A correction that leaves it said on what it was said on (a
    severe ADAMTS13 corrected to another severe value) changes nothing it rests on.

    Only an ADAMTS13 counts: valid for its episode alone (spec 2.3), it says which episode the alert
    belongs to (``carried``), and an alert left said on one that no longer holds it stays where its
    rule no longer holds, while the episode of the ADAMTS13 that does raises it, and pages it,
    again. An alert that goes on through other counts or another B12 says the same finding in the
    same episode: R11 re-emits it only when its severity or a state class changes."""
    taken = {key for key in record.evidence if key in corrected and corrected[key].analyte == ADAMTS13}
    if not taken:
        return False
    identity = (record.rule, record.episode_id, record.branch)
    for finding in findings_at(record.observed_at):
        if (finding.rule, finding.episode_id, finding.branch) == identity:
            return not taken.issubset(evidence_keys(finding))
    return True


def re_based(
    memory: Memory, findings: Sequence[Finding], unsupported: Collection[str]
) -> tuple[Memory, frozenset[tuple[str, str, str]]]:
    """Carry the open alerts of ``unsupported`` (ids: ``said_on_taken``) that ``findings`` hold on
    another ADAMTS13 to the episode where they hold; returns the memory and their threads (rule,
    episode, branch), each to be said again on what it rests on now (R10: the evidence the
    clinicians see is what holds the alert up, not the result a correction took away).

    One whose rule and branch hold in its episode stays there. One whose rule and branch hold in
    another episode on an ADAMTS13 it also rests on (one of its episode's, before a split parted
    them) goes there, when no alert of its rule is open there (``Memory.with_thread_carried``: its
    page keeps its key), and so do the finding's suggestions shown in its episode (R11 (c)): its
    update there proposes none of them again. Left where it no longer holds, it would be retracted,
    and the same result raised and paged again in the other episode. Any other is left to R10
    (``retracted``)."""
    threads: set[tuple[str, str, str]] = set()
    for record in memory.open_alerts():
        if record.id not in unsupported:
            continue
        home = _holding(record, findings, memory)
        if home is None:
            continue
        if home.episode_id != record.episode_id:
            # Nothing to merge with: no alert of its rule is open there (``_holding``).
            memory, _ = memory.with_thread_carried(record, home.episode_id)
            for order in home.suggested_orders:
                shown = memory.suggestion(record.episode_id, order.loinc)
                if shown is not None:
                    memory = memory.with_suggestion_carried(shown, home.episode_id, copied=True)
        threads.add((record.rule, home.episode_id, record.branch))
    return memory, frozenset(threads)


def _holding(record: AlertRecord, findings: Sequence[Finding], memory: Memory) -> Finding | None:
    """The finding that holds ``record`` up, as ``re_based`` says, if any."""
    same = [f for f in findings if (f.rule, f.branch) == (record.rule, record.branch)]
    here = next((f for f in same if f.episode_id == record.episode_id), None)
    if here is not None:
        return here
    also = frozenset(record.also_rests_on)
    for finding in same:
        resting = {o.result_key for o in finding.evidence if o.analyte == ADAMTS13}
        if not memory.open_branches(finding.rule, finding.episode_id) and not also.isdisjoint(resting):
            return finding
    return None
