"""read_oru on hand-written messages: every extracted field, and each rejection reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from b12stream.hl7.model import (
    CodedElement,
    Location,
    OruMessage,
    Rejection,
    StructuredNumeric,
    UnreadableTime,
)
from b12stream.hl7.oru import not_a_time, read_oru, read_patient

CBC = "\r".join([
    "MSH|^~\\&|LIS^1.2.3^ISO|CITYLAB|B12STREAM|HOSP|20240301083000+0100||ORU^R01^ORU_R01|CTL-0001|P|2.5.1",
    "PID|1||MRN123^^^HOSP&1.2.840&ISO^MR~NHS999^^^NHS^NH||DOE^JANE||19700101|F",
    "PV1|1|I|WARD1",
    "ORC|RE|PLC-1^EHR|FIL-1^LAB",
    "OBR|1|PLC-OBR|FIL-OBR|58410-2^CBC panel^LN^CBC^Full blood count^L|||20240301071500|||||||||||||||"
    "20240301082900|||F",
    "OBX|1|NM|777-3^Platelets^LN^PLT^Platelet count^L|1|85|10*9/L^^UCUM|150-400|L~A|||F|||20240301071500",
    "NTE|1||Clumps seen\\.br\\rechecked",
    "NTE|2||Film \\T\\ smear",
    "OBX|2|SN|2132-9^B12^LN||<^50|pg/mL|200-900|LL|||F",
    "OBX|3|NM|718-7^Hgb^LN||\"\"|g/dL|||||D",
    "OBX|4|NM|787-2^MCV^LN||>120|fL|||||F",
    "OBX|5|SN|5198-7^Titre^LN||^1^:^128||||||F",
    "OBX|6|CWE|800-3^Schistocytes^LN||POS^Positive^HL70078~DET^Detected^HL70078||||||P",
    "OBX|7|ST|X-1^Comment^L||a\\S\\b\\F\\c\\R\\d\\E\\e\\Zlocal\\",
])


def _read(text: str) -> OruMessage:
    result = read_oru(text.encode())
    assert isinstance(result, OruMessage), result
    return result


def test_header_patient_and_visit_are_extracted() -> None:
    message = _read(CBC)
    header = message.header
    assert (header.control_id, header.message_type, header.trigger_event, header.version) == (
        "CTL-0001", "ORU", "R01", "2.5.1")
    assert (header.sending_application, header.sending_facility) == ("LIS", "CITYLAB")
    assert header.message_time == datetime(2024, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    assert header.charset == "utf-8"
    assert [(p.id, p.assigning_authority, p.identifier_type) for p in message.patient_ids] == [
        ("MRN123", "HOSP", "MR"), ("NHS999", "NHS", "NH")]
    assert message.sex == "F"
    assert message.visit_class == "I"


def test_order_prefers_orc_numbers_and_reads_obr() -> None:
    (order,) = _read(CBC).orders
    assert (order.placer_order_number, order.filler_order_number) == ("PLC-1", "FIL-1")
    assert order.universal_service_id == CodedElement(
        "58410-2", "CBC panel", "LN", "CBC", "Full blood count", "L")
    assert order.observation_time == datetime(2024, 3, 1, 7, 15, tzinfo=UTC)
    assert order.result_status == "F"
    assert order.order_control == "RE"
    assert order.segment_index == 5
    assert len(order.observations) == 7


def test_order_numbers_fall_back_to_obr_without_orc() -> None:
    text = CBC.replace("ORC|RE|PLC-1^EHR|FIL-1^LAB\r", "")
    (order,) = _read(text).orders
    assert (order.placer_order_number, order.filler_order_number) == ("PLC-OBR", "FIL-OBR")
    assert order.order_control == ""


def test_numeric_observation_with_flags_comments_and_time() -> None:
    platelets = _read(CBC).orders[0].observations[0]
    assert platelets.code == CodedElement("777-3", "Platelets", "LN", "PLT", "Platelet count", "L")
    assert (platelets.set_id, platelets.value_type, platelets.sub_id) == ("1", "NM", "1")
    assert platelets.values == ("85",)
    assert platelets.numeric == StructuredNumeric("", 85.0)
    assert platelets.units == "10*9/L"
    assert platelets.reference_range == "150-400"
    assert platelets.abnormal_flags == ("L", "A")
    assert platelets.result_status == "F"
    assert platelets.observed_at == datetime(2024, 3, 1, 7, 15, tzinfo=UTC)
    assert platelets.comments == ("Clumps seen\nrechecked", "Film & smear")
    assert platelets.segment_index == 6
    assert not platelets.explicit_null


@pytest.mark.parametrize(
    ("index", "numeric"),
    [
        (1, StructuredNumeric("<", 50.0)),
        (3, StructuredNumeric(">", 120.0)),
        (4, StructuredNumeric("", 1.0, ":", 128.0)),
    ],
)
def test_structured_numeric_values(index: int, numeric: StructuredNumeric) -> None:
    assert _read(CBC).orders[0].observations[index].numeric == numeric


def test_explicit_null_is_recorded() -> None:
    hemoglobin = _read(CBC).orders[0].observations[2]
    assert hemoglobin.explicit_null
    assert hemoglobin.values == ()
    assert hemoglobin.numeric is None
    assert hemoglobin.result_status == "D"


def test_coded_values_keep_the_code_of_each_repetition() -> None:
    schistocytes = _read(CBC).orders[0].observations[5]
    assert schistocytes.values == ("POS", "DET")
    assert schistocytes.numeric is None


def test_escapes_are_decoded_and_unknown_ones_kept() -> None:
    text_value = _read(CBC).orders[0].observations[6]
    assert text_value.values == ("a^b|c~d\\e\\Zlocal\\",)


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_any_segment_terminator(terminator: str) -> None:
    message = _read(CBC.replace("\r", terminator) + terminator + terminator)
    assert len(message.orders[0].observations) == 7


def test_latin1_bytes_fall_back_and_msh18_is_honoured() -> None:
    latin = CBC.replace("DOE^JANE", "DOE^JOSÉ").replace("2.5.1", "2.5.1||||||8859/1")
    message = read_oru(latin.encode("latin-1"))
    assert isinstance(message, OruMessage)
    assert (message.header.charset, message.header.charset_note) == ("latin-1", "MSH-18 8859/1")
    undeclared = read_oru(CBC.replace("DOE^JANE", "DOE^JOSÉ").encode("latin-1"))
    assert isinstance(undeclared, OruMessage)
    assert undeclared.header.charset == "latin-1"
    assert "fallback" in undeclared.header.charset_note


def _rejected(text: str | bytes) -> Rejection:
    result = read_oru(text.encode() if isinstance(text, str) else text)
    assert isinstance(result, Rejection), result
    assert result.reason
    return result


def test_not_oru_r01_names_the_type() -> None:
    rejection = _rejected(CBC.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01"))
    assert rejection.message_type == "ADT^A01"
    assert "ADT^A01" in rejection.reason
    assert (rejection.location.segment, rejection.location.field) == ("MSH", 9)
    assert rejection.control_id == "CTL-0001"


def test_missing_control_id_names_msh10() -> None:
    text = CBC.replace("CTL-0001", "")
    rejection = _rejected(text)
    assert "MSH-10" in rejection.reason
    assert (rejection.location.segment, rejection.location.field) == ("MSH", 10)
    assert rejection.location.byte_offset == text.index("|P|2.5.1")


def test_missing_message_type_names_msh9() -> None:
    rejection = _rejected(CBC.replace("ORU^R01^ORU_R01", ""))
    assert "MSH-9" in rejection.reason
    assert rejection.location.field == 9


def test_obx_before_obr_is_rejected_with_its_byte_offset() -> None:
    text = CBC.replace("ORC|RE|PLC-1^EHR|FIL-1^LAB\r", "OBX|1|NM|X^Y^L||1|||||F\r")
    rejection = _rejected(text)
    assert "OBX before any OBR" in rejection.reason
    assert rejection.location.segment == "OBX"
    assert rejection.location.segment_index == 4
    assert rejection.location.byte_offset == text.index("OBX|1|NM|X")


def test_missing_pid_is_rejected() -> None:
    pid = CBC.split("\r")[1]
    rejection = _rejected(CBC.replace(pid + "\r", ""))
    assert "no PID" in rejection.reason
    assert (rejection.location.segment, rejection.location.segment_index) == ("OBR", 4)


@pytest.mark.parametrize(("prefix", "suffix"), [(b"", b""), (b"\x0b", b"\x1c\r"), (b" \r\n", b"")])
def test_missing_pid_is_located_at_the_message_it_is_missing_from(prefix: bytes, suffix: bytes) -> None:
    headers_only = prefix + CBC.split("\r")[0].encode() + b"\rPV1|1|I\r" + suffix
    for rejection in (read_oru(headers_only), read_patient(headers_only)):
        assert isinstance(rejection, Rejection)
        assert rejection.reason == "no PID segment"
        assert rejection.location == Location("PID", None, None, len(prefix))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", None),
        (b"PID|1||X", None),
        (b"MSH|^~\\|A|B", 2),
        (b"MSH|^~\\&&|A", 2),
        (b"MSHX^~\\&|A", 1),
    ],
)
def test_unusable_headers_are_rejected(data: bytes, field: int | None) -> None:
    rejection = _rejected(data)
    assert rejection.location.field == field


def test_mllp_bytes_are_tolerated_by_read_oru() -> None:
    assert isinstance(read_oru(b"\x0b" + CBC.encode() + b"\x1c\r"), OruMessage)


def test_patient_level_observations_are_skipped_from_v27_and_rejected_before() -> None:
    patient_obx = "PV1|1|I|WARD1\rOBX|1|ST|PREG^Pregnant^L||N||||||F\r"
    v28 = CBC.replace("|P|2.5.1", "|P|2.8").replace("PV1|1|I|WARD1\r", patient_obx)
    message = _read(v28)
    assert len(message.orders[0].observations) == 7
    assert message.orders[0].observations[0].comments == ("Clumps seen\nrechecked", "Film & smear")
    rejection = _rejected(CBC.replace("PV1|1|I|WARD1\r", patient_obx))
    assert rejection.location.segment_index == 4


def test_patient_level_observations_are_kept_apart_from_the_orders_results() -> None:
    """Left out of the results (no order holds them), but kept so that what was left out can be told."""
    patient_obx = "PV1|1|I|WARD1\rOBX|1|NM|777-3^Platelets^LN||82|10*9/L|||||F|||20240301071500\r"
    message = _read(CBC.replace("|P|2.5.1", "|P|2.7").replace("PV1|1|I|WARD1\r", patient_obx))
    (outside,) = message.patient_observations
    assert (outside.code.code, outside.values, outside.segment_index) == ("777-3", ("82",), 4)
    assert len(message.orders[0].observations) == 7
    assert _read(CBC).patient_observations == ()


def test_a_patient_level_observation_with_a_time_that_is_no_timestamp_costs_no_result() -> None:
    """No order holds it and no rule reads its time: its OBX-14 replaces no other time, and the
    message's results are read as they were before patient-level OBX were kept apart."""
    patient_obx = "PV1|1|I|WARD1\rOBX|1|NM|29463-7^Weight^LN||70|kg|||||F|||yesterday\r"
    message = _read(CBC.replace("|P|2.5.1", "|P|2.7").replace("PV1|1|I|WARD1\r", patient_obx))
    (outside,) = message.patient_observations
    assert (outside.code.code, outside.observed_at) == ("29463-7", None)
    assert len(message.orders[0].observations) == 7


