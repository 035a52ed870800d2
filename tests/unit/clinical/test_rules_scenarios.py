"""The spec's scenarios S1–S19 at the evaluate() level: rules, severities, branches and suggested orders.

Expectations that are engine behaviour (R11 c 'previously suggested', de-duplication, retraction)
are checked elsewhere; here each evaluation says what is true at its time.
"""

from __future__ import annotations

from b12stream.clinical.model import Observation, Severity
from b12stream.clinical.rules.common import R01, R02, R03, R04, R05, R06, R07, R08, R09
from tests.unit.clinical.clinical_builders import by_rule, day, loincs, obs, plt, run

HAPT_UNDETECTABLE = {"comparator": "<"}


def s7_d0(mcv: float = 112, adamts13_order: bool = True) -> list[Observation]:
    t = day(0, 2)
    labs = [
        plt(45, t),
        obs("hemoglobin", 62, t),
        obs("mcv", mcv, t),
        obs("ldh", 4200, t, high=250),
        obs("haptoglobin", 0.1, t, comparator="<"),
        obs("reticulocytes_pct", 1.1, t),
        obs("schistocytes", None, t, text="Present"),
        obs("hypersegmented_neutrophils", None, t, text="Present"),
        obs("inr", 1.1, t),
        obs("creatinine", 88.4, t),
    ]
    if adamts13_order:
        labs.append(obs("adamts13_activity", None, t, status="I"))
    return labs


def s6_d0() -> list[Observation]:
    return [obs("b12_total", 90 * 1.355, day(0), code="14685-2"), plt(60, day(0))]


def test_s1_normal_platelets_give_nothing() -> None:
    assert run([plt(245, day(0))], day(0)) == ()


def test_s2_isolated_thrombocytopenia_unknown_b12() -> None:
    found = run([plt(82, day(0)), obs("hemoglobin", 138, day(0))], day(0))
    assert [f.rule for f in found] == [R01]
    assert found[0].severity is Severity.MEDIUM
    assert loincs(found[0]) == ["2132-9", "2284-8", "18314-5"]


def test_s3_recent_normal_b12_gives_nothing() -> None:
    assert run([obs("b12_total", 420, day(-30)), plt(85, day(0))], day(0)) == ()


def test_s4_persistence_gate() -> None:
    first = plt(140, day(0), code="26515-7")
    assert run([first], day(0)) == ()
    found = run([first, plt(138, day(7), code="26515-7")], day(7))
    assert [f.rule for f in found] == [R01]
    assert found[0].severity is Severity.INFO
    assert loincs(found[0]) == ["2132-9", "2284-8", "18314-5"]


def test_s5_indeterminate_then_functional_deficiency() -> None:
    d0 = [plt(95, day(0)), obs("b12_total", 250, day(0))]
    found = by_rule(run(d0, day(0)))
    assert set(found) == {R03}
    assert found[R03].severity is Severity.MEDIUM
    assert loincs(found[R03]) == ["13964-2", "13965-9"]
    d5 = [*d0, obs("mma", 620, day(5), flags=["H"]), obs("creatinine", 0.9 * 88.4, day(5))]
    found = by_rule(run(d5, day(5)))
    assert set(found) == {R02}
    assert found[R02].severity is Severity.INFO
    assert found[R02].bundled == (R04,)
    assert loincs(found[R02]) == ["18314-5", "2532-0", "4542-7", "1971-1", "60474-4", "31443-5", "8087-9"]


def test_s6_confirmed_low_b12_si_units() -> None:
    found = run(s6_d0(), day(0))
    assert [f.rule for f in found] == [R02]
    assert found[0].severity is Severity.MEDIUM
    assert found[0].bundled == (R04,)
    assert loincs(found[0]) == ["18314-5", "2532-0", "4542-7", "1971-1", "60474-4", "31443-5", "8087-9"]


def test_s7_d0_maha_pending_adamts13() -> None:
    found = run(s7_d0(), day(0, 2))
    assert [f.rule for f in found] == [R07]
    r07 = found[0]
    assert r07.severity is Severity.HIGH
    assert "strongly suggestive" in r07.detail
    assert "PLASMIC lab 3/5; total 3..5" in r07.detail
    assert "pseudo-TMA features 5/6" in r07.detail
    assert loincs(r07) == ["2132-9", "13964-2", "13965-9", "1971-1"]
    assert r07.suggested_orders[0].priority == "stat"
    assert r07.category == ("plt:G3", "b12:UNKNOWN", "a13:PENDING", "maha:on")


