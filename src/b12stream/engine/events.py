"""Output events as JSON-ready dicts (spec "Engine contract"), with a fixed key order and encoding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from b12stream.clinical.model import Finding, Observation, PatientKey
from b12stream.engine.ids import retraction_id
from b12stream.engine.memory import AlertRecord
from b12stream.engine.suppression import ShownOrder
from b12stream.hl7.model import Rejection

__all__ = [
    "SCHEMA_VERSION",
    "SUMMARY_LIMIT",
    "alert_event",
    "encode_event",
    "rejected_event",
    "retraction_event",
    "timestamp",
]

SCHEMA_VERSION = "1.0"
SUMMARY_LIMIT = 140  # CDS Hooks card summary: under 140 characters


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix: one spelling for one instant, whatever offset was sent."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _summary(text: str) -> str:
    if len(text) < SUMMARY_LIMIT:
        return text
    return text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def _patient(patient: PatientKey) -> dict[str, str]:
    return {"id": patient.id, "assigning_authority": patient.assigning_authority}


def _evidence(observation: Observation) -> dict[str, Any]:
    value: float | str | None = observation.value
    if value is None and observation.text:
        value = observation.text
    return {
        "analyte": observation.analyte,
        "code": observation.code,
        "value": value,
        "comparator": observation.comparator,
        "unit": observation.unit,
        "observed_at": timestamp(observation.observed_at),
        "status": observation.status,
        "source_message_id": observation.source_message_id,
    }


def _order(shown: ShownOrder) -> dict[str, Any]:
    order = shown.order
    item: dict[str, Any] = {
        "analyte": order.analyte,
        "loinc": order.loinc,
        "display": order.display,
        "priority": order.priority,
        "order_set": order.order_set,
    }
    if order.note:
        item["note"] = order.note
    if shown.previously_suggested_at is not None:
        item["previously_suggested_at"] = timestamp(shown.previously_suggested_at)
    return item


def alert_event(
    *,
    event_id: str,
    finding: Finding,
    patient: PatientKey,
    orders: Sequence[ShownOrder],
    at: datetime,
    rules_version: str,
    supersedes: str | None = None,
) -> dict[str, Any]:
    """An ``alert`` or, when ``supersedes`` names the open alert it replaces, an ``alert_update``.

    ``observed_at`` is the evaluation time (the triggering result's collection time);
    ``rules_version`` is the engine's (``Engine.rules_version``): the rule logic and settings it ran.
    """
    event: dict[str, Any] = {"type": "alert" if supersedes is None else "alert_update", "id": event_id}
    if supersedes is not None:
        event["supersedes"] = supersedes
    event.update(
        {
            "rule": finding.rule,
            "branch": finding.branch,
            "severity": finding.severity.label,
            "patient": _patient(patient),
            "episode_id": finding.episode_id,
            "summary": _summary(finding.summary),
            "detail": finding.detail,
            "evidence": [_evidence(o) for o in finding.evidence],
            "citations": list(finding.citations),
            "suggested_orders": [_order(s) for s in orders],
            "bundled": list(finding.bundled),
            "observed_at": timestamp(finding.observed_at or at),
            "schema_version": SCHEMA_VERSION,
            "rules_version": rules_version,
        }
    )
    return event


def retraction_event(
    *, record: AlertRecord, patient: PatientKey, reason: str, at: datetime
) -> dict[str, Any]:
    """A ``retraction`` of an open alert, at the alert's own severity (R10)."""
    return {
        "type": "retraction",
        "id": retraction_id(record.id),
        "alert_id": record.id,
        "reason": reason,
        "rule": record.rule,
        "branch": record.branch,
        "severity": record.severity.label,
        "patient": _patient(patient),
        "episode_id": record.episode_id,
        "summary": _summary(f"Withdrawn: {record.rule} alert ({reason})"),
        "observed_at": timestamp(at),
        "schema_version": SCHEMA_VERSION,
    }


def rejected_event(rejection: Rejection, source: str) -> dict[str, Any]:
    """A ``rejected`` event for a message the engine could not use.

    ``source`` says where the bytes came from (a file path and offset, or topic/partition/offset).
    The texts are ``Rejection.bounded``: the event names the message, it does not carry it.
    """
    rejection = rejection.bounded()
    return {
        "type": "rejected",
        "reason": rejection.reason,
        "location": rejection.location.as_dict(),
        "control_id": rejection.control_id,
        "message_type": rejection.message_type,
        "source": source,
        "schema_version": SCHEMA_VERSION,
    }


def encode_event(event: dict[str, Any]) -> bytes:
    """The one byte encoding of an event (compact UTF-8 JSON, key order as built), for every sink."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
