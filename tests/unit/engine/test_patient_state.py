"""PatientState and Memory serialisation: versioned, byte-stable, loud on damage; ids deterministic."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import PatientKey
from b12stream.engine.engine import OutputSettings
from b12stream.engine.ids import alert_id, control_id, placer_order_number, retraction_id
from b12stream.engine.memory import Memory
from b12stream.engine.reconcile import reconcile
from b12stream.engine.state import PatientState
from b12stream.engine.suppression import SuggestionPolicy
from b12stream.errors import StateError
from tests.unit.engine.builders import PATIENT, RULES_VERSION, day, finding, platelets


def _state() -> PatientState:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0))])
    memory = reconcile(
        patient=PATIENT,
        memory=Memory(),
        findings=[finding()],
        at=day(0),
        corrected={},
        policy=SuggestionPolicy(),
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
        held=(),
    ).memory
    return PatientState(history, memory.with_lift({"b12_total"}, day(1)))


def test_state_round_trips_through_bytes_identically():
    state = _state()
    data = state.to_bytes()
    again = PatientState.from_bytes(data)
    assert again == state
    assert again.to_bytes() == data
    assert PatientState.from_bytes(PatientState.empty(PATIENT).to_bytes()) == PatientState.empty(PATIENT)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"format": 99}', b'{"format":1,"history":{},"memory":{}}', b"\xff\xfe"],
)
def test_damaged_or_foreign_state_raises_state_error(data):
    with pytest.raises(StateError):
        PatientState.from_bytes(data)


def test_memory_with_a_bad_severity_raises_state_error():
    document = _state().memory.to_dict()
    document["alerts"][0]["severity"] = "urgent"
    with pytest.raises(StateError):
        Memory.from_dict(document)


def test_memory_pruning_forgets_only_what_is_past_the_horizon():
    memory = _state().memory
    assert memory.pruned(day(10), timedelta(days=400)) == memory
    assert memory.pruned(day(500), timedelta(days=400)) == Memory()


def test_ids_depend_on_every_part_of_an_alert_identity_and_nothing_else():
    base = alert_id(PATIENT, "R", "E", "a", 1)
    assert base == alert_id(PATIENT, "R", "E", "a", 1)
    others = {
        alert_id(PatientKey("MRN001", "OTHER"), "R", "E", "a", 1),
        alert_id(PATIENT, "R2", "E", "a", 1),
        alert_id(PATIENT, "R", "E2", "a", 1),
        alert_id(PATIENT, "R", "E", "b", 1),
        alert_id(PATIENT, "R", "E", "a", 2),
    }
    assert base not in others and len(others) == 5
    assert len(base) == 32 and int(base, 16) >= 0
    assert retraction_id(base) != base
    assert len(control_id(base)) == 20
    assert placer_order_number(base, "2132-9") != placer_order_number(base, "2284-8")


def test_published_ids_of_re_based_episodes_are_kept_in_the_state_and_read_back():
    state = _state()
    published = state.memory.alerts[0].episode_id
    rebased = PatientState(state.history, state.memory.with_published_id("ep-rules", published))
    data = rebased.to_bytes()
    assert json.loads(data)["memory"]["published_ids"] == [["ep-rules", published]]
    again = PatientState.from_bytes(data)
    assert again == rebased and again.memory.published_id("ep-rules") == published
    assert again.to_bytes() == data


def test_a_memory_without_re_based_episodes_keeps_the_bytes_it_had_before_they_were_kept():
    state = _state()
    assert "published_ids" not in json.loads(state.to_bytes())["memory"]
    assert Memory.from_dict(state.memory.to_dict()).published_ids == ()


def test_the_patients_stated_sex_is_kept_in_the_state_and_read_back():
    state = _state()
    assert "sex" not in json.loads(state.to_bytes())  # unstated: the bytes it had before it was kept
    stated = PatientState(state.history, state.memory, "M")
    data = stated.to_bytes()
    assert json.loads(data)["sex"] == "M"
    again = PatientState.from_bytes(data)
    assert again == stated and again.to_bytes() == data
    with pytest.raises(StateError):
        PatientState.from_bytes(data.replace(b'"sex":"M"', b'"sex":1'))


def test_a_malformed_published_id_raises_state_error():
    document = _state().memory.to_dict()
    document["published_ids"] = [["ep-rules"]]
    with pytest.raises(StateError):
        Memory.from_dict(document)


def test_pruning_forgets_a_published_id_once_nothing_is_kept_under_it():
    memory = _state().memory
    rebased = memory.with_published_id("ep-rules", memory.alerts[0].episode_id)
    assert rebased.pruned(day(10), timedelta(days=400)) == rebased
    assert rebased.pruned(day(500), timedelta(days=400)) == Memory()
    other = rebased.with_emission("ep-other", "2132-9", "b12_total", day(450), finding().severity)
    assert other.pruned(day(500), timedelta(days=400)).published_ids == ()


def test_the_episode_a_moved_thread_was_paged_in_is_kept_in_the_state_and_read_back():
    state = _state()
    paged_in = state.memory.alerts[0].episode_id
    joined = PatientState(state.history, state.memory.with_episode_renamed(paged_in, "ep-joint"))
    (alert,) = joined.memory.alerts
    assert (alert.episode_id, alert.paged_episode_id) == ("ep-joint", paged_in)
    data = joined.to_bytes()
    assert json.loads(data)["memory"]["alerts"][0]["paged_episode_id"] == paged_in
    again = PatientState.from_bytes(data)
    assert again == joined and again.to_bytes() == data
    moved_again = again.memory.with_episode_renamed("ep-joint", "ep-later")
    assert moved_again.alerts[0].paged_episode_id == paged_in
    assert "paged_episode_id" not in json.loads(state.to_bytes())["memory"]["alerts"][0]


def test_what_an_alert_also_rests_on_is_kept_in_the_state_and_read_back():
    state = _state()
    (alert,) = state.memory.alerts
    later = platelets(58, day(0, 11), "F2")
    held = state.memory.with_alert(replace(alert, also_rests_on=(later.result_key,)))
    data = PatientState(state.history, held).to_bytes()
    assert json.loads(data)["memory"]["alerts"][0]["also_rests_on"] == [["F2", "777-3", "1"]]
    again = PatientState.from_bytes(data)
    assert again.memory == held and again.to_bytes() == data
    # An alert resting on its evidence alone is written as it always was.
    assert "also_rests_on" not in json.loads(state.to_bytes())["memory"]["alerts"][0]


def test_memory_fields_are_the_ones_its_slot_constructor_calls_pass_in_order():
    """``memory._new_memory`` takes every field by position and fills the ones left out with their
    defaults: a field added to Memory must be added to each of its calls (``with_seen``, ``pruned``)
    in the same place, or a value would land in the wrong field without an error."""
    from dataclasses import fields

    assert [f.name for f in fields(Memory)] == [
        "alerts", "suggestions", "messages", "published_ids", "_message_texts"
    ]
