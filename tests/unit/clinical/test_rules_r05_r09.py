"""R05–R09 one by one: branches, severities, suppression between rules, and the reasons not to fire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from b12stream.clinical.model import Finding, Observation, Severity
from b12stream.clinical.rules.common import R02, R04, R05, R06, R07, R08, R09
from tests.unit.clinical.clinical_builders import D0, by_rule, day, loincs, obs, plt, run


def maha(t: datetime = D0, count: float = 60) -> list[Observation]:
    return [
        plt(count, t),
        obs("hemoglobin", 80, t),
        obs("ldh", 900, t, high=250),
        obs("schistocytes", None, t, text="Present"),
    ]


def a13(value: float | None, t: datetime, **kwargs: Any) -> Observation:
    return obs("adamts13_activity", value, t, **kwargs)


def test_r05_branch_a_text_and_orders() -> None:
    (found,) = run([*maha(), a13(45, day(1), low=60)], day(1))
    assert (found.rule, found.branch, found.severity) == (R05, "a", Severity.HIGH)
    assert "may be falsely normal (E25)" in found.detail
    assert "below the lab reference range" in found.detail
    assert "PLASMIC lab" in found.detail and "pseudo-TMA features" in found.detail
    assert loincs(found) == ["2132-9", "13964-2", "13965-9", "2284-8"]


def test_r05_branch_a_covers_indeterminate_b12() -> None:
    found = by_rule(run([obs("b12_total", 250, day(0)), *maha(), a13(45, day(1))], day(1)))
    assert found[R05].branch == "a"
    assert loincs(found[R05]) == ["13964-2", "13965-9", "2284-8"]


def test_r05_haemolytic_tp_is_labelled() -> None:
    labs = [plt(60, day(0)), obs("hemoglobin", 80, day(0)), obs("ldh", 900, day(0), high=250)]
    labs.append(obs("haptoglobin", 0.1, day(0), comparator="<"))
    (found,) = run([*labs, a13(70, day(1))], day(1))
    assert "without schistocyte confirmation" in found.detail
    assert found.category[3] == "maha:on"


def test_r05_branch_c_suggests_mma_only_with_macrocytosis_or_hypersegmentation() -> None:
    base = [obs("b12_total", 500, day(-1)), *maha(), a13(80, day(1))]
    (plain,) = run(base, day(1))
    assert (plain.branch, plain.severity, loincs(plain)) == ("c", Severity.INFO, [])
    (macrocytic,) = run([*base, obs("mcv", 105, day(0))], day(1))
    assert loincs(macrocytic) == ["13964-2"]


def test_r05_needs_maha_and_non_severe_adamts13() -> None:
    assert R05 not in by_rule(run([plt(60, day(0)), a13(80, day(1))], day(1)))
    assert R05 not in by_rule(run([*maha(), a13(15, day(1))], day(1)))


def test_r06_severe_suppresses_r05_and_r07_and_suggests_inhibitor() -> None:
    found = by_rule(run([*maha(), a13(5, day(1))], day(1)))
    assert set(found) == {R06}
    assert loincs(found[R06]) == ["40824-5"]
    later = by_rule(run([*maha(), a13(5, day(1)), a13(60, day(3))], day(3)))
    assert set(later) == {R06}
    pending = run([*maha(), a13(5, day(1)), obs("adamts13_inhibitor", None, day(1), status="I")], day(1))
    assert loincs(pending[0]) == []


def test_r06_fires_without_maha_and_not_outside_an_episode() -> None:
    (found,) = run([plt(20, day(0)), a13(3, day(0))], day(0))[-1:]
    assert (found.rule, found.severity) == (R06, Severity.CRITICAL)
    assert run([plt(200, day(0)), a13(3, day(0))], day(0)) == ()


def test_r07_critical_needs_all_four_plasmic_items() -> None:
    t = day(0)
    labs = [*maha(t, count=20), obs("mcv", 85, t), obs("inr", 1.2, t), obs("creatinine", 80, t)]
    assert by_rule(run(labs, t))[R07].severity is Severity.CRITICAL
    assert by_rule(run(labs[:-1], t))[R07].severity is Severity.HIGH


def test_r07_orders_follow_b12_and_feature_count() -> None:
    t = day(0)
    (found,) = run(maha(t), t)
    assert loincs(found) == ["53622-7", "2132-9", "4542-7", "1971-1", "60474-4"]
    assert "suggestive of B12" not in found.detail
    featured = [*maha(t), obs("mcv", 110, t), obs("reticulocytes_pct", 1.0, t)]
    (found,) = run(featured, t)
    assert "13964-2" in loincs(found) and "13965-9" in loincs(found)
    assert "Features atypical for TTP and strongly suggestive" in found.detail
    (two,) = run([*maha(t, count=20), obs("mcv", 110, t), obs("reticulocytes_pct", 1.0, t)], t)
    assert "Features atypical for TTP and suggestive" in two.detail
    deficient = by_rule(run([*featured, obs("b12_total", 100, t)], t))
    assert "13964-2" not in loincs(deficient[R07]) and "2132-9" not in loincs(deficient[R07])
    assert "B12 deficiency present" in deficient[R07].detail
    assert R02 not in deficient and R04 in deficient


def test_r08_severity_by_band_and_thrombocytopenia_window() -> None:
    def hcy(value: float, at: datetime = D0) -> tuple[Finding, ...]:
        return run([plt(120, day(-10)), obs("homocysteine", value, at)], day(0))

    assert by_rule(hcy(20))[R08].severity is Severity.INFO
    assert by_rule(hcy(48))[R08].severity is Severity.MEDIUM
    assert by_rule(hcy(120))[R08].severity is Severity.HIGH
    assert R08 not in by_rule(hcy(15))
    assert R08 not in by_rule(run([plt(120, day(-15)), obs("homocysteine", 48, day(0))], day(0)))
    assert R08 not in by_rule(run([plt(120, day(0)), obs("homocysteine", 48, day(-91))], day(0)))


def test_r08_fires_on_a_value_censored_above_normal_at_the_least_severity_it_can_have() -> None:
    def hcy(value: float, comparator: str):
        return by_rule(
            run([plt(120, day(-10)), obs("homocysteine", value, day(0), comparator=comparator)], day(0))
        )

    above_50 = hcy(50, ">")[R08]
    assert above_50.severity is Severity.MEDIUM
    assert ">50" in above_50.summary
    assert hcy(15, ">")[R08].severity is Severity.INFO
    assert hcy(100, ">")[R08].severity is Severity.HIGH
    assert R08 not in hcy(15, ">=")  # 15 itself is normal
    assert R08 not in hcy(50, "<")


def test_r08_suggests_b12_when_unknown_and_folate_unless_covered() -> None:
    found = by_rule(
        run([plt(120, day(0)), obs("homocysteine", 48, day(0)), obs("folate", 20, day(-5))], day(0))
    )
    assert loincs(found[R08]) == ["2132-9"]


def s6() -> list[Observation]:
    return [obs("b12_total", 120, day(0)), plt(60, day(0))]


def test_r09_worsening_after_r02() -> None:
    found = by_rule(run([*s6(), plt(40, day(3))], day(3)))
    assert (found[R09].branch, found[R09].severity) == ("worsening", Severity.HIGH)
    assert R02 in found


def test_r09_needs_a_count_after_identification() -> None:
    assert R09 not in by_rule(run(s6(), day(0)))
    assert R09 not in by_rule(run([plt(60, day(0)), plt(100, day(3))], day(3)))


def test_r09_non_response_does_not_suggest_film_after_a_recent_film() -> None:
    history = [*s6(), obs("schistocytes", None, day(10), text="Negative"), plt(58, day(16))]
    found = by_rule(run(history, day(16)))
    assert found[R09].branch == "not-resolving" and loincs(found[R09]) == []
    assert R09 not in by_rule(run([*s6(), plt(58, day(10))], day(10)))


def test_r09_after_pseudo_tma_branch_b() -> None:
    history = [obs("b12_total", 120, day(0)), *maha(), a13(70, day(1)), plt(200, day(6))]
    found = by_rule(run(history, day(6)))
    assert (found[R09].branch, found[R09].severity) == ("normalised", Severity.INFO)
    assert "5 d after deficiency identified" in found[R09].detail
    assert R04 not in found


def test_r09_rests_on_what_the_r02_that_identified_the_deficiency_held_on_without_reporting_it() -> None:
    b12, identifying, nadir_then_improving = obs("b12_total", 120, day(0)), plt(60, day(0)), plt(110, day(7))
    found = by_rule(run([b12, identifying, nadir_then_improving], day(7)))
    assert found[R09].branch == "improving"
    assert found[R09].scope == (b12, identifying)
    assert found[R09].evidence == (identifying, nadir_then_improving)  # the nadir and the count


def test_r09_after_pseudo_tma_branch_b_rests_on_its_adamts13() -> None:
    activity = a13(70, day(1))
    history = [obs("b12_total", 120, day(0)), *maha(), activity, plt(200, day(6))]
    assert activity in by_rule(run(history, day(6)))[R09].scope
