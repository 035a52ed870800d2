"""Pruning keeps what a history derives from its records (indexes, JSON texts) when only its oldest
records go: the pruned history answers exactly as one built afresh from the records it keeps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.history import PatientHistory, Retention
from b12stream.clinical.model import Observation
from tests.unit.clinical.clinical_builders import PATIENT, day, obs

_ANALYTES = ("platelets", "hemoglobin", "intrinsic_factor_ab")
_RETENTION = Retention(default_days=30, long_lived_days=90)


@st.composite
def results(draw: st.DrawFn) -> Observation:
    return obs(
        draw(st.sampled_from(_ANALYTES)),
        float(draw(st.integers(10, 300))),
        day(draw(st.integers(0, 120))),
        status=draw(st.sampled_from(["F", "C", "P", "I", "X", "D"])),
        filler=f"F{draw(st.integers(0, 40))}",
    )


def _fresh(history: PatientHistory) -> PatientHistory:
    return PatientHistory(PATIENT, history.records, history.deleted)


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.tuples(st.lists(results(), max_size=4), st.integers(0, 200)), min_size=1, max_size=8),
    following=st.lists(results(), max_size=4),
)
def test_a_pruned_history_answers_as_one_built_from_its_records(
    batches: list[tuple[list[Observation], int]], following: list[Observation]
) -> None:
    history = PatientHistory.empty(PATIENT)
    for batch, at in batches:
        history, _ = history.apply(batch)
        history.by_analyte()  # derived now, so that pruning has indexes and texts to carry
        history.to_json()
        history = history.pruned(day(at), _RETENTION)
        fresh = _fresh(history)
        assert history.by_analyte() == fresh.by_analyte()
        assert history._index() == fresh._index()  # by result key, and the pending ones
        assert history.to_json() == fresh.to_json()
        assert history.apply(following) == fresh.apply(following)
