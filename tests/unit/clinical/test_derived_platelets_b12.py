"""Derived state: platelet grade and episodes, B12_STATUS (censoring, stickiness, MMA), homocysteine band."""

from __future__ import annotations

from datetime import datetime

import pytest

from b12stream.clinical.b12_status import assess_b12, classify_b12
from b12stream.clinical.episodes import episode_id, episodes, grade
from b12stream.clinical.homocysteine import hcy_band
from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.snapshot import derive
from b12stream.clinical.view import HistoryView
from tests.unit.clinical.clinical_builders import CONFIG, PATIENT, day, history_of, obs, plt


def view_of(*items: Observation, at: datetime | None = None) -> HistoryView:
    return HistoryView.of(history_of(*items), at or max(item.observed_at for item in items))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(150, "G0"), (149, "G1"), (75, "G1"), (74.9, "G2"), (50, "G2"), (49, "G3"), (25, "G3"), (24, "G4")],
)
def test_ctcae_grade(value: float, expected: str) -> None:
    assert grade(plt(value, day(0)), CONFIG) == expected


def test_lab_lower_limit_overrides_the_fallback() -> None:
    assert grade(plt(145, day(0), low=140), CONFIG) == "G0"
    assert grade(plt(145, day(0), low=160), CONFIG) == "G1"


def test_flag_only_count_is_thrombocytopenic_without_grade() -> None:
    count = plt(None, day(0), unit="bad", flags=["L"])
    assert grade(count, CONFIG) is None
    assert derive(history_of(count), day(0), CONFIG).episode is not None


def test_episode_opens_at_first_thrombocytopenic_count_with_deterministic_id() -> None:
    found = episodes(view_of(plt(200, day(-1)), plt(90, day(0)), plt(80, day(1))), CONFIG)
    assert len(found) == 1 and found[0].is_open
    assert found[0].opened_at == day(0)
    assert found[0].id == episode_id(PATIENT, day(0))
    assert found[0].id != episode_id(PatientKey("other", "HOSP"), day(0))
    assert "MRN" not in found[0].id


def test_episode_closes_after_two_normal_counts_24_hours_apart() -> None:
    close_together = episodes(view_of(plt(90, day(0)), plt(160, day(1)), plt(170, day(1, 2))), CONFIG)
    assert close_together[-1].is_open
    closed = episodes(view_of(plt(90, day(0)), plt(160, day(1)), plt(170, day(2))), CONFIG)
    assert closed[-1].closed_at == day(2)


def test_normal_run_is_reset_by_a_thrombocytopenic_count() -> None:
    found = episodes(view_of(plt(90, day(0)), plt(160, day(1)), plt(120, day(2)), plt(170, day(3))), CONFIG)
    assert found[-1].is_open


def test_episode_closes_after_90_days_without_thrombocytopenia_and_a_new_one_opens() -> None:
    found = episodes(view_of(plt(90, day(0)), plt(95, day(100))), CONFIG)
    assert [item.opened_at for item in found] == [day(0), day(100)]
    assert found[0].closed_at == day(90)
    assert found[1].is_open
    stale = episodes(HistoryView.of(history_of(plt(90, day(0))), day(91)), CONFIG)
    assert not stale[-1].is_open


def test_a_count_without_a_usable_value_after_the_idle_limit_stays_out_of_the_closed_episode() -> None:
    """An episode's results end at its close: a later count must not be carried into it (it decides
    whose alerts move to a rebuilt episode after a correction)."""
    found = episodes(view_of(plt(90, day(0)), plt(None, day(120), unit="bad")), CONFIG)
    assert [(item.closed_at, [result.observed_at for result in item.results]) for item in found] == [
        (day(90), [day(0)])
    ]


def test_plasma_platelet_codes_are_stored_but_not_used() -> None:
    snapshot = derive(history_of(plt(20, day(0), code="13056-7")), day(0), CONFIG)
    assert snapshot.platelet is None and snapshot.episode is None


