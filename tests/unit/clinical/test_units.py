"""Unit spellings labs send, converted with the shipped terminology's factors (spec section 1)."""

from __future__ import annotations

import pytest

from b12stream.clinical.reference_range import ReferenceRange, parse_reference_range
from b12stream.clinical.terminology import Terminology
from b12stream.clinical.units import AS_REPORTED, Conversion, UnitTable, convert, parse_censored, spelling_key


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return Terminology.load()


# (analyte, unit as sent, value as sent, value in the canonical unit)
CONVERSIONS = [
    ("platelets", "10*3/uL", 82, 82),
    ("platelets", "10^3/uL", 82, 82),
    ("platelets", "K/uL", 82, 82),
    ("platelets", "k/ul", 82, 82),
    ("platelets", "x10E3/uL", 82, 82),
    ("platelets", "x10^3/uL", 82, 82),
    ("platelets", "10*9/L", 82, 82),
    ("platelets", "10^9/L", 82, 82),
    ("platelets", "x10E9/L", 82, 82),
    ("platelets", "thou/mm3", 82, 82),
    ("platelets", "10*3/mm3", 82, 82),
    ("platelets", "/uL", 82000, 82),
    ("platelets", "/mm3", 82000, 82),
    ("platelets", "10*4/uL", 8.2, 82),
    ("platelets", "{cells}/uL", 82000, 82),
    ("platelets", "10*3/uL{cells}", 82, 82),
    ("platelets", " 10*3 / uL ", 82, 82),
    ("platelets", "/nL", 82, 82),
    ("platelets", "giga/L", 82, 82),
    ("neutrophils_abs", "K/uL", 1.3, 1.3),
    ("neutrophils_abs", "/uL", 1300, 1.3),
    ("reticulocytes_abs", "10*3/uL", 13.1, 13.1),
    ("reticulocytes_abs", "10*6/uL", 0.0131, 13.1),
    ("hemoglobin", "g/dL", 13.8, 138),
    ("hemoglobin", "g/dl", 6.2, 62),
    ("hemoglobin", "g/L", 62, 62),
    ("hemoglobin", "mmol/L", 5, 80.55),
    ("mcv", "fL", 112, 112),
    ("mcv", "fl", 112, 112),
    ("mcv", "um3", 112, 112),
    ("mcv", "µm3", 112, 112),
    ("reticulocytes_pct", "%", 1.1, 1.1),
    ("reticulocytes_pct", "1", 0.011, 1.1),
    ("reticulocytes_pct", "{fraction}", 0.011, 1.1),
    ("ldh", "U/L", 4200, 4200),
    ("ldh", "IU/L", 4200, 4200),
    ("ldh", "ukat/L", 70, 4200),
    ("ldh", "µkat/L", 70, 4200),
    ("haptoglobin", "g/L", 0.05, 0.05),
    ("haptoglobin", "mg/dL", 10, 0.1),
    ("bilirubin_total", "mg/dL", 2.0, 34.2),
    ("bilirubin_total", "umol/L", 34.2, 34.2),
    ("bilirubin_indirect", "mg/dL", 2.0, 34.2),
    ("bilirubin_indirect", "µmol/L", 34.2, 34.2),
    ("creatinine", "mg/dL", 2.0, 176.8),
    ("creatinine", "umol/L", 88, 88),
    ("creatinine", "umol/l", 88, 88),
    ("creatinine", "μmol/L", 88, 88),  # GREEK SMALL LETTER MU
    ("creatinine", "µmol/L", 88, 88),  # MICRO SIGN
    ("inr", "{INR}", 1.1, 1.1),
    ("inr", "INR", 1.1, 1.1),
    ("inr", "", 1.1, 1.1),
    ("inr", "1", 1.1, 1.1),
    ("inr", "{ratio}", 1.1, 1.1),
    ("b12_total", "ng/L", 250, 250),
    ("b12_total", "pg/mL", 420, 420),
    ("b12_total", "ng/mL", 0.25, 250),
    ("b12_total", "pmol/L", 90, 121.95),
    ("b12_active", "pmol/L", 24, 24),
    ("mma", "nmol/L", 620, 620),
    ("mma", "umol/L", 0.62, 620),
    ("mma", "µmol/L", 0.62, 620),
    ("mma", "nmol/mL", 0.62, 620),
    ("homocysteine", "umol/L", 48, 48),
    ("homocysteine", "nmol/mL", 48, 48),
    ("homocysteine", "mg/L", 6.5, 48.0805),
    ("folate", "nmol/L", 20, 20),
    ("folate", "ng/mL", 17.6, 39.8816),
    ("adamts13_activity", "%", 72, 72),
    ("adamts13_activity", "[IU]/dL", 72, 72),
    ("adamts13_activity", "IU/dL", 72, 72),
    ("adamts13_activity", "[IU]/mL", 0.72, 72),
    ("adamts13_activity", "IU/mL", 0.72, 72),
    ("adamts13_activity", "1", 0.05, 5),
    ("parietal_cell_ab", "[arb'U]/mL", 25, 25),
    ("parietal_cell_ab", "AU/mL", 25, 25),
    ("parietal_cell_ab", "U/mL", 25, 25),
    ("intrinsic_factor_ab", "AU/mL", 1.5, 1.5),
    ("schistocytes", "%", 2, 2),
]


