"""Pager envelopes for critical alerts, shaped like PagerDuty Events v2 so a bridge only forwards them."""

from __future__ import annotations

from typing import Any

__all__ = ["resolve", "trigger"]


def trigger(event: dict[str, Any], source: str, dedup_key: str) -> dict[str, Any]:
    """A ``trigger`` for a critical ``alert`` or ``alert_update`` event.

    ``dedup_key`` names the incident: the alert thread's (``ids.page_key``), not the event's id, which
    an update changes. A trigger for an incident that is open is merged into it, not paged again.

    The routing key is the bridge's secret and is never in the envelope. The patient identifier is
    left out as well: responders open the alert by its id, so no identifier leaves for a paging service.
    """
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": event["summary"],
            "source": source,
            "severity": "critical",
            "timestamp": event["observed_at"],
            "component": event["rule"],
            "group": event["episode_id"],
            "class": event["type"],
            "custom_details": {
                "alert_id": event["id"],
                "rule": event["rule"],
                "supersedes": event.get("supersedes"),
                "suggested_orders": [o["loinc"] for o in event["suggested_orders"]],
            },
        },
        "client": "b12stream",
    }


def resolve(dedup_key: str) -> dict[str, Any]:
    """A ``resolve`` of the incident of a critical alert that was retracted or left critical."""
    return {"event_action": "resolve", "dedup_key": dedup_key}
