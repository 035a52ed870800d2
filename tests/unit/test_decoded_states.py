"""Decoded patient states kept between batches: used only while the store holds the very bytes they
were kept with, and never more of them than the memory budget allows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from b12stream.clinical.model import PatientKey
from b12stream.engine.memory import Memory, SeenMessage
from b12stream.engine.state import PatientState
from b12stream.errors import StateError
from b12stream.stream.decoded_states import MEMORY_PER_STORED_BYTE, DecodedStates


def _stored(patient: str) -> tuple[str, bytes]:
    state = PatientState.empty(PatientKey(patient, "CGH"))
    return state.patient.as_text(), state.to_bytes()


def test_a_kept_state_is_used_while_the_store_holds_its_bytes() -> None:
    key, data = _stored("1")
    states = DecodedStates(1 << 20)
    first = states.decode(key, data)
    assert first == PatientState.from_bytes(data)
    assert states.decode(key, bytes(bytearray(data))) is first  # equal bytes, read again: no decoding


def test_other_bytes_for_the_same_patient_are_decoded_again() -> None:
    key, stored = _stored("1")
    empty = PatientState.from_bytes(stored)
    seen = SeenMessage("C1", "d", datetime(2026, 3, 2, tzinfo=UTC))
    later = PatientState(empty.history, Memory().with_seen(seen))
    states = DecodedStates(1 << 20)
    states.keep(key, later.to_bytes(), later)  # kept by a batch whose transaction then aborted
    decoded = states.decode(key, stored)  # what the store still holds
    assert decoded is not later
    assert decoded == empty


def test_a_full_budget_keeps_the_newest_state_and_drops_an_earlier_one() -> None:
    first, second, third = (_stored(str(n)) for n in range(3))
    states = DecodedStates((len(first[1]) + len(second[1])) * MEMORY_PER_STORED_BYTE)
    kept = [states.decode(*first), states.decode(*second)]
    newest = states.decode(*third)
    assert len(states) == 2
    assert states.decode(*third) is newest
    pairs = zip((first, second), kept, strict=True)
    still_kept = [states.decode(*stored) is state for stored, state in pairs]
    assert still_kept.count(True) == 1


def test_rounds_of_more_patients_than_fit_still_find_some_states_kept() -> None:
    """A daily round of ten patients with room for five: the least recently used state would always
    be the next one asked for, and none would ever be found. Dropped at random, about one in five is
    found (the seeded choice makes the count repeatable)."""
    patients = [_stored(str(n)) for n in range(10)]
    states = DecodedStates(5 * len(patients[0][1]) * MEMORY_PER_STORED_BYTE)
    last: dict[str, object] = {}
    found = 0
    for _ in range(20):
        for key, data in patients:
            state = states.decode(key, data)
            found += state is last.get(key)
            last[key] = state
    assert len(states) == 5
    assert found >= 20


@pytest.mark.parametrize("room", [0, -1])
def test_a_budget_of_zero_or_a_state_larger_than_the_budget_keeps_nothing(room: int) -> None:
    key, data = _stored("1")
    states = DecodedStates(0 if room == 0 else len(data) * MEMORY_PER_STORED_BYTE + room)
    assert states.decode(key, data) is not states.decode(key, data)
    assert len(states) == 0


def test_unreadable_bytes_raise_and_are_not_kept() -> None:
    states = DecodedStates(1 << 20)
    with pytest.raises(StateError):
        states.decode("CGH|1", b"{not a state")
    assert len(states) == 0
