"""PatientState bytes: the same format-1 JSON as the encoder writes, also for states read back and grown."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Observation, ResultKey
from b12stream.engine.engine import OutputSettings
from b12stream.engine.memory import Memory, SeenMessage
from b12stream.engine.reconcile import reconcile
from b12stream.engine.state import STATE_FORMAT, PatientState
from b12stream.engine.suppression import SuggestionPolicy
from tests.unit.engine.builders import PATIENT, RULES_VERSION, day, finding, platelets

# Text that looks like the stored layout's own structure must stay inside its string.
TRICKY = ['},{"analyte":', ']},"memory":', '"records":[', '{"analyte":', "\\", '"', "é\n\u2028", ""]
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8))


def _reference(state: PatientState) -> bytes:
    """Format 1 as ``json.dumps`` writes it (how every stored state so far was written)."""
    document = {"format": STATE_FORMAT, "history": state.history.to_dict(), "memory": state.memory.to_dict()}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _memory(at_day: int) -> Memory:
    return reconcile(
        patient=PATIENT,
        memory=Memory(),
        findings=[finding(at=day(at_day))],
        at=day(at_day),
        corrected={},
        policy=SuggestionPolicy(),
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
        held=(),
    ).memory


@st.composite
def results(draw: st.DrawFn) -> Observation:
    base = platelets(draw(st.sampled_from([20.0, 90.0, 250.0])), day(draw(st.integers(0, 8))))
    return replace(
        base,
        status=draw(st.sampled_from(["F", "C", "P", "I", "X", "D"])),
        result_key=ResultKey(draw(texts), draw(st.sampled_from(["777-3", "718-7"])), draw(texts)),
        source_message_id=draw(texts),
        text=draw(texts),
        flags=tuple(draw(st.lists(texts, max_size=2))),
        reference_low=draw(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))),
    )


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(results(), max_size=5), min_size=1, max_size=4), with_memory=st.booleans())
def test_bytes_are_the_encoders_and_survive_reading_back_and_growing(
    batches: list[list[Observation]], with_memory: bool
) -> None:
    state = PatientState.empty(PATIENT)
    for index, batch in enumerate(batches):
        history, _ = state.history.apply(batch)
        state = PatientState(history, _memory(index) if with_memory else state.memory)
        data = state.to_bytes()
        assert data == _reference(state)
        again = PatientState.from_bytes(data)
        assert again == state
        assert again.to_bytes() == data
        state = again  # the next batch grows the state read back, as the stream does


def test_bytes_written_by_the_plain_encoder_are_read_and_written_back_identically() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0)), platelets(70, day(1), "F2")])
    state = PatientState(history, _memory(1).with_lift({"b12_total"}, day(2)))
    stored = _reference(state)
    again = PatientState.from_bytes(stored)
    assert again == state
    assert again.to_bytes() == stored
    grown, _ = again.history.apply([platelets(80, day(3), "F3")])
    assert PatientState(grown, again.memory).to_bytes() == _reference(PatientState(grown, again.memory))


def test_reindented_bytes_are_read_and_written_in_the_one_layout() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0)), platelets(70, day(1), "F2")])
    state = PatientState(history, _memory(0))
    pretty = json.dumps(json.loads(state.to_bytes()), indent=2).encode()
    again = PatientState.from_bytes(pretty)
    assert again == state
    assert again.to_bytes() == state.to_bytes()


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(texts, st.integers(0, 30), st.booleans(), st.booleans()), max_size=12))
def test_applied_messages_are_written_as_the_encoder_writes_them_while_the_memory_grows_and_is_pruned(
    steps: list[tuple[str, int, bool, bool]],
) -> None:
    state = PatientState.empty(PATIENT)
    for control_id, at_day, prune, read_back in steps:
        memory = state.memory.with_seen(SeenMessage(control_id, "digest", day(at_day)))
        if prune:
            memory = memory.pruned(day(at_day), timedelta(days=10))
        state = PatientState(state.history, memory)
        assert state.to_bytes() == _reference(state)
        if read_back:
            state = PatientState.from_bytes(state.to_bytes())


def test_the_published_ids_of_re_based_episodes_are_written_as_the_encoder_writes_them() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0))])
    memory = _memory(0)
    state = PatientState(history, memory.with_published_id("ep-rules", memory.alerts[0].episode_id))
    assert state.to_bytes() == _reference(state)
    assert PatientState.from_bytes(_reference(state)) == state


def test_the_episode_a_moved_thread_was_paged_in_is_written_as_the_encoder_writes_it() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0))])
    memory = _memory(0)
    state = PatientState(history, memory.with_episode_renamed(memory.alerts[0].episode_id, "ep-joint"))
    assert state.to_bytes() == _reference(state)
    assert PatientState.from_bytes(_reference(state)) == state


# A state as every state stored before deleted results were remembered was written.
STORED_BEFORE_DELETED_KEYS = (
    b'{"format":1,"history":{"version":1,"patient":{"id":"MRN001","assigning_authority":"HOSP"},"records":['
    b'{"analyte":"platelets","code":"777-3","value":60.0,"unit":"10*9/L","observed_at":"2026-03-02T09:00:00+00:00",'
    b'"status":"F","result_key":["F1","777-3","1"],"source_message_id":"MSG-F1","comparator":"","text":"",'
    b'"reference_low":null,"reference_high":null,"flags":[],"unusable_reason":""}]},'
    b'"memory":{"alerts":[],"suggestions":[],"messages":[]}}'
)


def test_a_state_stored_before_deleted_results_were_remembered_is_read_and_written_back_identically() -> None:
    state = PatientState.from_bytes(STORED_BEFORE_DELETED_KEYS)
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0))])
    assert state == PatientState(history) and state.history.deleted == ()
    assert state.to_bytes() == STORED_BEFORE_DELETED_KEYS


def test_deleted_results_are_written_before_the_records_and_read_back() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([platelets(60, day(0)), platelets(70, day(1), "F2")])
    history, _ = history.apply([platelets(60, day(0), status="W")])
    state = PatientState(history, _memory(1))
    data = state.to_bytes()
    assert data == _reference(state)
    assert list(json.loads(data)["history"]) == ["version", "patient", "deleted", "records"]
    again = PatientState.from_bytes(data)
    assert again == state and again.history.deleted == history.deleted
    assert again.to_bytes() == data
    grown, _ = again.history.apply([platelets(80, day(3), "F3")])
    assert PatientState(grown, again.memory).to_bytes() == _reference(PatientState(grown, again.memory))
