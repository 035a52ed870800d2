"""Terminology files: the LOINC check digit, merging a site file, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.clinical.terminology import DEFAULT_TERMINOLOGY_PATH, Terminology
from b12stream.clinical.terminology_config import is_valid_loinc
from b12stream.errors import ConfigError

MINIMAL = """
loinc_systems: [LN]
analytes:
  platelets:
    key: PLT
    display: Platelet count
    canonical_unit: "10*9/L"
    primary_loinc: "777-3"
    codes: [{code: "777-3", level: VR, name: "Platelets"}]
    units: {"10*9/L": 1}
"""


@pytest.mark.parametrize("code", ["777-3", "14685-2", "2132-9", "53622-7", "58410-2", "13056-7", "1007-4"])
def test_valid_check_digits(code: str) -> None:
    assert is_valid_loinc(code)


@pytest.mark.parametrize("code", ["14685-3", "5140-4", "777-4", "777", "777-", "-3", "A77-3", "777-33"])
def test_invalid_check_digits(code: str) -> None:
    assert not is_valid_loinc(code)


def test_minimal_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert [analyte.id for analyte in Terminology.load([path]).analytes] == ["platelets"]


def load_with_site(tmp_path: Path, site_text: str) -> Terminology:
    site = tmp_path / "site.yaml"
    site.write_text(site_text, encoding="utf-8")
    return Terminology.load([DEFAULT_TERMINOLOGY_PATH, site])


@pytest.mark.parametrize(
    ("site_text", "message"),
    [
        ("analytes:\n  b12_total: {codes: [{code: '14685-3', level: VR, name: B12}]}\n", "check digit"),
        ("analytes:\n  b12_total: {codes: [{code: '16695-9', level: VR, name: B12}]}\n", "excluded"),
        ("analytes:\n  folate: {codes: [{code: '2132-9', level: VR, name: B12}]}\n", "listed twice"),
        ("analytes:\n  folate: {codes: [{code: '2132-9', level: XX, name: B12}]}\n", "level"),
        ("analytes:\n  b12_total: {primary_loinc: '2284-8'}\n", "primary_loinc"),
        ("analytes:\n  b12_total: {canonical_unit: 'pmol/L'}\n", "cannot be changed"),
        ("analytes:\n  b12_total: {colour: red}\n", "colour"),
        ("analytes:\n  b12_total: {units: {'nmol/L': 0}}\n", "positive number"),
        ("local_codes:\n  - {system: L, code: PLT, analyte: platelet}\n", "unknown analyte"),
        ("local_codes:\n  - {system: LN, code: '777-3', analyte: platelets}\n", "analytes.<id>.codes"),
        (
            "local_codes:\n  - {system: L, code: X, analyte: platelets}\n"
            "  - {system: L, code: X, analyte: folate}\n",
            "already maps",
        ),
        ("local_codes:\n  - {code: X, analyte: platelets}\n", "system"),
        ("unit_aliases:\n  'G/L': '10*9/L'\n", "differ only by case"),
        ("unit_aliases:\n  'K/uL': '10*9/L'\n", "already means"),
        ("result_codes:\n  '52101004': Absent\n", "already reads"),
        ("mappings: {}\n", "mappings"),
        ("- just a list\n", "mapping"),
        ("analytes: [\n", "YAML"),
    ],
)
def test_bad_site_file_is_refused_naming_the_key(tmp_path: Path, site_text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_with_site(tmp_path, site_text)


@pytest.mark.parametrize(
    ("site_text", "message"),
    [
        ("loinc_systems: LN\n", "site.yaml: loinc_systems: expected a list, got 'LN'"),
        ("analytes:\n  b12_total: {units: ['pmol/L']}\n",
         "site.yaml: analytes.b12_total.units: expected a mapping, got ['pmol/L']"),
        ("unit_aliases:\n  'K/uL': '10*9/L'\n",
         "site.yaml: unit_aliases.K/uL already means '10*3/uL', got '10*9/L'"),
        ("local_codes:\n  - {system: 5, code: X, analyte: platelets}\n",
         "site.yaml: local_codes[0].system: expected text, got 5"),
    ],
)
def test_an_error_names_the_file_and_key_and_shows_the_value(
    tmp_path: Path, site_text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_with_site(tmp_path, site_text)
    assert str(raised.value) == message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        Terminology.load([tmp_path / "missing.yaml"])


def test_site_adds_codes_and_units_to_an_analyte(tmp_path: Path) -> None:
    terminology = load_with_site(
        tmp_path,
        "analytes:\n  hemoglobin:\n    codes: [{code: '20509-6', level: V2, name: Hemoglobin}]\n"
        "    units: {'mg/dL': 0.01}\n",
    )
    hemoglobin = terminology.analyte("hemoglobin")
    assert "20509-6" in hemoglobin.loinc_codes and "718-7" in hemoglobin.loinc_codes
    assert hemoglobin.units.lookup("mg/dL") is not None and hemoglobin.units.lookup("g/dL") is not None


def test_site_adds_a_unit_alias(tmp_path: Path) -> None:
    terminology = load_with_site(tmp_path, "unit_aliases:\n  'thou/ul': '10*3/uL'\n")
    assert terminology.analyte("platelets").units.lookup("THOU/UL") is not None
