"""Every event the engine emits validates against its shipped JSON Schema; encoding is byte-stable."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from b12stream.clinical.model import Finding, Severity
from b12stream.engine import pager
from b12stream.engine.engine import OutputSettings
from b12stream.engine.events import SUMMARY_LIMIT, alert_event, encode_event, rejected_event, timestamp
from b12stream.engine.ids import page_key
from b12stream.engine.memory import Memory
from b12stream.engine.reconcile import Reconciled, reconcile
from b12stream.engine.schemas import validation_errors
from b12stream.engine.suppression import ShownOrder, SuggestionPolicy
from b12stream.hl7.model import Location, Rejection, shown
from tests.unit.engine.builders import B12, PATIENT, RULES_VERSION, day, finding, platelets


def _alert(said: Finding, digit: str) -> dict[str, Any]:
    """The alert event of ``said`` for PATIENT at day 0, with no suggested order."""
    return alert_event(
        event_id=digit * 32, finding=said, patient=PATIENT, orders=(), at=day(0), rules_version=RULES_VERSION
    )


def _step(memory, findings, at, corrected=None, rules_version=RULES_VERSION):
    return reconcile(
        patient=PATIENT,
        memory=memory,
        findings=findings,
        at=at,
        corrected=corrected or {},
        policy=SuggestionPolicy(),
        outputs=OutputSettings(),
        rules_version=rules_version,
        held=(),
    )


def _alert_update_retraction(rules_version: str = RULES_VERSION) -> list[Reconciled]:
    first = _step(
        Memory(), [finding(severity=Severity.CRITICAL, category=("plt:G3",))], day(0), None, rules_version
    )
    update = _step(
        first.memory,
        [finding(severity=Severity.CRITICAL, category=("plt:G4",), at=day(1))],
        day(1),
        None,
        rules_version,
    )
    removal = platelets(60, day(0), status="W")
    retraction = _step(update.memory, [], day(0), {removal.result_key: removal}, rules_version)
    return [first, update, retraction]


def test_alert_update_retraction_and_pages_validate():
    first, update, retraction = _alert_update_retraction()
    events = [*first.events, *update.events, *retraction.events]
    assert [e["type"] for e in events] == ["alert", "alert_update", "retraction"]
    assert [e.get("rules_version") for e in events] == [RULES_VERSION, RULES_VERSION, None]
    for event in events:
        assert validation_errors(event) == []
    pages = [*first.pages, *update.pages, *retraction.pages]
    assert [(p["event_action"], p["dedup_key"]) for p in pages] == [
        ("trigger", first.events[0]["id"]),  # the update stays critical: same incident, no new page
        ("trigger", first.events[0]["id"]),
        ("resolve", first.events[0]["id"]),
    ]
    for page in pages:
        assert validation_errors(page, "pager") == []


def test_ids_and_everything_else_stay_when_the_rules_version_changes():
    """Ids are over the input history only: a replay under new thresholds still de-duplicates."""
    other = "0.1.0+" + "f" * 12
    assert other != RULES_VERSION
    for ours, theirs in zip(_alert_update_retraction(), _alert_update_retraction(other), strict=True):
        assert [{**e, "rules_version": other} if "rules_version" in e else e for e in ours.events] == list(
            theirs.events
        )
        assert ours.memory == theirs.memory


def test_schema_rejects_what_the_contract_forbids():
    event = _alert(finding(), "0")
    assert validation_errors(event) == []
    assert validation_errors({**event, "severity": "urgent"})
    assert validation_errors({**event, "extra": 1})
    assert validation_errors({k: v for k, v in event.items() if k != "episode_id"})
    assert validation_errors({**event, "type": "alert_update"})  # an update must say what it supersedes
    assert validation_errors({k: v for k, v in event.items() if k != "rules_version"})
    assert validation_errors({**event, "rules_version": "0.1.0"})  # the settings' digest is part of it
    update = {**event, "type": "alert_update", "supersedes": "1" * 32}
    assert validation_errors(update) == []
    assert validation_errors({k: v for k, v in update.items() if k != "rules_version"})


def test_qualitative_and_censored_evidence_and_order_notes_validate():
    qualitative = replace(platelets(0, day(0)), analyte="schistocytes", value=None, text="Present")
    censored = replace(platelets(50, day(0)), analyte="b12_total", comparator="<")
    noted = replace(B12, note="draw before any plasma or blood product (ISTH)")
    event = alert_event(
        event_id="1" * 32,
        finding=finding(evidence=(qualitative, censored)),
        patient=PATIENT,
        orders=(ShownOrder(noted, day(-1)),),
        at=day(0),
        rules_version=RULES_VERSION,
    )
    assert validation_errors(event) == []
    assert [e["value"] for e in event["evidence"]] == ["Present", 50]
    assert event["evidence"][1]["comparator"] == "<"
    assert event["suggested_orders"][0]["note"].startswith("draw before")


def test_long_summaries_are_cut_below_the_card_limit():
    long = replace(finding(), summary="x" * 300)
    event = _alert(long, "2")
    assert len(event["summary"]) < SUMMARY_LIMIT
    assert validation_errors(event) == []


def test_rejected_event_validates_and_keeps_the_location():
    rejection = Rejection("not an ORU^R01 (ADT^A01)", Location("MSH", 1, 9, 42), "CTRL1", "ADT^A01")
    event = rejected_event(rejection, "file.hl7@0")
    assert validation_errors(event) == []
    assert event["location"] == {"segment": "MSH", "segment_index": 1, "field": 9, "byte_offset": 42}
    assert validation_errors(rejected_event(Rejection("empty input"), "topic/0/7")) == []


def test_a_rejected_event_shows_no_field_of_its_message_whole():
    """The message is at its source; a field of any length copied in would make the event as large."""
    long = "ADT^" + "A" * 600_000
    rejection = Rejection(f"message type {long} is not ORU^R01", Location("MSH", 1, 9, 0), long, long)
    event = rejected_event(rejection, "hl7.oru/0/7")
    assert validation_errors(event) == []
    assert (event["control_id"], event["message_type"]) == (shown(long), shown(long))
    assert event["reason"].endswith(f"… ({len(rejection.reason):,} characters)")
    assert len(encode_event(event)) < 2_000


def test_encoding_is_compact_ordered_utf8_and_round_trips():
    event = _alert(finding(), "3")
    data = encode_event(event)
    assert data == encode_event(json.loads(data))
    assert data.startswith(b'{"type":"alert","id":"')
    assert b": " not in data


def test_timestamps_are_utc_with_z_whatever_offset_was_sent():
    from datetime import timedelta, timezone

    moment = day(0).astimezone(timezone(timedelta(hours=2)))
    assert timestamp(moment) == "2026-03-02T09:00:00Z"


def test_pager_trigger_carries_no_patient_identifier():
    event = _alert(finding(severity=Severity.CRITICAL), "4")
    key = page_key(PATIENT, event["rule"], event["episode_id"], "")
    page = pager.trigger(event, "b12stream", key)
    assert PATIENT.id not in json.dumps(page)
    assert page["dedup_key"] == key


def test_a_pager_trigger_needs_the_incident_key():
    """An update paged under its own id would open a second incident for one alert thread."""
    event = _alert(finding(severity=Severity.CRITICAL), "4")
    with pytest.raises(TypeError, match="dedup_key"):
        pager.trigger(event, "b12stream")  # type: ignore[call-arg]