@pytest.mark.parametrize(("analyte", "unit", "sent", "expected"), CONVERSIONS)
def test_accepted_spelling_converts_to_the_canonical_unit(
    terminology: Terminology, analyte: str, unit: str, sent: float, expected: float
) -> None:
    table = terminology.analyte(analyte).units
    conversion = table.lookup(unit)
    assert conversion is not None, f"{unit!r} not accepted for {analyte}"
    assert conversion.unit == terminology.analyte(analyte).canonical_unit
    assert convert(sent, conversion) == pytest.approx(expected)


# (analyte, unit that must not be accepted): incompatible dimensions and ambiguous spellings.
REFUSED = [
    ("platelets", "g/L"),
    ("platelets", "%"),
    ("platelets", ""),
    ("hemoglobin", "mg/dL"),
    ("b12_total", "nmol/L"),
    ("b12_total", "ng/dL"),
    ("b12_active", "ng/L"),
    ("haptoglobin", "umol/L"),  # molar haptoglobin: mass depends on phenotype
    ("reticulocytes_pct", ""),  # 0.8 could be 0.8 % or a fraction: never guessed
    ("reticulocytes_pct", "{RBCs}"),  # an annotation alone is not a unit
    ("inr", "{cells}"),
    ("adamts13_activity", ""),
    ("adamts13_activity", "U/mL"),
    ("mma", "mg/L"),
    ("creatinine", "mmol/L"),
    ("ldh", "[IU]/L"),
    ("folate", "pmol/L"),
]


@pytest.mark.parametrize(("analyte", "unit"), REFUSED)
def test_incompatible_or_ambiguous_unit_is_refused(terminology: Terminology, analyte: str, unit: str) -> None:
    assert terminology.analyte(analyte).units.lookup(unit) is None


def test_qualitative_analytes_take_no_numbers(terminology: Terminology) -> None:
    for analyte in ("hypersegmented_neutrophils", "dat", "blood_film", "cbc"):
        assert not terminology.analyte(analyte).units.takes_numbers


def test_as_reported_analyte_keeps_each_accepted_unit(terminology: Terminology) -> None:
    table = terminology.analyte("adamts13_inhibitor").units
    assert table.canonical == AS_REPORTED
    assert table.lookup("BU/mL") == Conversion(1.0, "BU/mL")
    assert table.lookup("U/mL") == Conversion(1.0, "U/mL")
    assert table.lookup("mg/L") is None


@pytest.mark.parametrize(
    ("sent", "key"),
    [
        ("x10E3/uL", "10*3/uL"),
        ("X10E9/L", "10*9/L"),
        ("10^9/L", "10*9/L"),
        ("x10^3/uL", "10*3/uL"),
        ("10e3/uL", "10*3/uL"),
        ("µmol/L", "umol/L"),
        ("μmol/L", "umol/L"),
        (" g / dL ", "g/dL"),
        ("10*3/uL", "10*3/uL"),
        ("mg/dL", "mg/dL"),
    ],
)
def test_spelling_key(sent: str, key: str) -> None:
    assert spelling_key(sent) == key


