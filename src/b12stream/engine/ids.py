"""Deterministic identifiers: alert ids, retraction ids, placer order numbers, message control ids."""

from __future__ import annotations

import hashlib

from b12stream.clinical.model import PatientKey

__all__ = ["alert_id", "control_id", "page_key", "placer_order_number", "retraction_id"]

_SEP = "\x1f"  # unit separator: cannot occur in HL7-derived identifiers, so parts never run together


def _digest(*parts: str) -> str:
    return hashlib.sha256(_SEP.join(parts).encode("utf-8")).hexdigest()


def alert_id(patient: PatientKey, rule: str, episode_id: str, branch: str, sequence: int) -> str:
    """The id of the ``sequence``-th emission (1-based) of one rule's alert in one episode.

    A pure function of the patient key and the alert's identity, never of processing time or
    randomness: the same input history gives the same ids, so consumers can de-duplicate redeliveries.
    """
    return _digest("alert", patient.as_text(), rule, episode_id, branch, str(sequence))[:32]


def page_key(patient: PatientKey, rule: str, episode_id: str, branch: str, first: int = 1) -> str:
    """The pager ``dedup_key`` of one alert thread (rule, episode, branch): the id of its first alert
    (``first``: its sequence, 1 unless that key is taken, see ``reconcile``).

    A thread has at most one open alert, so at most one open incident: a critical alert updated
    without leaving critical keeps the incident (and its page) it has, and a retraction or a
    de-escalation resolves it with no need to remember which emission paged. A key triggered again
    after its incident was resolved opens a new incident (PagerDuty Events v2).
    """
    return alert_id(patient, rule, episode_id, branch, first)


def retraction_id(retracted_alert_id: str) -> str:
    """The id of the retraction of one alert (an alert is retracted at most once)."""
    return _digest("retraction", retracted_alert_id)[:32]


def placer_order_number(source_alert_id: str, loinc: str) -> str:
    """ORC-2/OBR-2 for one suggested order of one alert: redelivery yields the same number."""
    return "B12" + _digest("placer", source_alert_id, loinc)[:16].upper()


def control_id(source_alert_id: str) -> str:
    """MSH-10 of the order message for one alert: 20 characters, the HL7 v2.5.1 maximum."""
    return _digest("msh10", source_alert_id)[:20].upper()
