"""R11: which suggestions are shown again and which alerts are re-emitted, given what was already said."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from b12stream.clinical.model import Finding, Observation, ResultKey, Severity, SuggestedOrder
from b12stream.engine.memory import AlertRecord, Memory, SuggestionRecord

__all__ = [
    "Decision",
    "ShownOrder",
    "SuggestionPolicy",
    "carried_again",
    "category_changed",
    "decide",
    "ended",
    "select_orders",
    "taken_over",
]

# R11: the state classes whose change re-emits an open alert, per rule id. A class left out cannot
# change that alert's content, or ends the rule outright (B12 status for R01). Unlisted rules: all.
_RELEVANT_CLASSES: Mapping[str, frozenset[str]] = {
    "B12-UNKNOWN-THROMBOCYTOPENIA": frozenset({"plt"}),
    "B12-LOW-THROMBOCYTOPENIA": frozenset({"plt", "b12", "a13"}),
    "B12-INDETERMINATE-THROMBOCYTOPENIA": frozenset({"b12"}),
    "B12-CAUSE-WORKUP": frozenset({"b12"}),
    "PSEUDO-TMA-SUSPECTED": frozenset({"b12", "a13", "maha"}),
    "TTP-ADAMTS13-SEVERE": frozenset({"b12", "a13"}),
    "MAHA-ADAMTS13-PENDING": frozenset({"b12", "a13", "maha"}),
    "HOMOCYSTEINE-PROTHROMBOTIC": frozenset(),
    "PLATELET-RECOVERY": frozenset(),
}
_UNNAMED = frozenset({""})  # category entries without a ``name:`` prefix always count

# A class whose change matters to a rule only where it crosses a line: (rule, class) → the values on one
# side. R02 reads ADAMTS13 only as severe (R06 downgrades R02 to ``info``) or not; PENDING → NOT_SEVERE
# leaves its content as it was, and the grey zone ends it (``ended``).
_SIDES: Mapping[tuple[str, str], frozenset[str]] = {
    ("B12-LOW-THROMBOCYTOPENIA", "a13"): frozenset({"SEVERE"}),
}

# R06: an open alert withdrawn when its rule stops holding while the episode is in one of these classes,
# with the retraction reason. R02 does not hold with ADAMTS13 in the grey zone (10–20 %): do not
# attribute the thrombocytopenia to B12.
_ENDING_CLASSES: Mapping[str, Mapping[str, str]] = {
    "B12-LOW-THROMBOCYTOPENIA": {"a13:INDETERMINATE": "ADAMTS13 grey zone"},
}

# R04: the cause work-up an R02 carries (bundled). When a state change ends the R02, the work-up is
# still due and stands alone again (R04 ``info``): its suggestions were withdrawn with the R02.
_CARRIED: Mapping[str, str] = {"B12-LOW-THROMBOCYTOPENIA": "B12-CAUSE-WORKUP"}


@dataclass(frozen=True, slots=True)
class SuggestionPolicy:
    """R11 (c) settings: repeat window, emissions per episode, severity that always re-shows."""

    window: timedelta = timedelta(days=7)
    max_per_episode: int = 2
    always_show_from: Severity = Severity.HIGH


@dataclass(frozen=True, slots=True)
class ShownOrder:
    """A suggestion that survives R11 (c). ``previously_suggested_at`` marks a re-show that only the
    newly-fired-high exception allowed.

    ``lifted`` says it is shown because an X result status re-allowed it (R10/R11 exception).
    """

    order: SuggestedOrder
    previously_suggested_at: datetime | None = None
    lifted: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What to emit for one finding: a new ``alert``, or an ``alert_update`` superseding ``previous``.

    ``sequence`` numbers the emission within the finding's (rule, episode, branch) thread; with those
    it determines the new event's id.
    """

    finding: Finding
    orders: tuple[ShownOrder, ...]
    previous: AlertRecord | None
    sequence: int

    @property
    def kind(self) -> str:
        return "alert" if self.previous is None else "alert_update"


