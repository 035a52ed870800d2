"""Properties of evaluate(): total over arbitrary histories, independent of arrival order; triggers."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.episodes import Episode, current_episode
from b12stream.clinical.evaluate import SECONDARY_TRIGGER_ANALYTES, evaluate, trigger_times
from b12stream.clinical.history import CANCELLED_STATUSES, PatientHistory, is_evidence
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView
from tests.unit.clinical.clinical_builders import CONFIG, DEFAULTS, PATIENT, day, history_of, obs, plt

STATUSES = ["F", "C", "U", "P", "S", "R", "I", "O", "X", "D", "W", "N", ""]
TEXTS = ["", "Present", "Rare", "Negative", "POS", "2+", "undetectable", "???"]
FLAGS = ["", "L", "LL", "H", "HH", "N", "A", "POS", "NEG"]

values = st.one_of(
    st.none(),
    st.floats(min_value=-10, max_value=20000, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 10.0, 25.0, 50.0, 100.0, 150.0, 180.0, 350.0]),
)


@st.composite
def observations(draw: st.DrawFn, index: int) -> Observation:
    analyte = draw(st.sampled_from(sorted(DEFAULTS)))
    code = draw(st.sampled_from([DEFAULTS[analyte][0], "13056-7", "LOCAL1"]))
    low = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=500)))
    high = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=5000)))
    flag = draw(st.sampled_from(FLAGS))
    return obs(
        analyte,
        draw(values),
        day(draw(st.integers(min_value=-60, max_value=60)), draw(st.sampled_from([0, 6, 23]))),
        status=draw(st.sampled_from(STATUSES)),
        code=code,
        comparator=draw(st.sampled_from(["", "", "<", ">", "<=", ">="])),
        text=draw(st.sampled_from(TEXTS)),
        low=low,
        high=high,
        flags=[flag] if flag else [],
        filler=f"ORD{index}",
    )


@st.composite
def histories(draw: st.DrawFn) -> list[Observation]:
    size = draw(st.integers(min_value=0, max_value=25))
    return [draw(observations(index)) for index in range(size)]


@settings(max_examples=60, deadline=None)
@given(items=histories(), at_day=st.integers(min_value=-60, max_value=70), secondary=st.booleans())
def test_evaluate_never_raises_and_findings_are_well_formed(
    items: list[Observation], at_day: int, secondary: bool
) -> None:
    config = replace(CONFIG, secondary_triggers=secondary)
    history, change = PatientHistory.empty(PATIENT).apply(items)
    trigger_times(change.added, history, config)
    for finding in evaluate(history, day(at_day), config):
        assert len(finding.summary) < 140
        assert finding.observed_at == day(at_day)
        assert all(item.observed_at <= day(at_day) for item in finding.evidence)
        assert all(order.priority in ("routine", "stat") for order in finding.suggested_orders)


@settings(max_examples=40, deadline=None)
@given(
    items=histories(), seed=st.randoms(use_true_random=False), at_day=st.integers(min_value=-10, max_value=70)
)
def test_arrival_order_and_batching_do_not_change_findings(
    items: list[Observation], seed: random.Random, at_day: int
) -> None:
    shuffled = list(items)
    seed.shuffle(shuffled)
    one_batch, _ = PatientHistory.empty(PATIENT).apply(items)
    one_by_one = PatientHistory.empty(PATIENT)
    for item in shuffled:
        one_by_one, _ = one_by_one.apply([item])
    assert one_by_one == one_batch
    assert evaluate(one_by_one, day(at_day), CONFIG) == evaluate(one_batch, day(at_day), CONFIG)


@settings(max_examples=40, deadline=None)
@given(items=histories())
def test_storage_round_trip_for_arbitrary_histories(items: list[Observation]) -> None:
    history, _ = PatientHistory.empty(PATIENT).apply(items)
    assert PatientHistory.from_dict(json.loads(json.dumps(history.to_dict()))) == history


def _times_one_by_one(
    added: list[Observation], history: PatientHistory, config: RulesConfig
) -> tuple[datetime, ...]:
    """Spec 2.2 read literally: each added result on its own, asking for the open episode each time."""

    def open_episode(moment: datetime) -> Episode | None:
        return current_episode(HistoryView.of(history, moment), config)

    counts = [
        item.observed_at
        for item in history.records
        if item.analyte == "platelets"
        and is_evidence(item)
        and item.code not in config.platelets.non_trigger_codes
    ]
    found: set[datetime] = set()
    for item in added:
        if item.status in CANCELLED_STATUSES:
            # An order cancelled before the latest count of an open episode: owed that count's
            # evaluation again, as had it arrived before it (R10/R11).
            if counts and max(counts) > item.observed_at and open_episode(max(counts)):
                found.add(max(counts))
            continue
        if not is_evidence(item):
            continue
        count = item.analyte == "platelets" and item.code not in config.platelets.non_trigger_codes
        a13 = item.analyte == "adamts13_activity"
        secondary = config.secondary_triggers and item.analyte in SECONDARY_TRIGGER_ANALYTES
        if count or a13 or (secondary and open_episode(item.observed_at)):
            found.add(item.observed_at)
        if count or not (a13 or secondary) or open_episode(item.observed_at) or not counts:
            continue
        # Collected before the episode open at the latest count: evaluated there too.
        latest = max(counts)
        episode = open_episode(latest)
        window = timedelta(days=config.adamts13.maha_validity_days)
        if (
            latest > item.observed_at
            and episode is not None
            and (not a13 or item.observed_at >= episode.opened_at - window)
        ):
            found.add(latest)
    return tuple(sorted(found))


@settings(max_examples=60, deadline=None)
@given(items=histories(), later=histories(), secondary=st.booleans())
def test_triggers_asked_once_per_collection_time_equal_the_one_by_one_answer(
    items: list[Observation], later: list[Observation], secondary: bool
) -> None:
    config = replace(CONFIG, secondary_triggers=secondary)
    history, _ = PatientHistory.empty(PATIENT).apply(items)
    grown, change = history.apply([replace(item, source_message_id="LATER") for item in later])
    expected = _times_one_by_one(list(change.added), grown, config)
    assert trigger_times(change.added, grown, config) == expected


def test_primary_triggers_are_final_blood_platelets_and_adamts13() -> None:
    items = [
        plt(80, day(0), filler="A"),
        plt(80, day(1), status="P", filler="B"),
        plt(80, day(2), code="13056-7", filler="C"),
        obs("adamts13_activity", 70, day(3)),
        obs("adamts13_activity", None, day(4), status="I", filler="D"),
    ]
    history = history_of(*items)
    assert trigger_times(items, history, CONFIG) == (day(0), day(3))


def test_secondary_triggers_only_in_an_open_episode_and_when_enabled() -> None:
    b12 = obs("b12_total", 250, day(1))
    folate = obs("folate", 5, day(1, 1))
    with_episode = history_of(plt(80, day(0)), b12, folate)
    assert trigger_times([b12, folate], with_episode, CONFIG) == (day(1),)
    assert trigger_times([b12], history_of(plt(200, day(0)), b12), CONFIG) == ()
    primary_only = RulesConfig(secondary_triggers=False)
    assert trigger_times([b12], with_episode, primary_only) == ()


def test_corrected_platelet_count_is_a_primary_trigger() -> None:
    corrected = plt(240, day(0), status="C")
    assert trigger_times([corrected], history_of(corrected), CONFIG) == (day(0),)


def test_sex_selects_the_anaemia_fallback() -> None:
    t = day(0)
    labs = [
        plt(60, t),
        obs("hemoglobin", 125, t),
        obs("ldh", 900, t, high=250),
        obs("schistocytes", None, t, text="POS"),
    ]
    history = history_of(*labs)
    assert [f.rule for f in evaluate(history, t, CONFIG)] == ["B12-UNKNOWN-THROMBOCYTOPENIA"]
    assert [f.rule for f in evaluate(history, t, CONFIG, sex="M")] == ["MAHA-ADAMTS13-PENDING"]