def test_comments_attach_only_to_the_observation_they_follow() -> None:
    text = CBC.replace("OBR|1|", "NTE|1||patient note\rOBR|1|").replace(
        "|||F\rOBX|1|", "|||F\rNTE|1||order note\rNTE|2||\rOBX|1|")
    order = _read(text).orders[0]
    assert order.observations[0].comments == ("Clumps seen\nrechecked", "Film & smear")
    assert all(obs.comments == () for obs in order.observations[1:])


def test_second_patient_is_rejected() -> None:
    pid = CBC.split("\r")[1]
    rejection = _rejected(CBC + "\r" + pid)
    assert "more than one PID" in rejection.reason
    assert rejection.location.segment_index == 15


def test_malformed_segment_id_is_rejected() -> None:
    text = CBC.replace("NTE|2||Film", "NTE|2||Film\rString|||x")
    rejection = _rejected(text)
    assert rejection.reason.startswith("malformed segment id (6 characters,")
    assert rejection.location == Location(None, 9, None, text.index("String|||x"))


@pytest.mark.parametrize("written", ["2024-03-01T07:15", "20241399250000", "yesterday", "202403010715+25"])
def test_an_observation_time_that_is_not_a_timestamp_is_listed_where_it_is(written: str) -> None:
    """Read as missing, it would be replaced by OBR-7 without a word: the reader lists it, and
    ``engine.ingest`` rejects the message there when it times a result of a known analyte."""
    text = CBC.replace("|||F|||20240301071500", f"|||F|||{written}")
    message = _read(text)
    assert message.orders[0].observations[0].observed_at is None
    assert message.unreadable_times == (UnreadableTime("OBX", 6, 14, len(written)),)
    assert not_a_time(message.unreadable_times[0]) == (
        f"OBX-14 (observation time) is not an HL7 date/time YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ] "
        f"({len(written)} characters, not shown)")


