"""PatientHistory: result-status semantics (spec 2.1), corrections, idempotency, storage, pruning."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from b12stream.clinical.history import PatientHistory, Retention
from b12stream.clinical.model import PatientKey
from b12stream.errors import ClinicalError
from tests.unit.clinical.clinical_builders import PATIENT, day, obs, plt


def test_final_result_is_stored_and_reported_as_added() -> None:
    result = plt(80, day(0))
    history, change = PatientHistory.empty(PATIENT).apply([result])
    assert history.records == (result,)
    assert change.changed and change.added == (result,)
    assert change.corrected == frozenset() and change.deleted == frozenset()


def test_identical_resend_changes_nothing_even_from_another_message() -> None:
    result = plt(80, day(0))
    history, _ = PatientHistory.empty(PATIENT).apply([result])
    again, change = history.apply([replace(result, source_message_id="OTHER")])
    assert again is history
    assert not change.changed and change.added == ()


def test_correction_replaces_by_result_key_and_is_reported() -> None:
    first = plt(40, day(0), filler="ORD1")
    history, _ = PatientHistory.empty(PATIENT).apply([first])
    corrected = plt(240, day(0), filler="ORD1", status="C")
    history, change = history.apply([corrected])
    assert history.records == (corrected,)
    assert change.corrected == {first.result_key}
    assert change.added == (corrected,)


def test_new_final_value_for_same_key_counts_as_correction() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([plt(40, day(0), filler="ORD1")])
    _, change = history.apply([plt(45, day(0), filler="ORD1")])
    assert change.corrected == {plt(45, day(0), filler="ORD1").result_key}


def test_status_only_change_f_to_c_is_not_a_correction() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([plt(40, day(0), filler="ORD1")])
    history, change = history.apply([plt(40, day(0), filler="ORD1", status="C")])
    assert change.changed and change.corrected == frozenset()
    assert history.records[0].status == "C"


def test_final_supersedes_preliminary_without_correction() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([plt(30, day(0), filler="ORD", status="P")])
    history, change = history.apply([plt(31, day(0), filler="ORD")])
    assert [r.status for r in history.records] == ["F"]
    assert change.corrected == frozenset()


def test_late_preliminary_never_downgrades_a_final() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([plt(31, day(0), filler="ORD")])
    again, change = history.apply([plt(30, day(0), filler="ORD", status="P")])
    assert again is history and not change.changed


def test_a_final_re_sent_after_its_correction_never_undoes_it() -> None:
    """R10: the laboratory re-sends the original final (a new message) after correcting it."""
    original = plt(40, day(0), filler="ORD")
    history, _ = PatientHistory.empty(PATIENT).apply([original])
    history, _ = history.apply([plt(240, day(0), filler="ORD", status="C")])
    again, change = history.apply([replace(original, source_message_id="RESENT")])
    assert again is history and not change.changed


@pytest.mark.parametrize("status", ["D", "W"])
def test_delete_and_wrong_patient_remove_the_record(status: str) -> None:
    b12 = obs("b12_total", 120, day(0), filler="B12")
    history, _ = PatientHistory.empty(PATIENT).apply([b12, plt(60, day(0))])
    history, change = history.apply([replace(b12, status=status, value=None)])
    assert [r.analyte for r in history.records] == ["platelets"]
    assert change.deleted == {b12.result_key} and change.added == ()


@pytest.mark.parametrize("removal", ["D", "W"])
@pytest.mark.parametrize("status", ["F", "U", "P", "S", "R", "I", "O", "X"])
def test_a_deleted_result_sent_again_changes_nothing(removal: str, status: str) -> None:
    """R10: the original result (or an earlier status of it) re-sent in a new message after the
    laboratory deleted it, or withdrew it as posted to the wrong patient (S12), stays deleted."""
    b12 = obs("b12_total", 120, day(0), filler="B12")
    history, _ = PatientHistory.empty(PATIENT).apply([b12, plt(60, day(0))])
    history, _ = history.apply([replace(b12, status=removal, value=None, source_message_id="REMOVAL")])
    again, change = history.apply([replace(b12, status=status, source_message_id="RESENT")])
    assert again is history and not change.changed
    assert [r.analyte for r in again.records] == ["platelets"]


def test_a_deleted_result_is_remembered_as_deleted_once() -> None:
    b12 = obs("b12_total", 120, day(0), filler="B12")
    history, _ = PatientHistory.empty(PATIENT).apply([b12])
    history, change = history.apply([replace(b12, status="W", value=None)])
    assert history.records == () and change.deleted == {b12.result_key}
    assert [(d.result_key, d.status, d.observed_at, d.analyte) for d in history.deleted] == [
        (b12.result_key, "W", day(0), "b12_total")
    ]
    again, change = history.apply([replace(b12, status="D", value=None, source_message_id="AGAIN")])
    assert again is history and not change.changed


def test_a_delete_of_a_key_never_held_is_remembered_and_stores_nothing() -> None:
    deletion = obs("b12_total", None, day(0), status="D", filler="B12")
    history, change = PatientHistory.empty(PATIENT).apply([deletion])
    assert change.changed and change.deleted == frozenset() and change.added == ()
    assert history.records == () and [d.result_key for d in history.deleted] == [deletion.result_key]
    again, change = history.apply([replace(deletion, status="F", value=120.0)])
    assert again is history and not change.changed


def test_a_correction_of_a_deleted_result_posts_it_again() -> None:
    """The laboratory re-posting a deleted result on purpose sends it as a correction: it is stored
    as a new result, and the original final sent after it never undoes it."""
    b12 = obs("b12_total", 120, day(0), filler="B12")
    history, _ = PatientHistory.empty(PATIENT).apply([b12])
    history, _ = history.apply([replace(b12, status="D", value=None)])
    corrected = replace(b12, status="C", value=300.0, source_message_id="REPOSTED")
    history, change = history.apply([corrected])
    assert history.records == (corrected,) and history.deleted == ()
    assert change.added == (corrected,) and change.corrected == frozenset()
    again, change = history.apply([replace(b12, source_message_id="RESENT")])
    assert again is history and not change.changed


def test_order_level_pending_is_cleared_by_the_result_of_that_order() -> None:
    ordered = obs("adamts13_activity", None, day(0), status="I", filler="A13", sub_id="")
    result = obs("adamts13_activity", 72, day(0), filler="A13", sub_id="1")
    history, _ = PatientHistory.empty(PATIENT).apply([ordered])
    history, _ = history.apply([result])
    assert history.records == (result,)


def test_cancelled_result_clears_pending_and_is_kept_as_cancelled() -> None:
    ordered = obs("b12_total", None, day(0), status="I", filler="B12", sub_id="")
    cancelled = obs("b12_total", None, day(1), status="X", filler="B12", sub_id="1")
    history, _ = PatientHistory.empty(PATIENT).apply([ordered])
    history, change = history.apply([cancelled])
    assert [r.status for r in history.records] == ["X"]
    assert change.added == (cancelled,)
    _, again = history.apply([cancelled])
    assert not again.changed


def test_unknown_status_is_ignored() -> None:
    _, change = PatientHistory.empty(PATIENT).apply([plt(80, day(0), status="N")])
    assert not change.changed


def test_status_is_normalised() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([plt(80, day(0), status=" f ")])
    assert history.records[0].status == "F"


def test_records_are_independent_of_arrival_order() -> None:
    items = [plt(80, day(1)), obs("b12_total", 250, day(0)), obs("mma", 300, day(2))]
    forward, _ = PatientHistory.empty(PATIENT).apply(items)
    backward, _ = PatientHistory.empty(PATIENT).apply(items[::-1])
    assert forward == backward
    assert [r.observed_at for r in forward.records] == sorted(r.observed_at for r in items)


def test_round_trip_through_json() -> None:
    items = [
        plt(80, day(0), low=150.0, high=400.0, flags=["L"]),
        obs("haptoglobin", 0.1, day(0), comparator="<"),
        obs("schistocytes", None, day(0), text="Present"),
        obs("adamts13_activity", None, day(0), status="I"),
    ]
    history, _ = PatientHistory.empty(PatientKey("123", "AUTH")).apply(items)
    restored = PatientHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history


def test_from_dict_rejects_malformed_data() -> None:
    with pytest.raises(ClinicalError):
        PatientHistory.from_dict({"version": 1, "patient": {"id": "1"}, "records": []})
    with pytest.raises(ClinicalError):
        PatientHistory.from_dict({"version": 99, "patient": {}, "records": []})


def test_deleted_keys_round_trip_and_a_history_without_any_is_written_as_before() -> None:
    b12 = obs("b12_total", 120, day(0), filler="B12")
    history, _ = PatientHistory.empty(PATIENT).apply([b12, plt(60, day(0))])
    assert list(history.to_dict()) == ["version", "patient", "records"]
    history, _ = history.apply([replace(b12, status="W", value=None)])
    assert list(history.to_dict()) == ["version", "patient", "deleted", "records"]
    assert history.to_dict()["deleted"] == [
        {
            "result_key": ["B12", "2132-9", "1"],
            "status": "W",
            "observed_at": day(0).isoformat(),
            "analyte": "b12_total",
        }
    ]
    restored = PatientHistory.from_dict(json.loads(history.to_json()))
    assert restored == history and restored.deleted == history.deleted
    again, change = restored.apply([replace(b12, source_message_id="RESENT")])
    assert again is restored and not change.changed


_DELETED = {
    "result_key": ["B12", "2132-9", "1"],
    "status": "D",
    "observed_at": "2026-03-02T08:00:00+00:00",
    "analyte": "b12_total",
}


@pytest.mark.parametrize(
    "damage",
    [
        {"status": "F"},
        {"result_key": ["B12", "2132-9"]},
        {"result_key": ["B12", "2132-9", 1]},
        {"observed_at": "yesterday"},
        {"analyte": None},
    ],
)
def test_from_dict_rejects_malformed_deleted_keys(damage: dict[str, object]) -> None:
    stored = {"version": 1, "patient": {"id": "1", "assigning_authority": "A"}, "records": []}
    assert len(PatientHistory.from_dict({**stored, "deleted": [_DELETED]}).deleted) == 1
    with pytest.raises(ClinicalError):
        PatientHistory.from_dict({**stored, "deleted": [{**_DELETED, **damage}]})


def test_deleted_keys_are_forgotten_with_the_results_they_were() -> None:
    """A deleted result is remembered as long as it would have been kept: 400 days, antibodies 5 years."""
    items = [plt(80, day(-500), filler="OLD"), obs("intrinsic_factor_ab", 0.5, day(-500), filler="IF")]
    history, _ = PatientHistory.empty(PATIENT).apply([*items, plt(90, day(-10))])
    history, _ = history.apply([replace(o, status="D", value=None) for o in items])
    pruned = history.pruned(day(0), Retention())
    assert [d.analyte for d in pruned.deleted] == ["intrinsic_factor_ab"]
    assert pruned.records == history.records
    assert pruned.pruned(day(0), Retention()) is pruned
    assert history.pruned(day(0), Retention(default_days=1000)) is history
    # Forgotten, the platelet count sent again is a result like any other (and goes at the next pruning).
    _, change = pruned.apply([replace(items[0], source_message_id="RESENT")])
    assert change.added == (replace(items[0], source_message_id="RESENT"),)


def test_pruned_keeps_antibodies_five_years_and_others_400_days() -> None:
    items = [plt(80, day(-500)), obs("intrinsic_factor_ab", 0.5, day(-500)), plt(90, day(-10))]
    history, _ = PatientHistory.empty(PATIENT).apply(items)
    pruned = history.pruned(day(0), Retention())
    assert [(r.analyte, r.value) for r in pruned.records] == [("intrinsic_factor_ab", 0.5), ("platelets", 90)]
    assert pruned.pruned(day(0), Retention()) is pruned
    assert history.pruned(day(0), Retention(default_days=1000)) is history


def test_timestamp_without_offset_is_read_as_utc() -> None:
    naive = plt(80, day(0).replace(tzinfo=None))
    history, _ = PatientHistory.empty(PATIENT).apply([naive])
    assert history.records[0].observed_at == day(0)


def test_records_given_out_of_order_are_kept_sorted() -> None:
    later, earlier = plt(80, day(1)), plt(90, day(0))
    assert PatientHistory(PATIENT, (later, earlier)).records == (earlier, later)
