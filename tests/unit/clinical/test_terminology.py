"""Terminology over hand-built ORU^R01 records: code matching, values, units, times, result keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from b12stream.clinical.model import Observation, ResultKey
from b12stream.clinical.terminology import DEFAULT_TERMINOLOGY_PATH, Terminology
from b12stream.errors import ClinicalError
from b12stream.hl7.model import (
    CodedElement,
    MessageHeader,
    Order,
    OruMessage,
    PatientIdentifier,
    RawObservation,
    StructuredNumeric,
)

COLLECTED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DRAWN = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CBC_ORDER = CodedElement("58410-2", "CBC", "LN")


def obx(
    code: str = "777-3",
    value: str = "82",
    units: str = "10*3/uL",
    *,
    system: str = "LN",
    value_type: str = "NM",
    numeric: StructuredNumeric | None = None,
    status: str = "F",
    observed_at: datetime | None = COLLECTED,
    reference_range: str = "",
    flags: tuple[str, ...] = (),
    sub_id: str = "1",
    coded: CodedElement | None = None,
) -> RawObservation:
    """An OBX as the HL7 layer gives it: NM values that are plain numbers come parsed."""
    if numeric is None and value_type == "NM":
        try:
            numeric = StructuredNumeric("", float(value))
        except ValueError:
            numeric = None
    return RawObservation(
        set_id="1",
        value_type=value_type,
        code=coded or CodedElement(code=code, system=system),
        sub_id=sub_id,
        values=(value,),
        numeric=numeric,
        units=units,
        reference_range=reference_range,
        abnormal_flags=flags,
        result_status=status,
        observed_at=observed_at,
    )


def order(
    *observations: RawObservation,
    service: CodedElement = CBC_ORDER,
    filler: str = "FILL-1",
    placer: str = "PLAC-1",
    observation_time: datetime | None = DRAWN,
    result_status: str = "F",
) -> Order:
    return Order(
        placer_order_number=placer,
        filler_order_number=filler,
        universal_service_id=service,
        observation_time=observation_time,
        result_status=result_status,
        observations=observations,
    )


def message(*orders: Order, message_time: datetime | None = RECEIVED) -> OruMessage:
    header = MessageHeader(
        control_id="MSG-1",
        message_type="ORU",
        trigger_event="R01",
        version="2.5.1",
        sending_application="LAB",
        sending_facility="HOSP",
        message_time=message_time,
        charset="utf-8",
        charset_note="default",
    )
    return OruMessage(
        header=header,
        patient_ids=(PatientIdentifier("123", "HOSP", "MR"),),
        visit_class="I",
        orders=orders,
    )


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    return Terminology.load()


def one(terminology: Terminology, raw: RawObservation) -> Observation:
    (observation,) = terminology.observations(message(order(raw)))
    return observation


CONTRACT_ANALYTES = {
    "platelets", "hemoglobin", "mcv", "reticulocytes_pct", "reticulocytes_abs", "ldh", "haptoglobin",
    "bilirubin_total", "bilirubin_indirect", "creatinine", "inr", "neutrophils_abs", "b12_total",
    "b12_active", "mma", "mma_urine", "homocysteine", "adamts13_activity", "adamts13_inhibitor",
    "intrinsic_factor_ab", "parietal_cell_ab", "schistocytes", "hypersegmented_neutrophils",
    "blood_film", "folate", "dat", "cbc",
}  # fmt: skip


def test_every_engine_contract_analyte_is_defined(terminology: Terminology) -> None:
    assert {analyte.id for analyte in terminology.analytes} == CONTRACT_ANALYTES


# Spec section 1: every usable code and the analyte it is.
SPEC_CODES = {
    "777-3": "platelets", "26515-7": "platelets", "778-1": "platelets", "49497-1": "platelets",
    "74464-9": "platelets", "13056-7": "platelets", "26516-5": "platelets",
    "718-7": "hemoglobin", "59260-0": "hemoglobin", "787-2": "mcv", "30428-7": "mcv",
    "4679-7": "reticulocytes_pct", "17849-1": "reticulocytes_pct", "31112-6": "reticulocytes_pct",
    "14196-0": "reticulocytes_abs", "60474-4": "reticulocytes_abs", "2532-0": "ldh", "14804-9": "ldh",
    "4542-7": "haptoglobin", "70209-2": "haptoglobin", "1975-2": "bilirubin_total",
    "14631-6": "bilirubin_total", "1971-1": "bilirubin_indirect", "14630-8": "bilirubin_indirect",
    "2160-0": "creatinine", "14682-9": "creatinine", "59826-8": "creatinine", "38483-4": "creatinine",
    "6301-6": "inr", "34714-6": "inr", "751-8": "neutrophils_abs", "2132-9": "b12_total",
    "14685-2": "b12_total", "72160-5": "b12_active", "13964-2": "mma", "13776-0": "mma_urine",
    "13965-9": "homocysteine", "2428-1": "homocysteine", "53622-7": "adamts13_activity",
    "40824-5": "adamts13_inhibitor", "31443-5": "intrinsic_factor_ab", "31444-3": "intrinsic_factor_ab",
    "8087-9": "parietal_cell_ab", "40960-7": "parietal_cell_ab", "800-3": "schistocytes",
    "765-8": "hypersegmented_neutrophils", "18314-5": "blood_film", "2284-8": "folate",
    "14732-2": "folate", "1007-4": "dat", "58410-2": "cbc",
}  # fmt: skip


@pytest.mark.parametrize(("code", "analyte"), sorted(SPEC_CODES.items()))
def test_spec_code_maps_to_its_analyte(terminology: Terminology, code: str, analyte: str) -> None:
    found = terminology.analyte_for_code(code)
    assert found is not None and found.id == analyte


# Spec 2.4: the code each suggested-order set orders, by analyte.
ORDER_SET_PRIMARIES = {
    "b12_total": "2132-9", "b12_active": "72160-5", "folate": "2284-8", "blood_film": "18314-5",
    "mma": "13964-2", "homocysteine": "13965-9", "intrinsic_factor_ab": "31443-5",
    "parietal_cell_ab": "8087-9", "ldh": "2532-0", "haptoglobin": "4542-7",
    "bilirubin_indirect": "1971-1", "reticulocytes_abs": "60474-4", "reticulocytes_pct": "4679-7",
    "adamts13_activity": "53622-7", "adamts13_inhibitor": "40824-5", "cbc": "58410-2",
}  # fmt: skip


@pytest.mark.parametrize(("analyte", "loinc"), sorted(ORDER_SET_PRIMARIES.items()))
def test_order_set_codes_resolve_through_analyte(terminology: Terminology, analyte: str, loinc: str) -> None:
    assert terminology.analyte(analyte).primary_loinc == loinc
    assert terminology.analyte(analyte).display


def test_unknown_analyte_id_raises(terminology: Terminology) -> None:
    with pytest.raises(ClinicalError, match="nope"):
        terminology.analyte("nope")


@pytest.mark.parametrize("code", ["74775-8", "16695-9", "2171-7", "14685-3", "5140-4"])
def test_excluded_codes_do_not_map(terminology: Terminology, code: str) -> None:
    assert terminology.analyte_for_code(code) is None
    reading = terminology.read(message(order(obx(code, "300", "pg/mL"))))
    assert reading.observations == ()
    assert len(reading.excluded) == 1 and reading.excluded[0].startswith(code)
    assert reading.unmapped == ()


def test_excluded_primary_is_not_rescued_by_the_alternate(terminology: Terminology) -> None:
    coded = CodedElement("16695-9", "B12", "LN", "2132-9", "B12", "LN")
    assert terminology.match(coded) is None


@pytest.mark.parametrize("system", ["LN", "LOINC", "LNC", "ln", " LN "])
def test_loinc_system_spellings(terminology: Terminology, system: str) -> None:
    assert one(terminology, obx(system=system)).analyte == "platelets"


def test_loinc_looking_code_in_a_local_system_is_not_loinc(terminology: Terminology) -> None:
    assert terminology.match(CodedElement("777-3", "Platelets", "L")) is None


def test_matching_is_on_code_never_on_name(terminology: Terminology) -> None:
    assert terminology.match(CodedElement("PLTX", "Platelets [#/volume] in Blood", "LN")) is None


def test_alternate_triplet_maps_when_primary_is_local(terminology: Terminology) -> None:
    coded = CodedElement("plt", "Platelets", "Local", "777-3", "Platelets", "LN")
    observation = one(terminology, obx(coded=coded))
    assert observation.analyte == "platelets"
    assert observation.code == "777-3"
    assert observation.result_key == ResultKey("FILL-1", "777-3", "1")
    assert terminology.match(coded).via == "alternate"


def write_site(tmp_path: Path, text: str) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    return site


def test_site_local_codes_map_on_system_and_code(tmp_path: Path) -> None:
    site = write_site(
        tmp_path,
        'local_codes:\n  - {system: "L", code: "PLT", analyte: platelets}\n'
        '  - {system: "", code: "plt", analyte: platelets}\n'
        '  - {system: "99WINPATH", code: "VB12", analyte: b12_total}\n',
    )
    terminology = Terminology.load([DEFAULT_TERMINOLOGY_PATH, site])
    assert terminology.match(CodedElement("PLT", "Platelets", "L")).analyte.id == "platelets"
    assert terminology.match(CodedElement("PLT", "x", "l")).analyte.id == "platelets"  # system case-blind
    assert terminology.match(CodedElement("plt", "Platelets", "")).analyte.id == "platelets"
    assert terminology.match(CodedElement("PLT", "Platelets", "OTHER")) is None
    observation = one(terminology, obx(coded=CodedElement("VB12", "Vitamin B12", "99WINPATH"), units="pg/mL"))
    assert (observation.analyte, observation.code, observation.value) == ("b12_total", "VB12", 82)


def test_site_local_code_primary_wins_over_alternate(tmp_path: Path) -> None:
    site = write_site(tmp_path, 'local_codes:\n  - {system: "L", code: "PLTP", analyte: platelets}\n')
    terminology = Terminology.load([DEFAULT_TERMINOLOGY_PATH, site])
    found = terminology.match(CodedElement("PLTP", "", "L", "718-7", "", "LN"))
    assert (found.analyte.id, found.via) == ("platelets", "primary")


def test_site_can_choose_the_b12_code_to_order(tmp_path: Path) -> None:
    site = write_site(tmp_path, "analytes:\n  b12_total: {primary_loinc: '14685-2'}\n")
    terminology = Terminology.load([DEFAULT_TERMINOLOGY_PATH, site])
    assert terminology.analyte("b12_total").primary_loinc == "14685-2"
    assert Terminology.load().analyte("b12_total").primary_loinc == "2132-9"


def test_store_only_codes_map_but_do_not_trigger(terminology: Terminology, tmp_path: Path) -> None:
    plasma = one(terminology, obx("13056-7"))
    assert plasma.analyte == "platelets" and not terminology.triggers(plasma)
    assert terminology.triggers(one(terminology, obx("777-3")))
    assert terminology.analyte("platelets").store_only_codes == {"13056-7", "26516-5"}
    site = write_site(
        tmp_path, 'local_codes:\n  - {system: "L", code: "PPLT", analyte: platelets, triggers: false}\n'
    )
    local = Terminology.load([DEFAULT_TERMINOLOGY_PATH, site])
    assert not local.triggers(one(local, obx(coded=CodedElement("PPLT", "", "L"))))


def test_numeric_result_in_canonical_units(terminology: Terminology) -> None:
    observation = one(
        terminology, obx(value="82", units="K/uL", reference_range="150-400", flags=("L",), sub_id="2")
    )
    assert observation.analyte == "platelets"
    assert observation.value == 82
    assert observation.unit == "10*9/L"
    assert observation.status == "F"
    assert observation.observed_at == COLLECTED
    assert observation.result_key == ResultKey("FILL-1", "777-3", "2")
    assert observation.source_message_id == "MSG-1"
    assert observation.flags == ("L",)
    assert (observation.reference_low, observation.reference_high) == (150, 400)
    assert observation.unusable_reason == ""


def test_raw_count_per_microlitre(terminology: Terminology) -> None:
    observation = one(terminology, obx(value="82000", units="/uL"))
    assert (observation.value, observation.unit) == (82, "10*9/L")


def test_si_b12_converts_value_and_range(terminology: Terminology) -> None:
    observation = one(terminology, obx("14685-2", "90", "pmol/L", reference_range="133-675"))
    assert observation.value == pytest.approx(121.95)
    assert observation.unit == "ng/L"
    assert observation.reference_low == pytest.approx(180.215)
    assert observation.reference_high == pytest.approx(914.625)


def test_unknown_unit_makes_the_value_unusable(terminology: Terminology) -> None:
    raw = obx(value="82", units="cells/hpf", flags=("L",), reference_range="150-400")
    observation = one(terminology, raw)
    assert observation.value is None
    assert observation.unit == "cells/hpf"
    assert "cells/hpf" in observation.unusable_reason and "platelets" in observation.unusable_reason
    assert observation.flags == ("L",)
    assert (observation.reference_low, observation.reference_high) == (None, None)


def test_free_text_in_the_unit_field_is_not_quoted_in_the_reason(terminology: Terminology) -> None:
    """A note typed into OBX-6 may name a person, and unusable reasons are logged: its length is told."""
    note = "called to SMITH JOHN 4W tel 5551234"
    observation = one(terminology, obx(value="82", units=note))
    assert observation.value is None
    assert "SMITH" not in observation.unusable_reason and "5551234" not in observation.unusable_reason
    reason = observation.unusable_reason
    assert f"OBX-6 holds {len(note)} characters of text, not a unit (platelets)" in reason


def test_missing_unit_is_not_guessed(terminology: Terminology) -> None:
    observation = one(terminology, obx("4679-7", "0.8", ""))
    assert observation.value is None
    assert "no unit" in observation.unusable_reason and "reticulocytes_pct" in observation.unusable_reason


def test_unitless_inr(terminology: Terminology) -> None:
    observation = one(terminology, obx("6301-6", "1.1", ""))
    assert (observation.value, observation.unit, observation.unusable_reason) == (1.1, "{INR}", "")


def test_molar_haptoglobin_is_unusable(terminology: Terminology) -> None:
    observation = one(terminology, obx("70209-2", "3.5", "umol/L", flags=("L",)))
    assert observation.analyte == "haptoglobin" and observation.value is None
    assert "umol/L" in observation.unusable_reason


def test_censored_structured_numeric(terminology: Terminology) -> None:
    raw = obx("2132-9", "<^50", "pg/mL", value_type="SN", numeric=StructuredNumeric("<", 50.0))
    observation = one(terminology, raw)
    assert (observation.comparator, observation.value, observation.unit) == ("<", 50, "ng/L")


def test_censored_number_sent_as_text(terminology: Terminology) -> None:
    observation = one(terminology, obx("4542-7", "<10", "mg/dL", value_type="ST"))
    assert (observation.comparator, observation.value, observation.unit) == ("<", 0.1, "g/L")
    assert observation.text == "<10"


def test_censored_number_in_an_nm_field(terminology: Terminology) -> None:
    observation = one(terminology, obx("2284-8", ">20", "ng/mL"))
    assert observation.comparator == ">" and observation.value == pytest.approx(45.32)
    assert observation.text == ""


def test_qualitative_result_keeps_its_text(terminology: Terminology) -> None:
    observation = one(terminology, obx("800-3", "Present", "", value_type="CWE"))
    assert observation.analyte == "schistocytes"
    assert (observation.value, observation.text, observation.unusable_reason) == (None, "Present", "")


def test_coded_result_is_read_as_a_word_never_as_a_number(terminology: Terminology) -> None:
    observation = one(terminology, obx("800-3", "52101004", "", value_type="CWE"))
    assert (observation.value, observation.text, observation.unusable_reason) == (None, "Present", "")
    local = one(terminology, obx("765-8", "12345", "", value_type="CE"))
    assert (local.value, local.text, local.unusable_reason) == (None, "12345", "")


def test_text_for_a_numeric_analyte_is_kept_as_text(terminology: Terminology) -> None:
    raw = obx("777-3", "Clumped", "10*3/uL", value_type="ST", reference_range="150-400")
    observation = one(terminology, raw)
    assert (observation.value, observation.text, observation.unusable_reason) == (None, "Clumped", "")
    assert (observation.reference_low, observation.reference_high) == (150, 400)


def test_unreadable_number_in_a_numeric_field_is_unusable(terminology: Terminology) -> None:
    observation = one(terminology, obx("2132-9", "?7", "pg/mL"))
    assert observation.value is None and observation.text == "?7"
    assert "not one number" in observation.unusable_reason


def test_number_beyond_the_float_range_is_unusable_not_infinite(terminology: Terminology) -> None:
    huge = "9" * 400
    raw = replace(obx("777-3", huge, reference_range=f"150-{huge}"), numeric=None)  # as read_oru gives it
    observation = one(terminology, raw)
    assert observation.value is None and observation.text == huge[:199] + "…"
    assert "OBX-5" in observation.unusable_reason and "platelets" in observation.unusable_reason
    assert (observation.reference_low, observation.reference_high) == (None, None)


@pytest.mark.parametrize("value", ["9" * 308, "<" + "9" * 308])
def test_number_too_large_for_the_canonical_unit_is_unusable(terminology: Terminology, value: str) -> None:
    observation = one(terminology, obx("718-7", value, "g/dL", reference_range="12.0-16.0"))
    assert observation.value is None and observation.unit == "g/L"
    assert "OBX-5" in observation.unusable_reason and "too large" in observation.unusable_reason
    assert (observation.reference_low, observation.reference_high) == (120, 160)


REPEATED = (
    "platelets: OBX-5 repeats ({n} values) for a numeric result ({kind}): which one is the result is unknown")


@pytest.mark.parametrize(
    ("value_type", "values", "numeric", "text"),
    [
        ("NM", ("82", "90"), StructuredNumeric("", 82.0), "82, 90"),
        ("NM", ("<20", "30", "40"), StructuredNumeric("<", 20.0), "<20, 30, 40"),
        ("SN", ("^82", "^90"), StructuredNumeric("", 82.0), "^82, ^90"),
    ],
)
def test_a_repeated_numeric_value_is_unusable_not_read_as_its_first_repetition(
    terminology: Terminology, value_type: str, values: tuple[str, ...], numeric: StructuredNumeric, text: str
) -> None:
    # As read_oru gives it: the first repetition parsed, every repetition kept.
    raw = replace(obx("777-3", value_type=value_type, flags=("L",)), values=values, numeric=numeric)
    observation = one(terminology, raw)
    assert (observation.value, observation.comparator, observation.text) == (None, "", text)
    assert observation.unusable_reason == REPEATED.format(n=len(values), kind=value_type)
    assert observation.flags == ("L",)  # the laboratory's own flag is still what it says (spec 2.1)


def test_range_or_ratio_is_not_one_value(terminology: Terminology) -> None:
    raw = obx("2132-9", "^10^-^20", "pg/mL", value_type="SN", numeric=StructuredNumeric("", 10.0, "-", 20.0))
    observation = one(terminology, raw)
    assert (observation.value, observation.text) == (None, "10-20")
    assert observation.unusable_reason


def test_number_for_a_presence_only_analyte_is_unusable(terminology: Terminology) -> None:
    observation = one(terminology, obx("1007-4", "2", ""))
    assert observation.analyte == "dat" and observation.value is None
    assert "presence" in observation.unusable_reason


def test_as_reported_units_are_kept(terminology: Terminology) -> None:
    observation = one(terminology, obx("40824-5", "1.2", "BU/mL"))
    assert (observation.value, observation.unit) == (1.2, "BU/mL")


def test_deleted_value(terminology: Terminology) -> None:
    raw = replace(obx("777-3", '""', status="D", numeric=None), values=("",), explicit_null=True)
    observation = one(terminology, raw)
    assert (observation.value, observation.status, observation.text) == (None, "D", "")


def test_long_text_is_cut(terminology: Terminology) -> None:
    observation = one(terminology, obx("18314-5", "x" * 500, "", value_type="TX"))
    assert len(observation.text) == 200 and observation.text.endswith("…")


def test_collection_time_falls_back_to_obr7(terminology: Terminology) -> None:
    observation = one(terminology, obx(observed_at=None))
    assert observation.observed_at == DRAWN and observation.unusable_reason == ""


def test_no_collection_time_uses_message_time_and_says_so(terminology: Terminology) -> None:
    (observation,) = terminology.observations(message(order(obx(observed_at=None), observation_time=None)))
    assert observation.observed_at == RECEIVED
    assert observation.value == 82
    assert observation.unusable_reason == "no collection time (OBX-14, OBR-7)"


def test_no_time_at_all_is_left_out_visibly(terminology: Terminology) -> None:
    untimed = message(order(obx(observed_at=None), observation_time=None), message_time=None)
    reading = terminology.read(untimed)
    assert reading.observations == ()
    assert reading.untimed == ("777-3",)


def test_status_falls_back_to_obr25(terminology: Terminology) -> None:
    (observation,) = terminology.observations(message(order(obx(status=""), result_status="P")))
    assert observation.status == "P"


def test_result_key_uses_placer_number_without_a_filler_number(terminology: Terminology) -> None:
    (observation,) = terminology.observations(message(order(obx(), filler="")))
    assert observation.result_key == ResultKey("PLAC-1", "777-3", "1")


def test_order_without_results_is_a_pending_observation(terminology: Terminology) -> None:
    pending = order(service=CodedElement("53622-7", "ADAMTS13", "LN"), result_status="I", filler="A13-9")
    (observation,) = terminology.observations(message(pending))
    assert observation.analyte == "adamts13_activity"
    assert (observation.value, observation.unit, observation.status) == (None, "%", "I")
    assert observation.observed_at == DRAWN
    assert observation.result_key == ResultKey("A13-9", "53622-7", "")
    assert observation.flags == ()


def test_order_with_results_adds_no_order_observation(terminology: Terminology) -> None:
    observations = terminology.observations(message(order(obx(), service=CBC_ORDER)))
    assert [o.analyte for o in observations] == ["platelets"]


def test_unknown_codes_are_skipped_and_listed(terminology: Terminology) -> None:
    local_only = CodedElement("mch", "Mch", "Local")
    both = CodedElement("wbc", "Wbc", "Local", "6690-2", "Wbc", "LN")
    unknown_order = order(service=CodedElement("24317-0", "Hemogram", "LN"))
    reading = terminology.read(
        message(order(obx(coded=local_only), obx(coded=both), obx("777-3")), unknown_order)
    )
    assert [o.analyte for o in reading.observations] == ["platelets"]
    assert reading.unmapped == ("mch^Mch^Local", "wbc^Wbc^Local^6690-2^Wbc^LN", "24317-0^Hemogram^LN")


def test_several_orders_keep_their_own_keys_and_times(terminology: Terminology) -> None:
    first = order(obx("777-3", observed_at=None), filler="A", observation_time=DRAWN)
    second = order(obx("2132-9", "250", "ng/L", observed_at=None), filler="B", observation_time=COLLECTED)
    plt, b12 = terminology.observations(message(first, second))
    assert (plt.result_key.filler_order_number, plt.observed_at) == ("A", DRAWN)
    assert (b12.result_key.filler_order_number, b12.observed_at, b12.value) == ("B", COLLECTED, 250)
