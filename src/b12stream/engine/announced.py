"""The alert_update that says at once where a carried alert went (episodes joined or split, R10)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from b12stream.clinical.episodes import episodes
from b12stream.clinical.evaluate import evaluate
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Finding, PatientKey
from b12stream.clinical.rules.common import CAVEAT
from b12stream.clinical.view import HistoryView
from b12stream.engine.engine import Engine
from b12stream.engine.episode_names import EpisodeNames
from b12stream.engine.memory import AlertRecord, Memory
from b12stream.engine.reconcile import announcement
from b12stream.engine.suppression import ShownOrder

__all__ = ["Announced", "announced"]

_CARRIED_DETAIL = (
    "Platelet counts delivered late, corrected or deleted have joined or split the thrombocytopenia "
    "episodes: this alert now belongs to the episode that holds its results. Its rule does not hold "
    "there as of the alert's time, so its earlier text and suggestions are not repeated."
)


@dataclass(frozen=True, slots=True)
class Announced:
    """The memory with each announced alert's latest emission, and the updates and pages said."""

    memory: Memory
    events: tuple[dict[str, Any], ...]
    pages: tuple[dict[str, Any], ...]


def announced(
    *,
    patient: PatientKey,
    memory: Memory,
    moved: Collection[str],
    history: PatientHistory,
    names: EpisodeNames,
    engine: Engine,
    sex: str,
) -> Announced:
    """An ``alert_update`` for each open alert of ``moved`` (``Carried.moved``) that no other event
    of the message superseded or withdrew, under the episode id it has gone on in.

    A consumer keeps open alerts by rule and episode: until it hears of the new id, a new alert of
    the rule in the episode the thread left looks like a second one, and the thread's next update
    like a change of episode. The update says again what the alert said (``announcement``): the
    finding of its rule in its new episode at its evaluation time, with the suggestions shown with
    it then, else at the new episode's latest thrombocytopenic count (the episode is over by the
    alert's time, or opens after it); when the rule holds at neither (a late result changed it), the
    alert as remembered.
    """
    if not moved:  # the usual case: no count joined or split episodes
        return Announced(memory, (), ())
    events: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    for record in memory.open_alerts():
        if record.id not in moved:
            continue
        finding = _finding(record, history, names, engine, sex)
        memory, event, paged = announcement(
            record,
            finding,
            _shown(finding, record, memory),
            patient=patient,
            memory=memory,
            outputs=engine.outputs,
            rules_version=engine.rules_version,
        )
        events.append(event)
        pages.extend(paged)
    return Announced(memory, tuple(events), tuple(pages))


def _finding(
    record: AlertRecord, history: PatientHistory, names: EpisodeNames, engine: Engine, sex: str
) -> Finding:
    """The finding of ``record``'s thread at its evaluation time, else at its episode's latest
    thrombocytopenic count, else the alert as remembered: its rule, branch, severity and state
    classes, resting on the results it rests on."""
    identity = (record.rule, record.episode_id, record.branch)
    for moment in _moments(record, history, names, engine):
        for found in names.findings(evaluate(history, moment, engine.rules, sex=sex)):
            if (found.rule, found.episode_id, found.branch) == identity:
                return found
    evidence = frozenset(record.evidence)
    return Finding(
        rule=record.rule,
        severity=record.severity,
        episode_id=record.episode_id,
        summary=f"{record.rule} alert goes on in the episode that now holds its results",
        detail=f"{_CARRIED_DETAIL}\n\n{CAVEAT}",
        evidence=tuple(r for r in history.records if r.result_key in evidence),
        citations=(),
        branch=record.branch,
        category=record.category,
        observed_at=record.observed_at,
    )


def _moments(
    record: AlertRecord, history: PatientHistory, names: EpisodeNames, engine: Engine
) -> list[datetime]:
    """When ``record``'s rule may hold in its episode: at the alert's time, then at the episode's
    latest thrombocytopenic count if another time."""
    moments = [record.observed_at]
    view = HistoryView.of(history, history.records[-1].observed_at)
    for episode in episodes(view, engine.rules):
        if names.name(episode.id) == record.episode_id and episode.last_tp_at != record.observed_at:
            moments.append(episode.last_tp_at)
    return moments


def _shown(finding: Finding, record: AlertRecord, memory: Memory) -> tuple[ShownOrder, ...]:
    """The suggestions of ``finding`` shown in its episode when ``record`` was emitted, marked as
    they were then."""
    marked = dict(record.suggested)
    shown: dict[str, ShownOrder] = {}
    for order in finding.suggested_orders:
        emitted = memory.suggestion(record.episode_id, order.loinc)
        if emitted is not None and record.observed_at in emitted.emitted_at:
            shown.setdefault(order.loinc, ShownOrder(order, marked.get(order.loinc)))
    return tuple(shown.values())
