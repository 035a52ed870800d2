"""A result of a known analyte with no time at all (no OBX-14, no OBR-7, and MSH-7 empty or not a
date/time) that the rules read cannot be evaluated at any time: the message is rejected at MSH-7, so
that it is dead-lettered with its reason instead of its result being left out unseen. A cancellation
with no time is left out as unusable, and a result whose status the engine does not act on needs no
time: the message's timed results are used."""

from __future__ import annotations

import pytest

from b12stream.commands.inspect import inspect_bytes
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.hl7.model import Rejection


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _message(msh7: str, obr7: str = "", obx14: str = "") -> bytes:
    lines = [
        f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{msh7}||ORU^R01|UT1|P|2.5",
        "PID|1||UT0001^^^HOSP^MR||TEST^UNTIMED||19600101|F",
        f"OBR|1|P-1|F-1|PANEL^Panel^L|||{obr7}",
        f"OBX|1|NM|777-3^Platelets^LN||40|10*3/uL|150-400|L|||F|||{obx14}",
        "OBX|2|NM|99999-9^Not an analyte^LN||1|||||F",
    ]
    return ("\r".join(lines) + "\r").encode()


@pytest.mark.parametrize("msh7", ["", "yesterday"])
def test_a_known_result_with_no_time_rejects_its_message_at_msh_7(engine: Engine, msh7: str) -> None:
    data = _message(msh7)
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("no time for 777-3: neither OBX-14 nor OBR-7 gives one")
    location = rejection.location
    assert (location.segment, location.segment_index, location.field) == ("MSH", 1, 7)
    assert location.byte_offset == data.index(b"||ORU^R01") - len(msh7)
    assert rejection.control_id == "UT1"


@pytest.mark.parametrize(
    "times", [{"msh7": "20260302080000"}, {"msh7": "", "obr7": "20260302080000"},
              {"msh7": "", "obx14": "20260302080000"}],
)
def test_any_one_of_the_three_times_is_enough(engine: Engine, times: dict[str, str]) -> None:
    accepted = ingest(_message(**times), engine)
    assert isinstance(accepted, Accepted)
    assert [o.analyte for o in accepted.observations] == ["platelets"]


def test_an_untimed_result_of_no_known_analyte_rejects_nothing(engine: Engine) -> None:
    unknown_only = _message("").replace(b"777-3^Platelets", b"88888-8^Something else")
    accepted = ingest(unknown_only, engine)
    assert isinstance(accepted, Accepted) and accepted.observations == ()


def test_inspect_rejects_it_as_the_engine_does(engine: Engine) -> None:
    data = _message("")
    [line] = inspect_bytes(data, "untimed.hl7", engine.terminology, engine.key_rule)
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert (line["outcome"], line["reason"]) == ("rejected", rejection.reason)
    assert line["location"]["byte_offset"] == rejection.location.byte_offset


def _with_times(obx14: str, obr7: str, code: str = "777-3^Platelets") -> bytes:
    return _message("20260302090000", obr7=obr7, obx14=obx14).replace(b"777-3^Platelets", code.encode())


@pytest.mark.parametrize("written", ["2026-03-02T08:00", "20261399250000", "yesterday"])
def test_an_observation_time_that_is_no_date_rejects_a_known_result_where_it_is(
    engine: Engine, written: str
) -> None:
    """Read as no time, the count would be timed by OBR-7 without a word."""
    data = _with_times(written, "20260302080000")
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == (
        f"OBX-14 (observation time) is not an HL7 date/time YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ] "
        f"({len(written)} characters, not shown)")
    location = rejection.location
    assert (location.segment, location.segment_index, location.field) == ("OBX", 4, 14)
    assert location.byte_offset == data.index(written.encode())


def test_a_collection_time_that_is_no_date_rejects_a_known_result_it_times(engine: Engine) -> None:
    data = _with_times("", "2026030")
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("OBR-7 (collection time) is not an HL7 date/time")
    location = rejection.location
    assert (location.segment, location.segment_index, location.field) == ("OBR", 3, 7)
    assert location.byte_offset == data.index(b"|2026030\r") + 1


@pytest.mark.parametrize(
    ("obx14", "obr7", "code"),
    [
        ("yesterday", "20260302080000", "88888-8^Something else"),  # no result the engine reads
        ("20260302080000", "2026030", "777-3^Platelets"),  # the count has its own time
    ],
)
def test_a_time_that_is_no_date_but_times_no_known_result_costs_the_message_nothing(
    engine: Engine, obx14: str, obr7: str, code: str
) -> None:
    accepted = ingest(_with_times(obx14, obr7, code), engine)
    assert isinstance(accepted, Accepted)


