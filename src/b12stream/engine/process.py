"""The one processing step replay and the Kafka stream share: accepted message + state → outcome."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from b12stream.clinical.evaluate import evaluate, trigger_times
from b12stream.clinical.history import CANCELLED_STATUSES, HistoryChange, PatientHistory
from b12stream.clinical.model import Observation, ResultKey
from b12stream.engine.corrections import correcting_observations
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted
from b12stream.engine.memory import Memory, SeenMessage
from b12stream.engine.orders import OrderMessage
from b12stream.engine.reconcile import reconcile
from b12stream.engine.state import PatientState
from b12stream.errors import StateError

__all__ = ["OrderMessage", "Outcome", "evaluation_times", "process"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new patient state and everything to publish, in order. Events are JSON-ready dicts."""

    state: PatientState
    events: tuple[dict[str, Any], ...]
    orders: tuple[OrderMessage, ...]
    pages: tuple[dict[str, Any], ...]


def evaluation_times(
    triggers: Iterable[datetime], corrected: Mapping[ResultKey, Observation]
) -> tuple[datetime, ...]:
    """Distinct evaluation times, oldest first: each trigger time (``trigger_times``) and each
    corrected result's collection time. Never the wall clock, so replaying the same input gives the
    same events."""
    moments = set(triggers) | {o.observed_at for o in corrected.values()}
    return tuple(sorted(moments))


def process(state: PatientState, accepted: Accepted, engine: Engine) -> Outcome:
    """Apply one accepted message to one patient's state. Pure and deterministic.

    1. A message already applied (same MSH-10, same content) changes nothing, even after a later
       correction; otherwise apply its observations to the patient history. No change → no events.
    2. An X result status re-allows that analyte's earlier suggestions (R10/R11).
    3. Evaluate the rules at each evaluation time (``evaluation_times``) and reconcile the findings
       with what was already said: new alerts, updates, retractions (R10), suggestion suppression (R11).
    4. Prune history and memory past their retention, counted back from the newest result.

    Raises StateError when ``state`` belongs to another patient than the message.
    """
    if state.patient != accepted.patient:
        raise StateError("patient state and message belong to different patient keys")
    seen = _seen(accepted)
    if seen is not None and state.memory.has_seen(seen.control_id, seen.digest):
        return Outcome(state, (), (), ())
    history, change = state.history.apply(accepted.observations)
    if not change.changed:
        return Outcome(state, (), (), ())
    memory = _lift(state.memory, change)
    if seen is not None:
        memory = memory.with_seen(seen)
    corrected = correcting_observations(accepted.observations, change.corrected | change.deleted)
    triggers = trigger_times(change.added, history, engine.rules)
    events: list[dict[str, Any]] = []
    orders: list[OrderMessage] = []
    pages: list[dict[str, Any]] = []
    for at in evaluation_times(triggers, corrected):
        result = reconcile(
            patient=accepted.patient,
            memory=memory,
            findings=evaluate(history, at, engine.rules, sex=accepted.message.sex),
            at=at,
            corrected={key: o for key, o in corrected.items() if o.observed_at == at},
            policy=engine.suppression,
            outputs=engine.outputs,
        )
        memory = result.memory
        events.extend(result.events)
        orders.extend(result.orders)
        pages.extend(result.pages)
    history, memory = _pruned(history, memory, engine)
    return Outcome(PatientState(history, memory), tuple(events), tuple(orders), tuple(pages))


def _seen(accepted: Accepted) -> SeenMessage | None:
    """The message's identity for idempotency, or None when it carries no observation to apply."""
    if not accepted.observations:
        return None
    newest = max(o.observed_at for o in accepted.observations)
    return SeenMessage(accepted.message.header.control_id, accepted.digest, newest)


def _lift(memory: Memory, change: HistoryChange) -> Memory:
    cancelled = [o for o in change.added if o.status in CANCELLED_STATUSES]
    if not cancelled:
        return memory
    return memory.with_lift({o.analyte for o in cancelled}, max(o.observed_at for o in cancelled))


def _pruned(history: PatientHistory, memory: Memory, engine: Engine) -> tuple[PatientHistory, Memory]:
    if not history.records:
        return history, memory
    newest = history.records[-1].observed_at
    retention = engine.rules.history_retention
    return (
        history.pruned(newest, retention),
        memory.pruned(newest, timedelta(days=retention.default_days)),
    )