def select_orders(
    finding: Finding,
    memory: Memory,
    at: datetime,
    *,
    newly_fired: bool,
    policy: SuggestionPolicy,
    taking_over: bool = False,
) -> tuple[ShownOrder, ...]:
    """Apply R11 (c) to a finding's suggestions (R11 (a)/(b) were applied by the rules).

    A suggestion already emitted in this episode is withheld when its last emission lies within the
    window (either side of ``at``: a late result is no reason to repeat) and the severity has not risen
    since, and always after ``max_per_episode`` emissions. Exceptions: an X status lifted it (then
    ``lifted``), or it belongs to a newly fired alert of ``always_show_from`` severity or above, or to
    a newly fired alert ``taking_over`` the content of an alert withdrawn at ``at`` (``taken_over``),
    whose suggestions went with it (then marked with the previous date, "previously suggested <date>").
    """
    shown: list[ShownOrder] = []
    seen: set[str] = set()
    for order in finding.suggested_orders:
        if order.loinc in seen:  # one rule's sets may overlap (a bundled R04 inside R02): say it once
            continue
        seen.add(order.loinc)
        record = memory.suggestion(finding.episode_id, order.loinc)
        if record is None:
            shown.append(ShownOrder(order))
            continue
        previous = record.last_emitted_at
        if record.lifted_at is not None:
            shown.append(ShownOrder(order, lifted=True))
        elif newly_fired and (taking_over or finding.severity >= policy.always_show_from):
            shown.append(ShownOrder(order, previous))
        elif _withheld(record, finding.severity, at, policy):
            continue
        else:
            shown.append(ShownOrder(order))
    return tuple(shown)


def _withheld(record: SuggestionRecord, severity: Severity, at: datetime, policy: SuggestionPolicy) -> bool:
    if len(record.emitted_at) >= policy.max_per_episode:
        return True
    recent = abs(at - record.last_emitted_at) < policy.window
    return recent and severity <= record.severity


def category_changed(rule: str, before: Sequence[str], after: Sequence[str]) -> bool:
    """True when a state class that matters to ``rule``'s alert changed (R11 "category change").

    Classes are ``name:value`` entries (``plt:G2``, ``b12:DEFICIENT``, ``a13:PENDING``, ``maha:on``).
    A platelet grade counts only when it worsens: an improving count is R09's to report. A class with
    sides for the rule (R02's ADAMTS13: severe or not) counts only when it crosses to the other side.
    Entries in another form are compared as they are.
    """
    old, new = _classes(before), _classes(after)
    for name in _RELEVANT_CLASSES.get(rule, frozenset(old) | frozenset(new)) | _UNNAMED:
        side = _SIDES.get((rule, name))
        if name == "plt":
            if _grade_rank(new.get(name, "")) > _grade_rank(old.get(name, "")):
                return True
        elif side is not None:
            if (new.get(name) in side) != (old.get(name) in side):
                return True
        elif new.get(name) != old.get(name):
            return True
    return False


def ended(memory: Memory, findings: Sequence[Finding], at: datetime) -> tuple[tuple[AlertRecord, str], ...]:
    """Open alerts that a state change ended outright, each with its retraction reason (R06 for R02).

    An alert is ended when its rule no longer holds in its episode at ``at`` while the episode, as the
    findings at ``at`` describe it, is in one of the rule's ending classes. With no finding in the
    episode nothing is known of its state, and nothing is ended. An evaluation time before the alert
    was raised says nothing about it (its evidence may not have existed yet): nothing is ended then.
    """
    candidates = [r for r in memory.open_alerts() if r.rule in _ENDING_CLASSES and at >= r.observed_at]
    if not candidates:  # the usual case: none of the few rules a state change can end is open
        return ()
    holding = {(f.rule, f.episode_id) for f in findings}
    states: dict[str, set[str]] = {}
    for item in findings:
        states.setdefault(item.episode_id, set()).update(item.category)
    result: list[tuple[AlertRecord, str]] = []
    for record in candidates:
        if (record.rule, record.episode_id) in holding:
            continue
        state = states.get(record.episode_id, set())
        endings = _ENDING_CLASSES[record.rule].items()
        reason = next((reason for entry, reason in endings if entry in state), None)
        if reason is not None:
            result.append((record, reason))
    return tuple(result)