def test_inspect_rejects_a_time_that_is_no_date_as_the_engine_does(engine: Engine) -> None:
    data = _with_times("yesterday", "20260302080000")
    [line] = inspect_bytes(data, "bad-time.hl7", engine.terminology, engine.key_rule)
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert (line["outcome"], line["reason"]) == ("rejected", rejection.reason)
    assert line["location"]["byte_offset"] == rejection.location.byte_offset


# A message without MSH-7 whose count has its own time (OBX-14), with a B12 result that has none.
def _with_untimed_b12(b12: str) -> bytes:
    lines = [
        "MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|||ORU^R01|UT2|P|2.5",
        "PID|1||UT0001^^^HOSP^MR||TEST^UNTIMED||19600101|F",
        "OBR|1|P-1|F-1|PANEL^Panel^L",
        "OBX|1|NM|777-3^Platelets^LN||40|10*3/uL|150-400|L|||F|||20260302080000",
        *b12.split("\r"),
    ]
    return ("\r".join(lines) + "\r").encode()


CANCELLED_B12 = {
    "result": "OBX|2|NM|2132-9^B12^LN||||||||X",
    "order": "OBR|2|P-2|F-2|2132-9^B12^LN|||||||||||||||||||||X",
    "order then result": "OBR|2|P-2|F-2|B12^B12 order^L|||||||||||||||||||||X\rOBX|1|NM|2132-9^B12^LN||",
}


@pytest.mark.parametrize("b12", CANCELLED_B12.values(), ids=CANCELLED_B12.keys())
def test_an_untimed_cancellation_is_unusable_and_the_timed_results_are_used(engine: Engine, b12: str) -> None:
    """A cancellation clears pending orders and re-allows suggestions from its time (R10/R11): with no
    time it can do neither, so it is left out, said so, and the message's timed count still counts."""
    accepted = ingest(_with_untimed_b12(b12), engine)
    assert isinstance(accepted, Accepted)
    assert [(o.analyte, o.value) for o in accepted.observations] == [("platelets", 40)]
    (cancelled,) = accepted.unusable
    assert (cancelled.analyte, cancelled.code) == ("b12_total", "2132-9")
    assert cancelled.reason == (
        "b12_total: a cancellation (X) with no time (no OBX-14, OBR-7 or MSH-7) cannot be placed in the "
        "patient's history: it clears no pending order and re-allows no suggestion")


@pytest.mark.parametrize(
    "b12",
    ["OBX|2|NM|2132-9^B12^LN||300|pg/mL", "OBR|2|P-2|F-2|2132-9^B12^LN", "OBX|2|ST|2132-9^B12^LN||x|||||Y"],
    ids=["result with no status", "order with no status", "unknown status"],
)
def test_an_untimed_result_whose_status_the_engine_does_not_act_on_costs_nothing(
    engine: Engine, b12: str
) -> None:
    """Timed or not, the patient history does nothing with it: left out, the message is used."""
    accepted = ingest(_with_untimed_b12(b12), engine)
    assert isinstance(accepted, Accepted)
    assert [o.analyte for o in accepted.observations] == ["platelets"]
    assert accepted.unusable == ()


@pytest.mark.parametrize("status", ["F", "C", "U", "P", "S", "R", "I", "O", "D", "W"])
@pytest.mark.parametrize("kind", ["result", "order"])
def test_an_untimed_result_the_rules_read_still_rejects_its_message_at_msh_7(
    engine: Engine, status: str, kind: str
) -> None:
    """Evidence, pending and removed results are what the rules read, each at its collection time."""
    b12 = CANCELLED_B12[kind].replace("||X", f"||{status}").replace("||||X", f"||||{status}")
    data = _with_untimed_b12(b12)
    rejection = ingest(data, engine)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("no time for 2132-9: neither OBX-14 nor OBR-7 gives one")
    location = rejection.location
    assert (location.segment, location.field, location.byte_offset) == ("MSH", 7, data.index(b"||ORU^R01"))


def test_inspect_lists_an_untimed_cancellation_as_left_out(engine: Engine) -> None:
    data = _with_untimed_b12(CANCELLED_B12["result"])
    [line] = inspect_bytes(data, "untimed.hl7", engine.terminology, engine.key_rule)
    accepted = ingest(data, engine)
    assert isinstance(accepted, Accepted)
    assert line["outcome"] == "accepted"
    assert [o["analyte"] for o in line["observations"]] == ["platelets"]
    assert line["unusable"] == [f"2132-9 ({accepted.unusable[0].reason})"]
