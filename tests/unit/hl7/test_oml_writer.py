"""The engine's OML^O21 writer gives exactly the bytes hl7apy builds for the same request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.errors import HL7Error
from b12stream.hl7.build import OrderLine, OrderRequest, build_oml
from b12stream.hl7.charset import codec_for_charset
from b12stream.hl7.er7 import component_text, read_encoding, split_segments
from tests.unit.engine.builders import strict_message
from tests.unit.hl7.oml_reference import all_ascii, reference_oml

# Identifiers come from other systems' messages, escapes decoded: any ER7 delimiter, any control
# character a sender wrote as \X0D\ or \.br\, and any Unicode text a sender's character set holds can
# be in them, so escaping and the declared character set are exercised on each field. The controls
# (C0, DEL, C1) and U+2028/U+2029 are what some receiver takes for the end of a line.
_CONTROLS = "".join(map(chr, (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)))
_CHARS = st.one_of(
    st.sampled_from("AZaz09-._"),
    st.sampled_from("|^~\\&"),
    st.sampled_from(_CONTROLS),
    st.characters(min_codepoint=0x80, max_codepoint=0x24F),
    st.characters(codec="utf-8"),  # any code point but a lone surrogate, which UTF-8 cannot carry
)
_TEXT = st.text(alphabet=st.one_of(_CHARS, st.characters(min_codepoint=32, max_codepoint=0x24F)), max_size=60)


def _short(maximum: int) -> st.SearchStrategy[str]:
    """Up to ``maximum`` characters, each of which may take 9 escaped (``\\XE280A8\\``)."""
    return st.text(alphabet=_CHARS, min_size=1, max_size=maximum)


_LINES = st.builds(
    OrderLine,
    placer_order_number=_short(22),
    code=st.text(alphabet="0123456789-", min_size=1, max_size=12),
    text=_TEXT,
    coding_system=st.sampled_from(["LN", "L", "99LOCAL"]),
    stat=st.booleans(),
)

_REQUESTS = st.builds(
    OrderRequest,
    control_id=st.text(alphabet="0123456789abcdef", min_size=1, max_size=20),
    message_time=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    patient_id=_short(22).filter(str.strip),  # a blank one is refused (below)
    assigning_authority=st.one_of(
        st.just(""), st.text(alphabet="ABCZ09.", min_size=1, max_size=20), _short(2)
    ),
    orders=st.lists(_LINES, min_size=1, max_size=4).map(tuple),
    parent_filler_order_number=st.one_of(st.just(""), _short(22)),
    sending_application=st.sampled_from(["B12STREAM", "CDS"]),
    sending_facility=st.sampled_from(["", "LAB", "NORTH&SOUTH"]),
    receiving_application=st.sampled_from(["", "EHR"]),
    receiving_facility=st.sampled_from(["", "WARD7"]),
    processing_id=st.sampled_from(["P", "T", "D"]),
)


@settings(max_examples=25, deadline=None)
@given(_REQUESTS)
def test_written_bytes_equal_the_hl7apy_built_message(request: OrderRequest) -> None:
    assert build_oml(request) == reference_oml(request)


# Identifiers that may not fit once escaped: 67 "|" are 201 characters escaped, 40 CR 200, 29 NEL 203.
_LONG = st.one_of(_short(22), _short(60), st.text(alphabet=_CHARS, min_size=150, max_size=260))
_ANY_REQUESTS = st.builds(
    OrderRequest,
    control_id=st.text(alphabet="0123456789abcdef", min_size=1, max_size=20),
    message_time=st.just(datetime(2026, 3, 2, 9, tzinfo=UTC)),
    patient_id=_LONG,
    assigning_authority=st.one_of(st.just(""), _short(24)),
    orders=st.lists(
        st.builds(OrderLine, placer_order_number=_LONG, code=st.just("2132-9"), text=_TEXT),
        min_size=1,
        max_size=2,
    ).map(tuple),
    parent_filler_order_number=st.one_of(st.just(""), _LONG),
)


def _built(build: Callable[[OrderRequest], bytes], request: OrderRequest) -> bytes | None:
    try:
        return build(request)
    except HL7Error:
        return None


@settings(max_examples=50, deadline=None)
@given(_ANY_REQUESTS)
def test_the_writer_refuses_exactly_what_hl7apy_refuses(request: OrderRequest) -> None:
    assert _built(build_oml, request) == _built(reference_oml, request)


@settings(max_examples=50, deadline=None)
@given(_REQUESTS)
def test_written_values_parse_strictly_and_read_back_as_given(request: OrderRequest) -> None:
    er7 = build_oml(request)
    declared = strict_message(er7).msh.msh_18.to_er7()
    assert declared == ("" if all_ascii(request) else "UNICODE UTF-8")
    # Read as the message says it is written (table 0211: ASCII when MSH-18 is empty).
    text = er7.decode(codec_for_charset(declared or "ASCII") or "")
    # No line splitter (CR, LF, NEL, U+2028, ...) finds a line end but the segment terminators.
    assert text.splitlines() == text.split("\r")[:-1]
    enc = read_encoding(text)
    segments = [segment.split("|") for segment in split_segments(text)]
    assert [fields[0] for fields in segments] == ["MSH", "PID", *["ORC", "TQ1", "OBR"] * len(request.orders)]
    pid = segments[1]
    assert component_text(pid[3], 1, enc) == request.patient_id
    assert component_text(pid[3], 4, enc) == request.assigning_authority
    for number, line in enumerate(request.orders):
        orc, _, obr = segments[2 + 3 * number : 5 + 3 * number]
        assert component_text(orc[2], 1, enc) == line.placer_order_number == component_text(obr[2], 1, enc)
        assert component_text(obr[4], 1, enc) == line.code
        assert line.text.startswith(component_text(obr[4], 2, enc))
        for parent in (orc[8] if len(orc) > 8 else "", obr[29] if len(obr) > 29 else ""):
            assert component_text(parent, 2, enc) == request.parent_filler_order_number


def _request(**changes: object) -> OrderRequest:
    base = {
        "control_id": "C1",
        "message_time": datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(seconds=1),
        "patient_id": "MRN1",
        "assigning_authority": "HOSP",
        "orders": (OrderLine("P1", "2132-9", "Cobalamin", stat=True),),
        "parent_filler_order_number": "F1",
    }
    return OrderRequest(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"assigning_authority": "H" * 21},
        {"sending_application": "B" * 21},
        {"orders": (OrderLine("P" * 200, "2132-9", "x"),)},
        {"parent_filler_order_number": "F" * 200},
        {"orders": ()},
        {"patient_id": "X" * 200},
        {"patient_id": "|" * 67},
        {"patient_id": "\r" * 40},
        {"assigning_authority": "&" * 7},
        {"parent_filler_order_number": "|" * 67},
        {"orders": (OrderLine("~" * 67, "2132-9", "x"),)},
        {"patient_id": "\x85" * 29},
        {"parent_filler_order_number": "\u2028" * 23},
        {"patient_id": " \u3000", "assigning_authority": ""},
        {"patient_id": "\xa0"},
    ],
    ids=[
        "authority", "application", "placer", "parent", "no-orders", "patient", "patient-escaped",
        "patient-controls", "authority-escaped", "parent-escaped", "placer-escaped", "patient-c1",
        "parent-line-separators", "patient-blank", "patient-blank-with-authority",
    ],
)
def test_what_hl7apy_refuses_the_writer_refuses_too(changes: dict[str, object]) -> None:
    request = _request(**changes)
    with pytest.raises(HL7Error):
        reference_oml(request)
    with pytest.raises(HL7Error):
        build_oml(request)


@pytest.mark.parametrize(
    ("changes", "where", "maximum"),
    [
        ({"patient_id": "MRN7|" * 40}, "PID-3.1", 199),
        ({"assigning_authority": "MRN7&&&&&&"}, "PID-3.4", 20),
        ({"parent_filler_order_number": "MRN7\r" * 40}, "ORC-8.2.1", 199),
        ({"patient_id": "MRN7\x85" * 19}, "PID-3.1", 199),
    ],
)
def test_a_refusal_names_the_component_and_its_limit_but_not_the_value(
    changes: dict[str, object], where: str, maximum: int
) -> None:
    with pytest.raises(HL7Error) as refused:
        build_oml(_request(**changes))
    message = str(refused.value)
    assert where in message and f"at most {maximum}" in message
    assert "MRN7" not in message


def test_an_ascii_message_leaves_msh18_empty_and_its_bytes_as_they_were():
    er7 = build_oml(_request())
    assert er7.isascii()
    assert er7.split(b"\r")[0] == b"MSH|^~\\&|B12STREAM||||20260302090001+0000||OML^O21^OML_O21|C1|P|2.5.1"


def test_a_message_with_text_beyond_ascii_declares_utf8_and_is_written_in_it():
    line = OrderLine("P1", "2132-9", "Cobalamine (sérum)")
    er7 = build_oml(_request(patient_id="MÜLLER-Ø7", orders=(line,)))
    parsed = strict_message(er7)
    assert parsed.msh.msh_18.to_er7() == "UNICODE UTF-8"
    assert er7.split(b"\r")[0].endswith(b"|P|2.5.1||||||UNICODE UTF-8")
    text = er7.decode(codec_for_charset(parsed.msh.msh_18.to_er7()) or "")
    assert text.split("\r")[1].startswith("PID|||MÜLLER-Ø7^^^HOSP|")
    assert parsed.children[2].oml_o21_observation_request.obr.obr_4.ce_2.to_er7() == "Cobalamine (sérum)"


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\x80", "\\XC280\\"),
        ("\x85", "\\XC285\\"),  # NEL: a line end to Java's \\R and Python's splitlines
        ("\x9f", "\\XC29F\\"),
        ("\u2028", "\\XE280A8\\"),
        ("\u2029", "\\XE280A9\\"),
    ],
)
def test_c1_controls_and_line_separators_go_out_as_hex_escapes_of_their_utf8_bytes(
    char: str, escaped: str
) -> None:
    er7 = build_oml(_request(patient_id=f"MRN{char}7", parent_filler_order_number=f"F{char}1"))
    text = er7.decode("ascii")  # every character beyond ASCII is escaped ...
    msh, pid, orc = text.split("\r")[:3]
    assert msh.endswith("|UNICODE UTF-8")  # ... as UTF-8 bytes, which MSH-18 says
    assert pid.startswith(f"PID|||MRN{escaped}7^^^HOSP|")
    assert orc.endswith(f"|^F{escaped}1")
    assert text.splitlines() == text.split("\r")[:-1]
    strict_message(er7)
    enc = read_encoding(msh)
    assert component_text(pid.split("|")[3], 1, enc) == f"MRN{char}7"
    assert component_text(orc.split("|")[8], 2, enc) == f"F{char}1"


def test_a_processing_id_outside_table_0103_is_refused() -> None:
    with pytest.raises(HL7Error, match="MSH-11 must be one of P, T, D"):
        build_oml(_request(processing_id="X"))


@pytest.mark.parametrize("oid", ["2.16.840.1.113883.19.5.99", "1.2.840.114350.1.13.861.1.7.5.737384.14"])
def test_an_oid_too_long_for_hd1_goes_out_as_hd2_with_type_iso(oid: str) -> None:
    """Labs send their assigning authority's OID in PID-3.4.1, where v2.5.1 allows 20 characters: the
    order message carries it where v2.5.1 puts an OID, so it still goes out, naming the same authority."""
    request = _request(assigning_authority=oid)
    er7 = build_oml(request)
    assert er7 == reference_oml(request)
    pid = strict_message(er7).oml_o21_patient.pid
    assert (pid.pid_3.cx_4.hd_1.to_er7(), pid.pid_3.cx_4.hd_2.to_er7(), pid.pid_3.cx_4.hd_3.to_er7()) == (
        "", oid, "ISO")


@pytest.mark.parametrize(
    "authority", ["RIVERSIDE-GENERAL-HOSPITAL", "2.16.840.1.113883.19.5.99.", "3.16.840.1.113883.19.5.99"]
)
def test_an_authority_too_long_for_hd1_that_is_no_oid_is_still_refused(authority: str) -> None:
    request = _request(assigning_authority=authority)
    with pytest.raises(HL7Error, match=r"PID-3\.4"):
        build_oml(request)
    with pytest.raises(HL7Error):
        reference_oml(request)
