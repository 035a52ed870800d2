"""A result of a known analyte with no time at all (no OBX-14, no OBR-7, and MSH-7 empty or not a
date/time) cannot be evaluated at any time: the message is rejected at MSH-7, so that it is
dead-lettered with its reason instead of its result being left out unseen."""

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