@pytest.mark.parametrize(
    ("analyte", "value", "comparator", "expected", "censored"),
    [
        ("b12_total", 179, "", "DEFICIENT", False),
        ("b12_total", 180, "", "INDETERMINATE", False),
        ("b12_total", 350, "", "INDETERMINATE", False),
        ("b12_total", 351, "", "UNLIKELY", False),
        ("b12_total", 50, "<", "DEFICIENT", True),
        ("b12_total", 180, "<", "DEFICIENT", True),
        ("b12_total", 180, "<=", "INDETERMINATE", True),
        ("b12_total", 200, "<", "INDETERMINATE", True),
        ("b12_total", 350, ">", "UNLIKELY", True),
        ("b12_total", 200, ">", "INDETERMINATE", True),
        ("b12_active", 24, "", "DEFICIENT", False),
        ("b12_active", 25, "", "INDETERMINATE", False),
        ("b12_active", 70, "", "INDETERMINATE", False),
        ("b12_active", 71, "", "UNLIKELY", False),
    ],
)
def test_b12_classes_and_censoring(
    analyte: str, value: float, comparator: str, expected: str, censored: bool
) -> None:
    found = classify_b12(obs(analyte, value, day(0), comparator=comparator), CONFIG)
    assert found is not None and (found.status, found.censored) == (expected, censored)


def test_b12_without_usable_value_is_unclassified() -> None:
    assert classify_b12(obs("b12_total", None, day(0), flags=["L"]), CONFIG) is None


def test_more_deficient_of_total_and_active_wins() -> None:
    view = view_of(obs("b12_total", 400, day(0)), obs("b12_active", 40, day(0)))
    assessment = assess_b12(view, CONFIG)
    assert assessment.status == "INDETERMINATE"
    assert [item.analyte for item in assessment.deciding] == ["b12_active"]


def test_deficiency_is_sticky_for_365_days() -> None:
    sticky = view_of(obs("b12_total", 120, day(-200)), obs("b12_total", 600, day(-10)), at=day(0))
    assert assess_b12(sticky, CONFIG).status == "DEFICIENT"
    expired = view_of(obs("b12_total", 120, day(-366)), at=day(0))
    assert assess_b12(expired, CONFIG).status == "UNKNOWN"


def test_non_deficient_classes_are_valid_90_days() -> None:
    assert assess_b12(view_of(obs("b12_total", 250, day(-89)), at=day(0)), CONFIG).status == "INDETERMINATE"
    assert assess_b12(view_of(obs("b12_total", 250, day(-91)), at=day(0)), CONFIG).status == "UNKNOWN"


def test_results_collected_after_the_evaluation_time_are_not_seen() -> None:
    assert assess_b12(view_of(obs("b12_total", 120, day(1)), at=day(0)), CONFIG).status == "UNKNOWN"


@pytest.mark.parametrize(
    ("mma", "expected"),
    [
        (obs("mma", 450, day(1)), "FUNCTIONAL_DEFICIENCY"),
        (obs("mma", 450, day(1), high=500), "INDETERMINATE"),
        (obs("mma", 390, day(1)), "INDETERMINATE"),
        (obs("mma", None, day(1), unit="odd", flags=["H"]), "FUNCTIONAL_DEFICIENCY"),
        (obs("mma", 1000, day(1), comparator=">"), "FUNCTIONAL_DEFICIENCY"),
    ],
)
def test_functional_deficiency_is_indeterminate_plus_mma_above_uln(mma: Observation, expected: str) -> None:
    assert assess_b12(view_of(obs("b12_total", 250, day(0)), mma), CONFIG).status == expected


def test_renal_annotation_needs_creatinine_above_uln_within_7_days() -> None:
    recent = view_of(obs("b12_total", 250, day(0)), obs("creatinine", 150, day(-6), high=110), at=day(0))
    assert assess_b12(recent, CONFIG).renal
    old = view_of(obs("b12_total", 250, day(0)), obs("creatinine", 150, day(-8), high=110), at=day(0))
    assert not assess_b12(old, CONFIG).renal


@pytest.mark.parametrize(
    ("value", "comparator", "band"),
    [
        (15, "", "normal"),
        (15.1, "", "moderate"),
        (30, "", "moderate"),
        (30.5, "", "intermediate"),
        (100, "", "intermediate"),
        (101, "", "severe"),
        (100, ">", "severe"),
        (5, "<", "normal"),
        (50, "<", None),
        (15, "<=", "normal"),
        (10, "<=", "normal"),
        (30, "<", None),
        (50, ">", "intermediate"),
        (50, ">=", "intermediate"),
        (30, ">", "intermediate"),
        (30, ">=", "moderate"),
        (20, ">", "moderate"),
        (15, ">", "moderate"),
        (100, ">=", "intermediate"),
        (150, ">=", "severe"),
        (15, ">=", None),
        (10, ">", None),
    ],
)
def test_homocysteine_bands(value: float, comparator: str, band: str | None) -> None:
    assert hcy_band(obs("homocysteine", value, day(0), comparator=comparator), CONFIG) == band