def test_s7_d2_adamts13_normal_gives_r05a() -> None:
    d2 = [*s7_d0(), obs("adamts13_activity", 72, day(2, 10))]
    found = run(d2, day(2, 10))
    assert [f.rule for f in found] == [R05]
    r05 = found[0]
    assert (r05.branch, r05.severity) == ("a", Severity.HIGH)
    assert "check B12 before starting or continuing plasma exchange" in r05.detail
    assert "ADAMTS13 72 %" in r05.detail
    assert loincs(r05) == ["2132-9", "13964-2", "13965-9", "2284-8"]  # film within 72 h covers OS-FILM
    assert r05.suggested_orders[0].priority == "stat"


def test_s7_d2_censored_low_b12_gives_r05b_with_r04() -> None:
    d2 = [
        *s7_d0(),
        obs("adamts13_activity", 72, day(2, 10)),
        obs("b12_total", 50, day(2, 14), comparator="<"),
    ]
    found = run(d2, day(2, 14))
    assert [f.rule for f in found] == [R05]
    assert (found[0].branch, found[0].severity) == ("b", Severity.HIGH)
    assert found[0].bundled == (R04,)
    assert loincs(found[0]) == ["31443-5", "8087-9"]


def s8_d0() -> list[Observation]:
    t = day(0)
    return [
        plt(12, t),
        obs("hemoglobin", 85, t),
        obs("mcv", 88, t),
        obs("ldh", 1400, t, high=250),
        obs("haptoglobin", 0.1, t, comparator="<"),
        obs("reticulocytes_pct", 6.0, t, code="17849-1"),
        obs("schistocytes", None, t, text="Present"),
        obs("inr", 1.1, t),
        obs("creatinine", 1.1 * 88.4, t),
        obs("b12_total", 160, t),
    ]


def test_s8_d0_true_ttp_profile_is_critical_r07() -> None:
    found = by_rule(run(s8_d0(), day(0)))
    assert R02 not in found and R05 not in found
    r07 = found[R07]
    assert r07.severity is Severity.CRITICAL
    assert "pseudo-TMA (" not in r07.detail and "suggestive of B12" not in r07.detail
    assert "B12 deficiency present; pseudo-TMA possible; ADAMTS13 still required" in r07.detail
    assert "PLASMIC lab 5/5; total 5..7" in r07.detail
    assert loincs(r07) == ["53622-7", "1971-1"]
    assert "draw before any plasma" in r07.suggested_orders[0].note
    assert found[R04].severity is Severity.INFO  # standalone: R02 does not fire under MAHA


def test_s8_d1_severe_adamts13_gives_r06_and_separate_r04() -> None:
    found = by_rule(run([*s8_d0(), obs("adamts13_activity", 5, day(1))], day(1)))
    assert set(found) == {R04, R06}
    r06 = found[R06]
    assert (r06.severity, r06.branch) == (Severity.CRITICAL, "severe")
    assert "Do not attribute thrombocytopenia or MAHA to B12 deficiency" in r06.detail
    assert "Coexisting finding: low B12 (160 ng/L on" in r06.detail
    assert loincs(r06) == ["40824-5"]
    assert found[R04].severity is Severity.INFO
    assert loincs(found[R04]) == ["31443-5", "8087-9"]
    assert R04 not in r06.bundled


def test_s9_maha_pending_adamts13_unknown_b12() -> None:
    t = day(0)
    labs = [
        plt(70, t),
        obs("hemoglobin", 70, t),
        obs("mcv", 118, t),
        obs("reticulocytes_pct", 0.8, t),
        obs("ldh", 5100, t, high=250),
        obs("haptoglobin", 0.05, t, low=0.3),
        obs("schistocytes", None, t, text="Present"),
        obs("hypersegmented_neutrophils", None, t, text="Present"),
        obs("adamts13_activity", None, t, status="I"),
    ]
    found = run(labs, t)
    assert [f.rule for f in found] == [R07]
    assert found[0].severity is Severity.HIGH
    assert "pseudo-TMA features 5/6" in found[0].detail
    assert loincs(found[0]) == ["2132-9", "13964-2", "13965-9", "1971-1"]


def test_s10_homocysteine_mass_units_and_low_b12() -> None:
    labs = [
        plt(88, day(0)),
        obs("homocysteine", 6.5 * 7.397, day(0), code="2428-1"),
        obs("b12_total", 150, day(0)),
    ]
    found = by_rule(run(labs, day(0)))
    assert set(found) == {R02, R08}
    assert found[R08].severity is Severity.MEDIUM
    assert loincs(found[R08]) == ["2284-8"]
    assert found[R02].severity is Severity.MEDIUM
    assert loincs(found[R02]) == ["18314-5", "2532-0", "4542-7", "1971-1", "60474-4", "31443-5", "8087-9"]


def test_s11_corrected_platelet_leaves_nothing() -> None:
    first = plt(40, day(0, 9), filler="ORD1")
    assert [f.rule for f in run([first], day(0, 9))] == [R01]
    corrected = plt(240, day(0, 9), filler="ORD1", status="C")
    assert run([first, corrected], day(0, 9)) == ()


