"""Generated ORU^R01 messages parse back to what was generated; arbitrary bytes never raise."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b12stream.hl7.er7 import Encoding
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import OruMessage, Rejection, StructuredNumeric
from b12stream.hl7.oru import read_oru

_DELIMITER_POOL = "|^~\\&#$%*!@+=:;?/,_{}[]<>`'()"
_TEXT_ALPHABET = "abcXYZ019.-_:/µéΩ" + _DELIMITER_POOL
_CODE_ALPHABET = "ABCxyz0123456789-."
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class GeneratedObservation:
    value_type: str
    code: str
    system: str
    value: str  # the decoded text the parser must give back (component 1 for CWE)
    numeric: StructuredNumeric | None
    unit: str
    status: str


@dataclass(frozen=True)
class GeneratedOrder:
    filler: str
    service_code: str
    observations: tuple[GeneratedObservation, ...]


@dataclass(frozen=True)
class GeneratedMessage:
    enc: Encoding
    control_id: str
    patient_ids: tuple[tuple[str, str, str], ...]
    orders: tuple[GeneratedOrder, ...]
    terminators: tuple[str, ...]


def _escape(text: str, enc: Encoding) -> str:
    out = text.replace(enc.escape, f"{enc.escape}E{enc.escape}")
    for char, letter in ((enc.field, "F"), (enc.component, "S"), (enc.subcomponent, "T"),
                         (enc.repetition, "R"), (enc.truncation, "P")):
        if char:
            out = out.replace(char, f"{enc.escape}{letter}{enc.escape}")
    return out


@st.composite
def encodings(draw: st.DrawFn) -> Encoding:
    chars = draw(st.permutations(_DELIMITER_POOL))
    truncation = draw(st.booleans())
    return Encoding(chars[0], chars[1], chars[2], chars[3], chars[4], chars[5] if truncation else "")


codes = st.text(_CODE_ALPHABET, min_size=1, max_size=8)
texts = st.text(_TEXT_ALPHABET, min_size=1, max_size=12).filter(lambda t: t != '""')


@st.composite
def observations(draw: st.DrawFn) -> GeneratedObservation:
    value_type = draw(st.sampled_from(["NM", "ST", "CWE", "SN"]))
    numeric = None
    if value_type == "NM":
        number = draw(st.integers(0, 99999)) / 100
        comparator = draw(st.sampled_from(["", "", "<", ">", "<=", ">="]))
        value = f"{comparator}{number}"
        numeric = StructuredNumeric(comparator, number)
    elif value_type == "SN":
        first, second = draw(st.integers(1, 999)), draw(st.integers(1, 999))
        separator = draw(st.sampled_from(["", ":", "-"]))
        comparator = "" if separator else draw(st.sampled_from(["", "<", ">"]))
        value = f"{comparator}^{first}" + (f"^{separator}^{second}" if separator else "")
        numeric = StructuredNumeric(comparator, float(first), separator, float(second) if separator else None)
    else:
        value = draw(texts)
    return GeneratedObservation(
        value_type, draw(codes), draw(st.sampled_from(["LN", "L", "99LOCAL"])), value, numeric,
        draw(st.sampled_from(["", "10*9/L", "g/dL", "%"])), draw(st.sampled_from(["F", "C", "P", "X"])))


@st.composite
def messages(draw: st.DrawFn) -> GeneratedMessage:
    orders = draw(st.lists(
        st.builds(GeneratedOrder, codes, codes, st.lists(observations(), max_size=4).map(tuple)),
        min_size=1, max_size=3))
    ids = draw(st.lists(st.tuples(texts, codes, st.sampled_from(["MR", "PI", ""])), min_size=1, max_size=3))
    segment_count = 2 + sum(1 + len(o.observations) for o in orders)
    return GeneratedMessage(
        enc=draw(encodings()),
        control_id=draw(codes),
        patient_ids=tuple(ids),
        orders=tuple(orders),
        terminators=tuple(draw(st.lists(st.sampled_from(["\r", "\n", "\r\n"]),
                                        min_size=segment_count, max_size=segment_count))),
    )


def _render(message: GeneratedMessage) -> str:
    enc = message.enc
    f, c, s, r = enc.field, enc.component, enc.subcomponent, enc.repetition
    declared = enc.component + enc.repetition + enc.escape + enc.subcomponent + enc.truncation
    pid3 = r.join(f"{_escape(i, enc)}{c}{c}{c}{a}{s}1.2.3{s}ISO{c}{t}" for i, a, t in message.patient_ids)
    segments = [
        f"MSH{f}{declared}{f}LIS{f}LAB{f}B12{f}HOSP{f}20240301083000{f}{f}ORU{c}R01{f}"
        f"{message.control_id}{f}P{f}2.5.1",
        f"PID{f}1{f}{f}{pid3}",
    ]
    for number, order in enumerate(message.orders, 1):
        segments.append(f"OBR{f}{number}{f}{f}{order.filler}{f}{order.service_code}{c}Panel{c}LN")
        for index, obs in enumerate(order.observations, 1):
            if obs.value_type in ("NM", "SN"):
                value = c.join(_escape(part, enc) for part in obs.value.split("^"))
            elif obs.value_type == "CWE":
                value = f"{_escape(obs.value, enc)}{c}text{c}L"
            else:
                value = _escape(obs.value, enc) + f"{enc.escape}Zunknown{enc.escape}"
            segments.append(f"OBX{f}{index}{f}{obs.value_type}{f}{obs.code}{c}name{c}{obs.system}{f}{f}{value}"
                            f"{f}{_escape(obs.unit, enc)}{f}{f}{f}{f}{f}{obs.status}")
    return "".join(segment + end for segment, end in zip(segments, message.terminators, strict=True))


def _assert_matches(result: OruMessage | Rejection, message: GeneratedMessage) -> None:
    assert isinstance(result, OruMessage), result
    assert result.header.control_id == message.control_id
    assert [(p.id, p.assigning_authority, p.identifier_type) for p in result.patient_ids] == list(
        message.patient_ids)
    assert len(result.orders) == len(message.orders)
    for order, expected in zip(result.orders, message.orders, strict=True):
        assert (order.filler_order_number, order.universal_service_id.code) == (expected.filler,
                                                                               expected.service_code)
        assert len(order.observations) == len(expected.observations)
        for obs, generated in zip(order.observations, expected.observations, strict=True):
            assert (obs.code.code, obs.code.system) == (generated.code, generated.system)
            assert obs.units == generated.unit and obs.result_status == generated.status
            assert obs.numeric == generated.numeric
            escape = message.enc.escape
            if generated.value_type == "ST":
                assert obs.values == (generated.value + f"{escape}Zunknown{escape}",)
            elif generated.value_type == "CWE":
                assert obs.values == (generated.value,)


@_SETTINGS
@given(messages())
def test_generated_message_reads_back(message: GeneratedMessage) -> None:
    data = _render(message).encode()
    (frame,) = split_messages(data)
    _assert_matches(read_oru(frame.data), message)


@_SETTINGS
@given(st.lists(messages(), min_size=1, max_size=3), st.sampled_from(["concatenated", "mllp", "mllp-no-cr",
                                                                       "batch"]))
def test_framed_streams_split_back_into_their_messages(batch: list[GeneratedMessage], framing: str) -> None:
    bodies = [_render(m).encode() for m in batch]
    if framing == "concatenated":
        data = b"\r\n".join(bodies)
    elif framing == "mllp":
        data = b"".join(b"\x0b" + body + b"\x1c\r" for body in bodies)
    elif framing == "mllp-no-cr":
        data = b"".join(b"\x0b" + body + b"\x1c" for body in bodies)
    else:
        data = (b"FHS|^~\\&|LAB\rBHS|^~\\&|LAB\r" + b"".join(bodies) + f"BTS|{len(bodies)}\rFTS|1\r".encode())
    frames = split_messages(data)
    assert len(frames) == len(batch)
    for frame, message in zip(frames, batch, strict=True):
        assert data[frame.offset:frame.offset + len(frame.data)] == frame.data
        _assert_matches(read_oru(frame.data), message)


def _never_raises(data: bytes) -> None:
    for frame in split_messages(data):
        assert data[frame.offset:frame.offset + len(frame.data)] == frame.data
        result = read_oru(frame.data)
        if isinstance(result, Rejection):
            assert result.reason and "internal" not in result.reason
        else:
            assert isinstance(result, OruMessage)
    assert isinstance(read_oru(data), OruMessage | Rejection)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    _never_raises(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"\rPID|1||X\rOBR|1\rOBX|1|NM|", b"\x0b"]))
def test_bytes_after_a_valid_header_never_raise(tail: bytes, middle: bytes) -> None:
    _never_raises(b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1" + middle + tail)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("|^~\\&#\"XZ.br0A1 \r\n", max_size=30), min_size=1, max_size=6))
def test_delimiter_soup_in_any_field_never_raises(pieces: list[str]) -> None:
    header = "MSH|^~\\&#|A|B|C|D|20240101||ORU^R01|1|P|2.7\rPID|1||"
    body = header + pieces[0] + "\rOBR|1||F|" + "\rOBX|".join(pieces[1:] or [""])
    _never_raises(body.encode())