def test_a_collection_time_that_is_not_a_timestamp_is_listed_where_it_is() -> None:
    message = _read(CBC.replace("|||20240301071500|||", "|||2024030|||"))
    assert message.orders[0].observation_time is None
    assert message.unreadable_times == (UnreadableTime("OBR", 5, 7, 7),)
    reason = not_a_time(message.unreadable_times[0])
    assert reason.startswith("OBR-7 (collection time) is not an HL7 date/time")


@pytest.mark.parametrize("written", ['""', "", "^S"])
def test_an_empty_or_deleted_observation_time_is_no_time(written: str) -> None:
    observation = _read(CBC.replace("|||F|||20240301071500", f"|||F|||{written}")).orders[0].observations[0]
    assert observation.observed_at is None


@pytest.mark.parametrize(("declared", "used"), [("!", "|"), ("|", "!")])
def test_a_segment_that_does_not_use_the_declared_field_separator_is_rejected_saying_so(
    declared: str, used: str
) -> None:
    msh, *rest = CBC.split("\r")
    text = "\r".join([msh.replace("|", declared), *(segment.replace("|", used) for segment in rest)])
    rejection = _rejected(text)
    assert rejection.reason == (
        f"segment PID is followed by {used!r}, not the field separator {declared!r} that MSH-1 declares")
    assert rejection.location == Location("PID", 2, None, text.index("PID"))


