"""Derived state: haemolysis, MAHA / HEMOLYTIC_TP, features, PLASMIC_LAB, A13_STATUS, R11 (a)/(b) coverage."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from b12stream.clinical.model import Observation
from b12stream.clinical.order_sets import OS_B12, OS_FILM, OS_HEMO
from b12stream.clinical.rules_config import OrderChoiceConfig
from b12stream.clinical.snapshot import Snapshot, derive
from tests.unit.clinical.clinical_builders import CONFIG, D0, day, history_of, obs, plt


def snap(*items: Observation, at: datetime | None = None, sex: str = "U") -> Snapshot:
    return derive(history_of(*items), at or max(item.observed_at for item in items), CONFIG, sex)


def maha_labs(t: datetime = D0, schistocytes: str | None = "Present") -> list[Observation]:
    labs = [plt(45, t), obs("hemoglobin", 80, t), obs("ldh", 900, t, high=250)]
    if schistocytes is not None:
        labs.append(obs("schistocytes", None, t, text=schistocytes))
    return labs


def test_maha_needs_tp_anaemia_schistocytes_and_a_marker() -> None:
    assert snap(*maha_labs()).maha.kind == "MAHA"
    no_marker = [item for item in maha_labs() if item.analyte != "ldh"]
    assert snap(*no_marker).maha.kind is None
    not_anaemic = [replace(item, value=140) if item.analyte == "hemoglobin" else item for item in maha_labs()]
    assert snap(*not_anaemic).maha.kind is None


@pytest.mark.parametrize(
    ("reading", "kind"),
    [
        ("3+", "MAHA"),
        ("Many", "MAHA"),
        ("POS", "MAHA"),
        ("Rare", "HEMOLYTIC_TP"),
        (None, "HEMOLYTIC_TP"),
        ("Negative", None),
    ],
)
def test_haemolytic_tp_needs_two_markers_and_no_or_equivocal_schistocytes(
    reading: str | None, kind: str | None
) -> None:
    labs = [*maha_labs(schistocytes=reading), obs("haptoglobin", 0.1, day(0), comparator="<")]
    assert snap(*labs).maha.kind == kind


def test_one_marker_without_schistocytes_is_not_haemolytic_tp() -> None:
    assert snap(*maha_labs(schistocytes=None)).maha.kind is None


def test_schistocyte_percentage_above_one_is_positive() -> None:
    base = maha_labs(schistocytes=None)
    assert snap(*base, obs("schistocytes", 1.5, day(0), unit="%")).maha.kind == "MAHA"
    assert snap(*base, obs("schistocytes", 1.0, day(0), unit="%")).maha.kind is None


def test_markers_outside_72_hours_do_not_count() -> None:
    labs = [plt(45, day(0)), obs("hemoglobin", 80, day(0)), obs("schistocytes", None, day(0), text="Present")]
    assert snap(*labs, obs("ldh", 900, day(-4), high=250), at=D0).maha.kind is None
    assert snap(*labs, obs("ldh", 900, day(-2), high=250), at=D0).maha.kind == "MAHA"


def test_total_bilirubin_stands_in_for_indirect_and_haptoglobin_below_lln_counts() -> None:
    base = [plt(45, day(0)), obs("hemoglobin", 80, day(0))]
    labs = [*base, obs("bilirubin_total", 40, day(0), high=21), obs("haptoglobin", 0.2, day(0), low=0.3)]
    picture = snap(*labs).maha.picture
    assert picture is not None and picture.markers == ("HAPT_LOW", "IBIL_HIGH")


def test_anaemia_uses_lab_range_then_sex_fallback() -> None:
    labs = [item for item in maha_labs() if item.analyte != "hemoglobin"]
    assert snap(*labs, obs("hemoglobin", 125, day(0))).maha.kind is None  # female/unknown fallback 120
    assert snap(*labs, obs("hemoglobin", 125, day(0)), sex="M").maha.kind == "MAHA"
    assert snap(*labs, obs("hemoglobin", 125, day(0), low=130)).maha.kind == "MAHA"


def test_features_and_plasmic_items() -> None:
    t = day(0)
    labs = [
        *maha_labs(),
        obs("mcv", 104, t),
        obs("reticulocytes_abs", 20, t, low=25),
        obs("neutrophils_abs", 1.2, t),
        obs("inr", 1.6, t),
    ]
    maha = snap(*labs).maha
    assert maha.features is not None and maha.plasmic is not None
    assert [name[:2] for name in maha.features.present] == ["F1", "F2", "F4", "F6"]
    assert maha.plasmic.met == ()
    assert maha.plasmic.not_met == ("platelets", "MCV", "INR")
    assert maha.plasmic.missing == ("haemolysis", "creatinine")
    assert maha.plasmic.text() == "PLASMIC lab 0/5; total 0..2 (not scored: haemolysis, creatinine)"
    assert not maha.plasmic.high_ttp_likelihood


def test_maha_outside_an_open_episode_is_not_assessed() -> None:
    assert snap(*maha_labs(), plt(200, day(1)), plt(210, day(2))).maha.kind is None


def a13(value: float | None, t: datetime, **kwargs: Any) -> Observation:
    return obs("adamts13_activity", value, t, **kwargs)


@pytest.mark.parametrize(
    ("value", "comparator", "status"),
    [
        (9.9, "", "SEVERE"),
        (10, "", "INDETERMINATE"),
        (20, "", "INDETERMINATE"),
        (21, "", "NOT_SEVERE"),
        (5, "<", "SEVERE"),
        (15, "<", "INDETERMINATE"),
        (20, ">", "NOT_SEVERE"),
    ],
)
def test_adamts13_classes(value: float, comparator: str, status: str) -> None:
    assert snap(*maha_labs(), a13(value, day(1), comparator=comparator)).a13.status == status


def test_severe_adamts13_stays_severe_for_the_episode() -> None:
    assert snap(*maha_labs(), a13(5, day(1)), a13(80, day(3))).a13.status == "SEVERE"


def test_adamts13_must_lie_within_7_days_of_the_maha_index() -> None:
    labs = [*maha_labs(), plt(60, day(9))]  # the day-9 count has no haemolysis work-up: index stays day 0
    assert snap(*labs, a13(70, day(6)), at=day(9)).a13.status == "NOT_SEVERE"
    assert snap(*labs, a13(70, day(8)), at=day(9)).a13.status == "UNKNOWN"
    repeated = [*labs, obs("hemoglobin", 80, day(9)), obs("ldh", 900, day(9), high=250)]
    repeated.append(obs("schistocytes", None, day(9), text="Present"))
    assert snap(*repeated, a13(70, day(8)), at=day(9)).a13.status == "NOT_SEVERE"


# An episode closed on day 2 (two normal counts 24 h apart); the next one opens on day 4.
CLOSED_ON_DAY_2 = [plt(20, day(0)), plt(200, day(1)), plt(210, day(2))]


def test_an_adamts13_of_the_previous_episode_is_not_valid_in_the_next_one() -> None:
    assert snap(*CLOSED_ON_DAY_2, a13(5, day(0, 1)), plt(120, day(4))).a13.status == "UNKNOWN"
    # Collected with the closing count: still the closed episode's.
    assert snap(*CLOSED_ON_DAY_2, a13(5, day(2)), plt(120, day(4))).a13.status == "UNKNOWN"


def test_an_adamts13_drawn_between_two_episodes_belongs_to_the_next_one() -> None:
    assert snap(*CLOSED_ON_DAY_2, a13(5, day(3)), plt(120, day(4))).a13.status == "SEVERE"


def test_adamts13_below_lab_range_is_annotated() -> None:
    assessment = snap(*maha_labs(), a13(45, day(1), low=60)).a13
    assert assessment.status == "NOT_SEVERE" and assessment.below_lln


def test_adamts13_pending_and_unknown() -> None:
    assert snap(*maha_labs(), a13(None, day(0), status="I")).a13.status == "PENDING"
    assert snap(*maha_labs(), a13(None, day(0), status="P")).a13.status == "PENDING"
    assert snap(*maha_labs()).a13.status == "UNKNOWN"
    stale = [plt(45, day(-20)), a13(None, day(-20), status="I"), plt(50, day(0))]
    assert snap(*stale).a13.status == "UNKNOWN"


def codes(snapshot: Snapshot, order_set: str) -> list[str]:
    return [order.loinc for order in snapshot.coverage.suggest(order_set)]


def test_hemolysis_set_is_covered_per_component() -> None:
    t = day(0)
    labs = [plt(45, t), obs("bilirubin_total", 10, t), obs("reticulocytes_pct", 1.0, t)]
    assert codes(snap(*labs), OS_HEMO) == ["2532-0", "4542-7"]


def test_film_is_covered_by_any_morphology_result_within_72_hours() -> None:
    assert (
        codes(
            snap(plt(45, day(0)), obs("hypersegmented_neutrophils", None, day(-2), text="Present")), OS_FILM
        )
        == []
    )
    assert codes(snap(plt(45, day(0)), obs("schistocytes", None, day(-4), text="Present")), OS_FILM) == [
        "18314-5"
    ]


def test_pending_window_and_provisional_results_cover() -> None:
    assert codes(snap(plt(45, day(0)), obs("b12_total", None, day(-6), status="O")), OS_B12) == []
    assert codes(snap(plt(45, day(0)), obs("b12_total", None, day(-8), status="O")), OS_B12) == ["2132-9"]
    assert codes(snap(plt(45, day(0)), obs("b12_active", 30, day(-1), status="P")), OS_B12) == []


def test_site_choice_of_b12_code() -> None:
    config = replace(CONFIG, orders=OrderChoiceConfig(b12_loinc="72160-5"))
    orders = derive(history_of(plt(45, day(0))), day(0), config).coverage.suggest(OS_B12)
    assert [(order.loinc, order.analyte) for order in orders] == [("72160-5", "b12_active")]
