"""Stored JSON of observations and histories: the direct writer equals the encoder on the dict form."""

from __future__ import annotations

import json
import math
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.history import PatientHistory, Retention
from b12stream.clinical.model import Observation, ResultKey
from b12stream.clinical.observation_json import (
    compact_json,
    observation_from_dict,
    observation_json,
    observation_to_dict,
    observations_from_dicts,
    time_text,
)
from tests.unit.clinical.clinical_builders import PATIENT, day, obs

# Strings that look like the stored layout's own structure, and characters JSON must escape.
TRICKY = ['},{"analyte":', ']},"memory":', '"records":[', "\\", '"', "\n\t\x00\x1f", "é中\u2028", ""]

texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0.0, -0.0, 1e-7, 1e22, 139.0, 0.1]),
)


@st.composite
def observations(draw: st.DrawFn, numbers: st.SearchStrategy[float | int | None] = numbers) -> Observation:
    offset = draw(st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=330))]))
    return Observation(
        analyte=draw(texts),
        code=draw(texts),
        value=draw(numbers),
        unit=draw(texts),
        observed_at=day(
            draw(st.integers(min_value=-5, max_value=5)), draw(st.sampled_from([0, 0.5]))
        ).astimezone(offset),
        status=draw(st.sampled_from(["F", "C", "P", "I", "X"])),
        result_key=ResultKey(draw(texts), draw(texts), draw(texts)),
        source_message_id=draw(texts),
        comparator=draw(texts),
        text=draw(texts),
        reference_low=draw(numbers),
        reference_high=draw(numbers),
        flags=tuple(draw(st.lists(texts, max_size=3))),
        unusable_reason=draw(texts),
    )


@settings(max_examples=150, deadline=None)
@given(observation=observations())
def test_observation_json_is_the_encoders_text_of_the_dict_form(observation: Observation) -> None:
    text = observation_json(observation)
    assert text == compact_json(observation_to_dict(observation))
    assert text == json.dumps(observation_to_dict(observation), ensure_ascii=False, separators=(",", ":"))
    assert observation_from_dict(json.loads(text)).result_key == observation.result_key


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_as_the_encoder_refuses_them(bad: float) -> None:
    observation = obs("platelets", bad, day(0))
    with pytest.raises(ValueError):
        observation_json(observation)
    with pytest.raises(ValueError):
        compact_json(observation_to_dict(observation))


def test_results_collected_together_share_one_time_and_equal_the_one_by_one_reading() -> None:
    items = [observation_to_dict(obs(name, 1.0, day(0))) for name in ("platelets", "mcv", "hemoglobin")]
    together, as_written = observations_from_dicts(items)
    assert as_written
    assert together == tuple(observation_from_dict(item) for item in items)
    assert together[0].observed_at is together[1].observed_at is together[2].observed_at


def test_equal_instants_in_other_zones_are_each_written_in_their_own_zone() -> None:
    # A time's text is written once for the results that share it: equal instants in other zones
    # compare (and hash) equal, and must still get their own text.
    moments = [day(0).astimezone(zone) for zone in (UTC, timezone(timedelta(hours=-5)), UTC, UTC)]
    assert moments[0] == moments[1] and moments[0] is not moments[2]
    for moment in moments:
        assert time_text(moment) == moment.isoformat()
        record = obs("platelets", 90.0, moment)
        assert observation_json(record) == compact_json(observation_to_dict(record))


def _reference(history: PatientHistory) -> str:
    return json.dumps(history.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(observations(floats), max_size=4), max_size=4))
def test_history_json_equals_the_encoder_as_the_history_grows_and_is_read_back(
    batches: list[list[Observation]],
) -> None:
    history = PatientHistory.empty(PATIENT)
    for batch in batches:
        history, _ = history.apply(batch)
        text = history.to_json()
        assert text == _reference(history)
        again = PatientHistory.from_dict(json.loads(text), [observation_json(o) for o in history.records])
        assert again == history
        assert again.to_json() == text
        grown, _ = again.apply(batch[:1])
        assert grown.to_json() == _reference(grown)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(observations(), min_size=1, max_size=4))
def test_records_read_back_as_other_types_are_written_anew(items: list[Observation]) -> None:
    history, _ = PatientHistory.empty(PATIENT).apply(items)
    text = history.to_json()
    again = PatientHistory.from_dict(json.loads(text), [observation_json(o) for o in history.records])
    assert again.to_json() == _reference(again)


def test_a_time_not_written_by_isoformat_is_written_anew() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply([obs("platelets", 90.0, day(0))])
    data = history.to_dict()
    texts = [observation_json(o) for o in history.records]
    data["records"][0]["observed_at"] = "2026-03-02 08:00"  # naive, read as UTC
    again = PatientHistory.from_dict(data, texts)
    assert again == history
    assert again.to_json() == _reference(history)


def test_pruning_keeps_the_json_of_the_records_it_keeps() -> None:
    items = [obs("platelets", 200.0 + n, day(n * 100)) for n in range(6)]
    items.append(obs("intrinsic_factor_ab", 1.0, day(1)))
    history, _ = PatientHistory.empty(PATIENT).apply(items)
    history.to_json()
    for at in (day(450), day(520), day(2000)):
        pruned = history.pruned(at, Retention())
        assert pruned.to_json() == _reference(pruned)


def test_texts_that_do_not_match_the_records_are_not_kept() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply(
        [obs("platelets", 90.0, day(0)), obs("mcv", 99.0, day(0))]
    )
    data = history.to_dict()
    wrong = PatientHistory.from_dict(data, ['{"analyte":"other"}'])
    assert wrong.to_json() == _reference(history)
    reversed_data = {**data, "records": list(reversed(data["records"]))}
    texts = [observation_json(o) for o in reversed(history.records)]
    assert PatientHistory.from_dict(reversed_data, texts).to_json() == _reference(history)