def test_the_patient_read_alone_names_a_pid_written_with_another_field_separator() -> None:
    """The stream's ingest stage keys a message by MSH and PID alone (``read_patient``): its dead
    letter must say what ``inspect`` says, not that the message has no PID."""
    msh, *rest = CBC.split("\r")
    text = "\r".join([msh, *(segment.replace("|", "!") for segment in rest)])
    rejection = read_patient(text.encode())
    assert isinstance(rejection, Rejection)
    assert rejection == _rejected(text)


def test_repetitions_and_padding_in_a_non_plain_observation() -> None:
    text = CBC.replace("OBX|4|NM|787-2^MCV^LN||>120|fL|||||F",
                       "OBX|4|NM|787-2^MCV^LN| 2 |>120~121|fL&UCUM^x| 80-100 |H~A~|||F ||| 20240301071500^S")
    mcv = _read(text).orders[0].observations[3]
    assert (mcv.sub_id, mcv.values, mcv.units, mcv.reference_range) == ("2", (">120", "121"), "fL", "80-100")
    assert (mcv.abnormal_flags, mcv.result_status) == (("H", "A"), "F")
    assert mcv.numeric == StructuredNumeric(">", 120.0)
    assert mcv.observed_at == datetime(2024, 3, 1, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("obx_6", "units"),
    [
        ("10^9/L", "10^9/L"),  # the component separator unescaped, as laboratory systems send it
        ("10^3/uL^thousand per microliter^UCUM", "10^3/uL"),
        ("10\\S\\9/L", "10^9/L"),  # escaped, as HL7 wants it
        ("x10^3/uL", "x10^3/uL"),  # written as a multiplier, the caret unescaped
        ("X10^9/L^^UCUM", "X10^9/L"),
        ("\u00d710^9/L", "\u00d710^9/L"),
        ("x^ratio", "x"),
        ("10*9/L^10^9/L^UCUM", "10*9/L"),
        ("1^ratio^UCUM", "1"),
        ("g/dL^^UCUM", "g/dL"),
    ],
)
def test_a_power_of_ten_unit_sent_unescaped_is_read_whole(obx_6: str, units: str) -> None:
    text = CBC.replace("|85|10*9/L^^UCUM|", f"|85|{obx_6}|")
    assert _read(text).orders[0].observations[0].units == units