def test_case_is_ignored_only_when_unambiguous() -> None:
    table = UnitTable.build("U/L", {"mU/L": 0.001, "MU/L": 1e6, "U/L": 1})
    assert table.lookup("mU/L") == Conversion(0.001, "U/L")
    assert table.lookup("MU/L") == Conversion(1e6, "U/L")
    assert table.lookup("mu/l") is None  # mU/L or MU/L: refused rather than guessed
    assert table.lookup("u/l") == Conversion(1.0, "U/L")


def test_alias_reaches_only_analytes_that_accept_its_target() -> None:
    table = UnitTable.build("g/L", {"g/L": 1}, {"K/uL": "10*3/uL"})
    assert table.lookup("K/uL") is None


def test_conversion_has_no_binary_noise() -> None:
    assert convert(0.62, Conversion(1000, "nmol/L")) == 620.0
    assert convert(2.0, Conversion(17.1, "umol/L")) == 34.2


def test_conversion_beyond_the_float_range_is_none() -> None:
    huge = float("9" * 308)
    assert convert(huge, Conversion(16.11, "g/L")) is None
    assert convert(-huge, Conversion(10, "g/L")) is None
    assert Conversion(10, "g/L").apply(huge) is None
    assert convert(huge, Conversion(0.001, "10*9/L")) == pytest.approx(huge / 1000)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("<10", ("<", 10.0)),
        ("< 10", ("<", 10.0)),
        (">=2000", (">=", 2000.0)),
        ("<=0.5", ("<=", 0.5)),
        (">7", (">", 7.0)),
        ("=5", ("", 5.0)),
        ("42", ("", 42.0)),
        ("-1.5", ("", -1.5)),
        (".5", ("", 0.5)),
        ("Present", None),
        ("POS", None),
        ("?7", None),
        ("10-20", None),
        ("", None),
        ("<", None),
        ("9" * 400, None),
        (">" + "9" * 400, None),
        ("<=-" + "9" * 400, None),
    ],
)
def test_parse_censored(text: str, parsed: tuple[str, float] | None) -> None:
    assert parse_censored(text) == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("150-400", ReferenceRange(150, 400)),
        ("150 - 400", ReferenceRange(150, 400)),
        ("0.0-1.1", ReferenceRange(0.0, 1.1)),
        ("3.5–5.0", ReferenceRange(3.5, 5.0)),
        ("13 to 18", ReferenceRange(13, 18)),
        ("150000 TO 350000", ReferenceRange(150000, 350000)),
        ("-2-2", ReferenceRange(-2, 2)),
        ("<7.2", ReferenceRange(high=7.2)),
        ("<=20", ReferenceRange(high=20)),
        (">7.2", ReferenceRange(low=7.2)),
        (">=60", ReferenceRange(low=60)),
        ("", ReferenceRange()),
        ("Negative", ReferenceRange()),
        ("0-2-7.2", ReferenceRange()),
        (">2-7.2", ReferenceRange()),
        ("400-150", ReferenceRange()),
        ("5", ReferenceRange()),
        ("150-" + "9" * 400, ReferenceRange()),
        ("-" + "9" * 400 + "-150", ReferenceRange()),
        ("<" + "9" * 400, ReferenceRange()),
        (">=" + "9" * 400, ReferenceRange()),
    ],
)
def test_parse_reference_range(text: str, expected: ReferenceRange) -> None:
    assert parse_reference_range(text) == expected


def test_reference_range_converts_with_the_value() -> None:
    converted = parse_reference_range("191-663").converted(Conversion(1.355, "ng/L"))
    assert converted.low == pytest.approx(258.805)
    assert converted.high == pytest.approx(898.365)
    assert parse_reference_range("<0.4").converted(Conversion(1000, "nmol/L")) == ReferenceRange(high=400)


def test_reference_range_beyond_the_float_range_once_converted_is_empty() -> None:
    huge = "9" * 308
    assert parse_reference_range(f"12-{huge}").converted(Conversion(10, "g/L")) == ReferenceRange()
    assert parse_reference_range(f">{huge}").converted(Conversion(10, "g/L")) == ReferenceRange()
    assert parse_reference_range(f"<{huge}").converted(Conversion(0.1, "g/L")).high == pytest.approx(1e307)
