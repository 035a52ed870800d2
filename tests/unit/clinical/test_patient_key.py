"""The patient key rule over PID-3 repetitions."""

from __future__ import annotations

import pytest

from b12stream.clinical.model import PatientKey
from b12stream.clinical.patient_key import KeyRule, choose_patient_key
from b12stream.errors import ConfigError
from b12stream.hl7.model import PatientIdentifier

NHS = PatientIdentifier("9434765919", "NHS", "NH")
MRN_A = PatientIdentifier("40800000", "MRENTR", "MR")
MRN_B = PatientIdentifier("40800000", "OTHERHOSP", "MR")
VISIT = PatientIdentifier("V77", "HOSP", "VN")


def test_default_prefers_the_first_mr_repetition() -> None:
    assert choose_patient_key([NHS, MRN_A, MRN_B], KeyRule()) == PatientKey("40800000", "MRENTR")


def test_default_falls_back_to_the_first_repetition() -> None:
    assert choose_patient_key([VISIT, NHS], KeyRule()) == PatientKey("V77", "HOSP")


def test_no_fallback_means_no_key() -> None:
    assert choose_patient_key([VISIT, NHS], KeyRule(fallback_to_first=False)) is None


def test_identifier_type_is_case_blind() -> None:
    mixed = PatientIdentifier("1", "A", "mr")
    assert choose_patient_key([NHS, mixed], KeyRule()) == PatientKey("1", "A")


def test_same_mrn_from_two_authorities_is_two_patients() -> None:
    first = choose_patient_key([MRN_A], KeyRule())
    second = choose_patient_key([MRN_B], KeyRule())
    assert first is not None and second is not None
    assert first != second
    assert first.as_text() != second.as_text()


def test_authority_filter() -> None:
    rule = KeyRule(assigning_authority="OTHERHOSP")
    assert choose_patient_key([MRN_A, MRN_B], rule) == PatientKey("40800000", "OTHERHOSP")
    assert choose_patient_key([MRN_A], rule) is None


def test_other_identifier_type() -> None:
    assert choose_patient_key([MRN_A, NHS], KeyRule(identifier_type="NH")) == PatientKey("9434765919", "NHS")


def test_explicit_repetition() -> None:
    assert choose_patient_key([NHS, MRN_A], KeyRule(repetition=2)) == PatientKey("40800000", "MRENTR")
    assert choose_patient_key([NHS], KeyRule(repetition=2)) is None


def test_empty_ids_are_never_chosen() -> None:
    blank = PatientIdentifier("  ", "HOSP", "MR")
    assert choose_patient_key([blank, VISIT], KeyRule()) == PatientKey("V77", "HOSP")
    assert choose_patient_key([blank], KeyRule(repetition=1)) is None
    assert choose_patient_key([], KeyRule()) is None


def test_padding_is_trimmed() -> None:
    padded = PatientIdentifier(" 42 ", " HOSP ", "MR")
    assert choose_patient_key([padded], KeyRule()) == PatientKey("42", "HOSP")


def test_rule_from_configuration() -> None:
    settings = {"identifier_type": "PI", "assigning_authority": "", "fallback_to_first": False}
    rule = KeyRule.from_mapping(settings)
    assert rule == KeyRule(identifier_type="PI", fallback_to_first=False)
    assert KeyRule.from_mapping(None) == KeyRule()
    assert KeyRule.from_mapping({}) == KeyRule()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"identifer_type": "MR"}, "identifer_type"),
        ({"repetition": 0}, "repetition"),
        ({"repetition": "2"}, "repetition"),
        ({"repetition": True}, "repetition"),
        ({"fallback_to_first": "yes"}, "fallback_to_first"),
        ({"identifier_type": 7}, "identifier_type"),
    ],
)
def test_bad_rule_configuration(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KeyRule.from_mapping(settings)