def carried_again(
    memory: Memory, findings: Sequence[Finding], at: datetime
) -> tuple[tuple[AlertRecord, str], ...]:
    """Open stand-alone alerts whose content a finding at ``at`` carries (bundles) again, each with
    its retraction reason ``bundled into <rule>``.

    R04 stands alone after the ADAMTS13 grey zone withdrew the R02 that carried it; when R02 holds
    again (ADAMTS13 back above 20 %, or below 10 %) it carries the work-up again, and one alert
    says it: the stand-alone one is withdrawn. As for ``ended``, an evaluation time before the alert
    was raised says nothing about it: nothing is withdrawn then.
    """
    hosts = {(guest, item.episode_id): item.rule for item in findings for guest in item.bundled}
    if not hosts:  # the usual case: no finding carries another rule
        return ()
    return tuple(
        (record, f"bundled into {hosts[record.rule, record.episode_id]}")
        for record in memory.open_alerts()
        if (record.rule, record.episode_id) in hosts and at >= record.observed_at
    )


def taken_over(withdrawn: Iterable[AlertRecord]) -> frozenset[tuple[str, str]]:
    """The (rule, episode) pairs whose content the ``ended`` alerts carried: R04 for an R02 the
    ADAMTS13 grey zone withdrew. A finding of one of them, newly fired at the same evaluation, shows
    the suggestions withdrawn with the alert again instead of R11 (c) withholding them."""
    return frozenset((_CARRIED[r.rule], r.episode_id) for r in withdrawn if r.rule in _CARRIED)


def _carried_by_open_alert(finding: Finding, memory: Memory) -> bool:
    return any(
        carried == finding.rule and memory.open_branches(carrier, finding.episode_id)
        for carrier, carried in _CARRIED.items()
    )


def _classes(category: Sequence[str]) -> dict[str, str]:
    named = dict(entry.split(":", 1) for entry in category if ":" in entry)
    unnamed = ",".join(sorted(entry for entry in category if ":" not in entry))
    return {**named, "": unnamed} if unnamed else named


def _grade_rank(value: str) -> int:
    match = re.fullmatch(r"G(\d)", value)
    return int(match.group(1)) if match else 0


def decide(
    finding: Finding,
    memory: Memory,
    at: datetime,
    corrected: Mapping[ResultKey, Observation],
    policy: SuggestionPolicy,
    *,
    taking_over: bool,
    re_based: bool,
) -> Decision | None:
    """De-duplicate one finding against what was said; None means nothing new to say.

    - A stand-alone R04 while an open R02 of its episode carries the work-up: None (an ADAMTS13 grey
      zone collected before the R02's latest emission does not end it, ``ended``).
    - Open alert of the same rule, episode and branch: an ``alert_update`` of it when the severity
      escalated, a relevant category changed (``category_changed``; this also lowers a severity, as
      R02's to ``info`` when ADAMTS13 turns severe), a corrected input left it holding at another
      severity (R10), or it is ``re_based``: a correction took the ADAMTS13 it was said on away and
      it holds on another one, which its evidence must now name (``corrections.re_based``); else an update
      carrying only the suggestions an X status re-allowed, if any; else None.
    - Otherwise, when an open alert of the same rule and episode in another branch differs from the
      finding in a relevant category (R05 a → b when B12 turns deficient): an ``alert_update``
      superseding it.
    - Otherwise a new ``alert`` (R11 (c) exceptions for newly fired rules apply; ``taking_over``: it
      takes over the content of an alert withdrawn at ``at``, see ``taken_over``).
    """
    if _carried_by_open_alert(finding, memory):
        return None
    same = memory.thread(finding.rule, finding.episode_id, finding.branch)
    if same is not None and same.is_open:
        orders = select_orders(finding, memory, at, newly_fired=False, policy=policy)
        corrected_severity = finding.severity != same.severity and not corrected.keys().isdisjoint(
            same.rests_on
        )
        if (
            finding.severity > same.severity
            or category_changed(finding.rule, same.category, finding.category)
            or corrected_severity
            or re_based
        ):
            return Decision(finding, orders, same, same.sequence + 1)
        lifted = tuple(shown for shown in orders if shown.lifted)
        if lifted:
            return Decision(finding, lifted, same, same.sequence + 1)
        return None
    sequence = (same.sequence if same else 0) + 1
    others = memory.open_branches(finding.rule, finding.episode_id)
    if others and category_changed(finding.rule, others[-1].category, finding.category):
        orders = select_orders(finding, memory, at, newly_fired=False, policy=policy)
        return Decision(finding, orders, others[-1], sequence)
    orders = select_orders(finding, memory, at, newly_fired=True, policy=policy, taking_over=taking_over)
    return Decision(finding, orders, None, sequence)
