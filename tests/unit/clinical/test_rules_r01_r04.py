"""R01–R04 one by one: the firing case and the main reasons not to fire."""

from __future__ import annotations

from b12stream.clinical.episodes import episode_id
from b12stream.clinical.model import Severity
from b12stream.clinical.rules.common import R01, R02, R03, R04, R06, R07
from tests.unit.clinical.clinical_builders import PATIENT, by_rule, day, loincs, obs, plt, run

MAHA = [
    obs("hemoglobin", 80, day(0)),
    obs("ldh", 900, day(0), high=250),
    obs("schistocytes", None, day(0), text="Present"),
]


def test_r01_fires_below_100_with_the_finding_fields_the_engine_needs() -> None:
    count = plt(82, day(0))
    (found,) = run([count], day(0))
    assert (found.rule, found.severity, found.branch) == (R01, Severity.MEDIUM, "")
    assert found.episode_id == episode_id(PATIENT, day(0))
    assert found.evidence == (count,)
    assert found.observed_at == day(0)
    assert found.category == ("plt:G1", "b12:UNKNOWN", "a13:UNKNOWN", "maha:off")
    assert len(found.summary) < 140 and "MRN" not in found.summary
    assert "Thrombocytopenia (G1) without B12 result in 90 d" in found.detail
    assert found.citations == ("Seed[1]", "Seed[4]", "E1", "E2", "E15")


def test_r01_does_not_fire_for_normal_or_mild_single_counts() -> None:
    assert run([plt(150, day(0))], day(0)) == ()
    assert run([plt(120, day(0))], day(0)) == ()
    assert run([plt(95, day(0), low=90)], day(0)) == ()


def test_r01_persistence_needs_24_hours_and_30_days() -> None:
    assert run([plt(130, day(0)), plt(128, day(0, 20))], day(0, 20)) == ()
    assert run([plt(130, day(-31)), plt(128, day(0))], day(0)) == ()
    (found,) = run([plt(130, day(-29)), plt(128, day(0))], day(0))
    assert (found.rule, found.severity) == (R01, Severity.INFO)
    assert len(found.evidence) == 2


def test_r01_yields_to_known_b12_and_to_maha() -> None:
    assert R01 not in by_rule(run([obs("b12_total", 250, day(-5)), plt(82, day(0))], day(0)))
    found = by_rule(run([plt(82, day(0)), *MAHA], day(0)))
    assert R01 not in found and R07 in found


def test_r02_severity_bands_and_functional_step_down() -> None:
    assert run([obs("b12_total", 120, day(0)), plt(49, day(0))], day(0))[0].severity is Severity.HIGH
    assert run([obs("b12_total", 120, day(0)), plt(50, day(0))], day(0))[0].severity is Severity.MEDIUM
    functional = [obs("b12_total", 250, day(0)), obs("mma", 800, day(0)), plt(40, day(0))]
    r02 = by_rule(run(functional, day(0)))[R02]
    assert r02.severity is Severity.MEDIUM
    assert "functional B12 deficiency" in r02.detail
    assert {item.analyte for item in r02.evidence} == {"b12_total", "mma", "platelets"}


def test_r02_needs_thrombocytopenia_now() -> None:
    assert run([obs("b12_total", 120, day(0)), plt(200, day(0))], day(0)) == ()


def test_r02_routes_maha_to_r07() -> None:
    found = by_rule(run([obs("b12_total", 120, day(0)), plt(60, day(0)), *MAHA], day(0)))
    assert R02 not in found and R07 in found


def test_r02_under_severe_adamts13_is_info_and_grey_zone_stops_it() -> None:
    base = [obs("b12_total", 120, day(0)), plt(60, day(0))]
    severe = by_rule(run([*base, obs("adamts13_activity", 5, day(1))], day(1)))
    assert severe[R02].severity is Severity.INFO
    assert severe[R06].severity is Severity.CRITICAL
    assert "possible or contributory cause" not in severe[R02].detail
    assert "do not attribute the thrombocytopenia to B12" in severe[R02].detail
    assert "coexisting" in severe[R02].summary and len(severe[R02].summary) < 140
    plain = by_rule(run(base, day(0)))[R02]
    assert "possible or contributory cause" in plain.detail and "ADAMTS13" not in plain.detail
    grey = by_rule(run([*base, obs("adamts13_activity", 15, day(1))], day(1)))
    assert R02 not in grey and grey[R06].severity is Severity.HIGH


def test_r02_suggests_only_missing_haemolysis_components() -> None:
    labs = [
        obs("b12_total", 120, day(0)),
        plt(60, day(0)),
        obs("ldh", 200, day(0)),
        obs("blood_film", None, day(0)),
    ]
    assert loincs(run(labs, day(0))[0]) == ["4542-7", "1971-1", "60474-4", "31443-5", "8087-9"]


def test_r04_is_not_bundled_once_an_if_antibody_exists_or_is_pending() -> None:
    base = [obs("b12_total", 120, day(0)), plt(60, day(0))]
    with_ifab = run([*base, obs("intrinsic_factor_ab", 0.4, day(-900))], day(0))
    assert with_ifab[0].bundled == () and "31443-5" not in loincs(with_ifab[0])
    pending = run([*base, obs("intrinsic_factor_ab", None, day(-3), status="I")], day(0))
    assert pending[0].bundled == ()


def test_r04_standalone_only_in_an_open_episode_without_r02() -> None:
    assert run([obs("b12_total", 120, day(0)), plt(200, day(0))], day(0)) == ()
    found = by_rule(run([obs("b12_total", 120, day(0)), plt(60, day(0)), *MAHA], day(0)))
    assert found[R04].severity is Severity.INFO
    assert loincs(found[R04]) == ["31443-5", "8087-9"]


def test_r03_fires_while_thrombocytopenia_lies_within_30_days() -> None:
    history = [plt(90, day(0)), plt(180, day(10)), obs("b12_total", 250, day(10))]
    assert R03 in by_rule(run(history, day(10)))
    assert run([plt(90, day(-31)), obs("b12_total", 250, day(0))], day(0)) == ()


def test_r03_suggestions_respect_recent_homocysteine_and_pending_mma() -> None:
    base = [plt(90, day(0)), obs("b12_total", 250, day(0))]
    assert loincs(run([*base, obs("homocysteine", 12, day(-30))], day(0))[0]) == ["13964-2"]
    pending = run([*base, obs("mma", None, day(-3), status="I")], day(0))
    assert pending[0].rule == R03 and loincs(pending[0]) == ["13965-9"]


def test_r03_renal_and_censored_annotations() -> None:
    labs = [
        plt(90, day(0)),
        obs("b12_total", 200, day(0), comparator="<"),
        obs("creatinine", 200, day(-1), high=110),
    ]
    (found,) = run(labs, day(0))
    assert "renal impairment" in found.detail
    assert "censored" in found.detail


def test_r03_silent_when_mma_result_unreadable() -> None:
    labs = [plt(90, day(0)), obs("b12_total", 250, day(0)), obs("mma", None, day(0), unit="odd")]
    assert run(labs, day(0)) == ()