def test_s12_wrong_patient_b12_brings_back_r01() -> None:
    b12 = obs("b12_total", 90 * 1.355, day(0), code="14685-2", filler="B12ORD")
    wrong = obs("b12_total", 90 * 1.355, day(0), code="14685-2", filler="B12ORD", status="W")
    found = run([b12, plt(60, day(0)), wrong], day(1))
    assert [f.rule for f in found] == [R01]
    assert found[0].severity is Severity.MEDIUM
    assert loincs(found[0]) == ["2132-9", "2284-8", "18314-5"]


def test_s13_pending_b12_is_not_suggested_and_x_re_allows_it() -> None:
    first = plt(80, day(0, 8))
    pending = obs("b12_total", None, day(0, 10), status="I", filler="B12ORD")
    found = run([first, pending, plt(78, day(0, 20))], day(0, 20))
    assert loincs(found[0]) == ["2284-8", "18314-5"]
    cancelled = obs("b12_total", None, day(1, 14), status="X", filler="B12ORD")
    found = run([first, pending, plt(78, day(0, 20)), cancelled, plt(75, day(1, 16))], day(1, 16))
    assert loincs(found[0]) == ["2132-9", "2284-8", "18314-5"]


def test_s14_recovery_improving_then_normalised_then_closed() -> None:
    history = s6_d0()
    d7 = [*history, plt(110, day(7))]
    found = by_rule(run(d7, day(7)))
    assert (found[R09].branch, found[R09].severity) == ("improving", Severity.INFO)
    assert all(
        order.analyte not in ("b12_total", "b12_active")
        for f in found.values()
        for order in f.suggested_orders
    )
    d14 = [*d7, plt(180, day(14))]
    found = by_rule(run(d14, day(14)))
    assert set(found) == {R09}
    assert (found[R09].branch, found[R09].severity) == ("normalised", Severity.INFO)
    assert "14 d after deficiency identified" in found[R09].detail
    assert run([*d14, plt(175, day(15))], day(15)) == ()


def test_s15_non_response() -> None:
    found = by_rule(run([*s6_d0(), plt(58, day(16))], day(16)))
    r09 = found[R09]
    assert (r09.branch, r09.severity) == ("not-resolving", Severity.MEDIUM)
    assert loincs(r09) == ["18314-5"]


def test_s16_grey_zone_adamts13() -> None:
    found = by_rule(run([*s7_d0(), obs("adamts13_activity", 15, day(2))], day(2)))
    assert set(found) == {R06, R07}
    assert (found[R06].severity, found[R06].branch) == (Severity.HIGH, "grey-zone")
    assert found[R07].severity is Severity.HIGH
    assert "A13 indeterminate (10–20 %)" in found[R07].detail
    assert "53622-7" not in loincs(found[R07])
    assert found[R07].category[2] == "a13:INDETERMINATE"


def test_s17_preliminary_does_not_fire_then_final_does() -> None:
    preliminary = plt(30, day(0), status="P", filler="ORD")
    assert run([preliminary], day(0)) == ()
    found = run([preliminary, plt(31, day(0, 1), filler="ORD")], day(0, 1))
    assert [f.rule for f in found] == [R01]
    assert found[0].severity is Severity.MEDIUM
    assert loincs(found[0]) == ["2132-9", "2284-8", "18314-5"]


def test_s18_unit_converted_count_fires_and_unusable_unit_does_not() -> None:
    assert [f.rule for f in run([plt(82, day(0))], day(0))] == [R01]
    unusable = plt(None, day(0), unit="K/ul?", flags=["L"])
    assert run([unusable], day(0)) == ()


def test_s19_maha_with_normal_b12() -> None:
    history = [obs("b12_total", 510, day(-20)), *s7_d0(mcv=104, adamts13_order=False)]
    found = run(history, day(0, 2))
    assert [f.rule for f in found] == [R07]
    assert found[0].severity is Severity.HIGH
    assert loincs(found[0]) == ["53622-7", "13964-2", "13965-9", "1971-1"]
    found = run([*history, obs("adamts13_activity", 85, day(2))], day(2))
    assert [f.rule for f in found] == [R05]
    assert (found[0].branch, found[0].severity) == ("c", Severity.INFO)
    assert loincs(found[0]) == ["13964-2"]


def test_r03_follow_on_normal_mma_is_info() -> None:
    labs = [plt(95, day(0)), obs("b12_total", 250, day(0)), obs("mma", 210, day(3), high=400)]
    found = by_rule(run(labs, day(3)))
    assert set(found) == {R03}
    assert (found[R03].branch, found[R03].severity) == ("mma-normal", Severity.INFO)
    assert "functional B12 deficiency less likely" in found[R03].detail
