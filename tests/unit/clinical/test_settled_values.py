"""Values settled for earlier times survive growth only while they cannot change: findings are the same
as on a history built afresh from the same records."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.evaluate import evaluate
from b12stream.clinical.history import PatientHistory, Retention
from b12stream.clinical.model import Observation
from tests.unit.clinical.clinical_builders import CONFIG, PATIENT, day, obs, plt

ANALYTES = ("platelets", "b12_total", "adamts13_activity", "ldh", "schistocytes", "hemoglobin")


@st.composite
def results(draw: st.DrawFn) -> Observation:
    analyte = draw(st.sampled_from(ANALYTES))
    value = {
        "platelets": draw(st.sampled_from([20.0, 60.0, 120.0, 200.0, 250.0])),
        "b12_total": draw(st.sampled_from([90.0, 150.0, 250.0, 500.0])),
        "adamts13_activity": draw(st.sampled_from([5.0, 40.0, 80.0])),
        "ldh": draw(st.sampled_from([200.0, 900.0])),
        "schistocytes": None,
        "hemoglobin": draw(st.sampled_from([70.0, 130.0])),
    }[analyte]
    return obs(
        analyte,
        value,
        day(draw(st.integers(min_value=0, max_value=12)), draw(st.sampled_from([0, 6]))),
        status=draw(st.sampled_from(["F", "F", "F", "C", "P", "X", "D"])),
        text="Present" if analyte == "schistocytes" else "",
        high=250.0 if analyte == "ldh" else None,
        filler=f"ORD{draw(st.integers(min_value=0, max_value=15))}",
    )


def _afresh(history: PatientHistory) -> PatientHistory:
    return PatientHistory(history.patient, history.records)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(results(), min_size=1, max_size=4), min_size=1, max_size=6))
def test_growing_history_gives_the_findings_of_a_fresh_one(batches: list[list[Observation]]) -> None:
    history = PatientHistory.empty(PATIENT)
    for batch in batches:
        history, change = history.apply(batch)
        for moment in sorted({item.observed_at for item in change.added}):
            assert evaluate(history, moment, CONFIG) == evaluate(_afresh(history), moment, CONFIG)


def test_a_daily_episode_with_low_b12_is_judged_alike_grown_or_fresh() -> None:
    history = PatientHistory.empty(PATIENT)
    for n in range(12):
        items = [plt((40.0, 60.0, 90.0, 160.0)[n % 4], day(n), filler=f"P{n}")]
        if n == 2:
            items.append(obs("b12_total", 90.0, day(n), filler="B12"))
        if n == 7:  # a late correction of the B12 result reshapes the history
            items.append(replace(obs("b12_total", 300.0, day(2), filler="B12"), status="C"))
        history, _ = history.apply(items)
        assert evaluate(history, day(n), CONFIG) == evaluate(_afresh(history), day(n), CONFIG)
        pruned = history.pruned(day(n + 405), Retention())
        assert evaluate(pruned, day(n), CONFIG) == evaluate(_afresh(pruned), day(n), CONFIG)


def test_a_result_collected_at_an_already_judged_time_is_judged_again() -> None:
    steps = [
        [plt(60.0, day(0), filler="P0"), obs("b12_total", 500.0, day(1), filler="B1")],
        [plt(50.0, day(2), filler="P2")],  # judged at day 2: B12 normal, no identification
        [obs("b12_total", 90.0, day(2), filler="B2"), plt(55.0, day(3), filler="P3")],  # low B12 from day 2
        [plt(200.0, day(5), filler="P5")],  # recovery, counted from the identification
    ]
    history = PatientHistory.empty(PATIENT)
    for items in steps:
        history, change = history.apply(items)
        for moment in sorted({item.observed_at for item in change.added}):
            assert evaluate(history, moment, CONFIG) == evaluate(_afresh(history), moment, CONFIG)
    assert any(finding.rule == "PLATELET-RECOVERY" for finding in evaluate(history, day(5), CONFIG))


def test_settled_values_are_kept_only_before_the_first_added_record() -> None:
    history, _ = PatientHistory.empty(PATIENT).apply(
        [plt(60.0, day(0), filler="A"), plt(70.0, day(2), filler="B")]
    )
    calls: list[str] = []

    def make(name: str) -> str:
        calls.append(name)
        return name

    history.settled(day(0), "k", lambda: make("day0"))
    history.settled(day(2), "k", lambda: make("day2"))
    assert history.settled(day(0), "k", lambda: make("again")) == "day0"
    later, _ = history.apply([plt(80.0, day(2), filler="C")])  # same time as the day-2 value
    assert later.settled(day(0), "k", lambda: make("x")) == "day0"
    assert later.settled(day(2), "k", lambda: make("day2 anew")) == "day2 anew"
    earlier, _ = later.apply([plt(90.0, day(1), filler="D")])  # arrives late, collected before day 2
    assert earlier.settled(day(0), "k", lambda: make("y")) == "day0"
    corrected, _ = earlier.apply([replace(plt(65.0, day(0), filler="A"), status="C")])
    assert corrected.settled(day(0), "k", lambda: make("day0 anew")) == "day0 anew"
    assert calls == ["day0", "day2", "day2 anew", "day0 anew"]
