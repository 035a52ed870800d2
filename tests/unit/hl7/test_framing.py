"""MLLP block bytes cut the input wherever they are: nothing outside a frame joins the message inside
it, and every byte that is not framing, padding or a batch envelope segment ends in some frame."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from b12stream.hl7.framing import Frame, split_messages
from b12stream.hl7.model import OruMessage, Rejection
from b12stream.hl7.oru import read_oru, read_patient
from b12stream.hl7.wide_text import find_wide

A = (b"MSH|^~\\&|LIS|LAB|B12|HOSP|20240301083000||ORU^R01|A1|P|2.5.1\rPID|1||MRN1^^^HOSP^MR\r"
     b"OBR|1||F1|58410-2^CBC^LN\rOBX|1|NM|777-3^PLT^LN||245|10*9/L|150-400|N|||F\r")
B = A.replace(b"|A1|", b"|B2|").replace(b"MRN1", b"MRN2")
STRAY = b"OBX|6|NM|777-3^PLT^LN||12|10*9/L|150-400|LL|||F\r"
ACK = b"MSH|^~\\&|LIS|LAB|B12|HOSP|20240301083000||ACK|K1|P|2.5.1\rMSA|AA|A1\r"
_BLANK = bytes(range(0x21))
_BOM = b"\xef\xbb\xbf"
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
_LINE_END = re.compile(rb"[\r\n\x0b\x1c]")
TRUNCATED = "MLLP frame has no end block (0x1C): the message may be truncated"


def _framed(message: bytes, end: bytes = b"\x1c\r") -> bytes:
    return b"\x0b" + message + end


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        # a result after the end block is not the framed patient's
        (_framed(A) + STRAY, [A, STRAY]),
        (_framed(A, b"\x1c") + STRAY, [A, STRAY]),
        (A + b"\x1c\r" + STRAY, [A, STRAY]),
        # junk, or a whole message, between one frame and the next is a frame of its own
        (_framed(A) + b"ZZZ|" + _framed(B), [A, b"ZZZ|", B]),
        (_framed(A) + b"JUNK" + _framed(B), [A, b"JUNK", B]),
        (_framed(A) + ACK + _framed(B), [A, ACK, B]),
        (_framed(A) + STRAY + b"\x0b" + B + b"\x1c", [A, STRAY, B]),
        # a start block ends the line it is on: the envelope segment before it, or a message
        (b"BHS|^~\\&\r" + A + b"BTS|1\x0b" + B + b"\x1c", [A, B]),
        (b"FHS|^~\\&\x0b" + A + b"\x1c\rFTS|1", [A]),
        (A + b"\x0b" + B + b"\x1c", [A, B]),
        # an end block inside a line ends the message there
        (A + STRAY.rstrip() + b"\x1cPID|1||MRN2", [A + STRAY, b"PID|1||MRN2"]),
        # blank padding, and frames holding nothing, between frames are no frame
        (_framed(A) + b" \r\n\x00" + _framed(b"\r") + b"\x1c\x1c" + _framed(B), [A, B]),
    ],
)
def test_each_mllp_frame_and_what_lies_between_frames_split_apart(data: bytes, messages: list[bytes]) -> None:
    assert split_messages(data) == [Frame(m.rstrip(), data.index(m.rstrip())) for m in messages]


def _lost(data: bytes, frames: list[Frame]) -> list[bytes]:
    """Content of ``data`` in no frame, other than blank padding, byte-order marks and batch envelope
    segments (what ``split_messages`` may drop)."""
    covered = bytearray(len(data))
    for frame in frames:
        assert data[frame.offset : frame.offset + len(frame.data)] == frame.data
        assert not any(covered[frame.offset : frame.offset + len(frame.data)]), "frames overlap"
        covered[frame.offset : frame.offset + len(frame.data)] = b"\x01" * len(frame.data)
    lost = []
    at = 0
    while at < len(data):
        if covered[at] or data[at] in _BLANK:
            at += 1
            continue
        line_end = _LINE_END.search(data, at)
        end = at
        while end < (line_end.start() if line_end else len(data)) and not covered[end]:
            end += 1
        content = data[at:end].replace(_BOM, b"").lstrip(_BLANK)
        if content and not (content[:3] in _ENVELOPE and not content[3:4].isalnum()):
            lost.append(data[at:end])
        at = end
    return lost


_PIECES = [A, B, STRAY, ACK, A[:100], B[60:], b"\x0b", b"\x1c", b"\x1c\r", b"\r", b"\n", b"\x00", b" ", _BOM,
           b"JUNK", b"ZZZ|x", b"FHS|^~\\&", b"BHS|^~\\&|x", b"BTS|1", b"FTS|1", b"MSH", b"PID|1||9^^^X^MR"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=6)), max_size=8))
@example([b"FTS", _BOM, A])  # "FTS" then a byte-order mark is no batch trailer: the MSH after it stays
def test_no_content_is_lost_and_frames_are_the_inputs_own_bytes(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assume(find_wide(data) is None)  # UTF-16 and UTF-32 are split as text (test_wide_encodings)
    frames = split_messages(data)
    assert _lost(data, frames) == []
    assert [frame.offset for frame in frames] == sorted(frame.offset for frame in frames)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=12), st.sampled_from([b"\x1c", b"\x1c\r", b"\x1c\r\n"])),
                min_size=1, max_size=5))
def test_every_framed_message_comes_out_once_and_whole_whatever_lies_between_frames(
    after: list[tuple[bytes, bytes]],
) -> None:
    messages = [A.replace(b"|A1|", b"|M%d|" % n) for n in range(len(after))]
    data = b"".join(_framed(message, end) + junk
                    for message, (junk, end) in zip(messages, after, strict=True))
    frames = split_messages(data)
    starts = [data.index(message) for message in messages]
    for message, start in zip(messages, starts, strict=True):
        assert frames.count(Frame(message.rstrip(), start)) == 1
    assert _lost(data, frames) == []


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        # cut off in transit: the frame is kept whole from its start block on, for the reader to reject
        (_framed(A) + b"\x0b" + B[:60], [A, b"\x0b" + B[:60]]),
        (b"\x0b" + A + b"\r\n", [b"\x0b" + A]),
        (b"\x0b\x00\r" + A, [b"\x0b\x00\r" + A]),
        # the next frame's start block before this frame's end block: this one was cut off
        (b"\x0b" + A + b"\x0b" + B + b"\x1c\r", [b"\x0b" + A, B]),
        (b"BHS|^~\\&\r\x0b" + A + b"BTS|1\r", [b"\x0b" + A + b"BTS|1"]),
        # a start block with nothing after it holds no message
        (_framed(A) + b"\x0b\r\n", [A]),
        (b"\x0b \x0b" + A + b"\x1c", [A]),
    ],
)
def test_a_frame_no_end_block_closes_is_kept_whole_from_its_start_block(
    data: bytes, messages: list[bytes],
) -> None:
    assert split_messages(data) == [Frame(m.rstrip(), data.index(m.rstrip())) for m in messages]


@pytest.mark.parametrize("record", [b"\x0b" + A, b"\r\n\x0b" + A[:-30], b"\x0b" + A + b"\x0b"])
def test_the_reader_rejects_a_frame_no_end_block_closes_at_its_start_block(record: bytes) -> None:
    for read in (read_oru, read_patient):
        rejection = read(record)
        assert isinstance(rejection, Rejection)
        assert (rejection.reason, rejection.location.byte_offset) == (TRUNCATED, record.index(b"\x0b"))
    assert isinstance(read_oru(record.rstrip(b"\x0b") + b"\x1c"), OruMessage)


def test_an_end_block_before_the_content_closes_an_empty_frame() -> None:
    record = b"\x0b\x1c\r" + A
    assert split_messages(record) == [Frame(A.rstrip(), 3)]
    assert isinstance(read_oru(record), OruMessage)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_frame_in_utf16_or_utf32_that_no_end_block_closes_is_rejected_whole(codec: str) -> None:
    record = b"\x0b" + A.decode().encode(codec)
    assert split_messages(record) == [Frame(record, 0)]
    rejection = read_oru(record)
    assert isinstance(rejection, Rejection)
    assert (rejection.reason, rejection.location.byte_offset) == (TRUNCATED, 0)
    assert isinstance(read_oru(record + b"\x1c\r"), OruMessage)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.data())
def test_a_stream_cut_off_in_transit_loses_nothing_and_reads_nothing_cut_off(
    count: int, data: st.DataObject,
) -> None:
    messages = [A.replace(b"|A1|", b"|M%d|" % n) for n in range(count)]
    stream = b"".join(_framed(message) for message in messages)
    cut = data.draw(st.integers(1, len(stream) - 1))
    frames = split_messages(stream[:cut])
    assert _lost(stream[:cut], frames) == []
    for frame in frames:
        read = read_oru(frame.data)
        if isinstance(read, OruMessage):  # only a message whose end block arrived
            assert stream.index(b"\x1c", frame.offset) < cut
        else:
            assert isinstance(read, Rejection) and read.reason == TRUNCATED
