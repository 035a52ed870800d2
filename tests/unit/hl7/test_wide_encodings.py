"""Messages in UTF-16 and UTF-32, with a byte-order mark or without, alone, MLLP-framed or several in
a file or in MLLP frames: split, trimmed and read as the same messages in UTF-8 are, each frame the
input's own bytes; a broken one is rejected at the first byte that does not decode."""

from __future__ import annotations

import codecs
from dataclasses import replace

import pytest

from b12stream.hl7.framing import Frame, split_messages
from b12stream.hl7.model import OruMessage, Rejection
from b12stream.hl7.oru import read_oru, read_patient
from tests.conftest import SAMPLES

_BOMS = {
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}
ENCODINGS = [(codec, marked) for codec in _BOMS for marked in (True, False)]
_IDS = [f"{codec}{'' if marked else ' without BOM'}" for codec, marked in ENCODINGS]
# Every message of the sample files, as text: MLLP blocks are bytes, not characters, in any encoding.
MESSAGES = [
    frame.data.decode("utf-8")
    for path in sorted(SAMPLES.glob("*.hl7"))
    for frame in split_messages(path.read_bytes())
]


def _encoded(text: str, codec: str, marked: bool) -> bytes:
    return (_BOMS[codec] if marked else b"") + text.encode(codec)


def _content(read: OruMessage | Rejection) -> object:
    """What was read, without what depends on the encoding: the codec, and byte offsets."""
    if isinstance(read, Rejection):
        return read.reason, replace(read.location, byte_offset=None), read.control_id
    return replace(read, header=replace(read.header, charset="", charset_note=""))


def _same_as_utf8(data: bytes, text: str, codec: str) -> None:
    read = read_oru(data)
    assert _content(read) == _content(read_oru(text.encode("utf-8")))
    if isinstance(read, OruMessage):
        assert read.header.charset == codec
        assert read_patient(data).patient_ids == read.patient_ids  # type: ignore[union-attr]


@pytest.mark.parametrize(("codec", "marked"), ENCODINGS, ids=_IDS)
def test_each_message_alone_and_mllp_framed_reads_as_in_utf8(codec: str, marked: bool) -> None:
    for text in MESSAGES:
        alone = _encoded(text, codec, marked)
        for record in (alone, b"\x0b" + alone + b"\x1c\r", alone + "\r\n".encode(codec)):
            [frame] = split_messages(record)
            assert frame.data == alone and frame.offset == record.index(alone)
            _same_as_utf8(frame.data, text, codec)
            _same_as_utf8(record, text, codec)  # the reader trims what framing would


@pytest.mark.parametrize(("codec", "marked"), ENCODINGS, ids=_IDS)
def test_a_file_of_messages_splits_at_each_message(codec: str, marked: bool) -> None:
    separator = "\r\n"
    data = _encoded(separator.join(MESSAGES) + separator, codec, marked)
    frames = split_messages(data)
    assert len(frames) == len(MESSAGES)
    width = len("M".encode(codec))
    starts = [sum(len(text) + len(separator) for text in MESSAGES[:index]) for index in range(len(MESSAGES))]
    prefix = len(_BOMS[codec]) if marked else 0
    for text, start, frame in zip(MESSAGES, starts, frames, strict=True):
        offset = 0 if start == 0 else prefix + start * width  # the first message keeps the mark
        assert frame.offset == offset and frame.data == data[offset : prefix + (start + len(text)) * width]
        _same_as_utf8(frame.data, text, codec)


@pytest.mark.parametrize(("codec", "marked"), ENCODINGS, ids=_IDS)
def test_messages_each_in_single_byte_mllp_framing_split_at_each_frame(codec: str, marked: bool) -> None:
    """Such input is not text whole (the block bytes are not characters), so it is cut at them."""
    encoded = [_encoded(text, codec, marked) for text in MESSAGES]
    data = b"".join(b"\x0b" + message + b"\x1c\r" for message in encoded)
    frames = split_messages(data)
    assert len(frames) == len(MESSAGES)
    offset = 1
    for text, message, frame in zip(MESSAGES, encoded, frames, strict=True):
        assert (frame.data, frame.offset) == (message, offset)
        _same_as_utf8(frame.data, text, codec)
        offset += len(message) + 3


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_broken_or_cut_off_frame_among_frames_is_rejected_alone(codec: str) -> None:
    good, second, third = (_encoded(text, codec, True) for text in MESSAGES[:3])
    at = 2 + len("MSH|^~\\&|".encode(codec))
    broken = second[:at] + "\ud800".encode(codec, "surrogatepass") + second[at:]
    cut_off = b"\x0b" + third[:-3]  # half a character
    data = b"\x0b" + good + b"\x1c\r\x0b" + broken + b"\x1c\r" + cut_off
    assert split_messages(data) == [
        Frame(good, 1), Frame(broken, data.index(broken)), Frame(cut_off, data.index(cut_off))]
    assert isinstance(read_oru(good), OruMessage)
    rejection = read_oru(broken)
    assert isinstance(rejection, Rejection) and "does not decode" in rejection.reason
    assert rejection.location.byte_offset == at
    rejection = read_oru(cut_off)
    assert isinstance(rejection, Rejection) and rejection.reason.startswith("MLLP frame has no end block")


@pytest.mark.parametrize(("codec", "marked"), [(c, m) for c, m in ENCODINGS if c.startswith("utf-16")])
def test_characters_holding_an_mllp_block_byte_do_not_cut_the_message(codec: str, marked: bool) -> None:
    """Every Tamil letter in UTF-16 holds a 0x0B byte, and the Oriya letter JA holds 0x1C too."""
    assert "TEST^SCENARIO-ONE" in MESSAGES[0]
    text = MESSAGES[0].replace("TEST^SCENARIO-ONE", "\u0bae\u0bc1\u0bb0\u0bc1\u0b95\u0ba9\u0bcd^\u0b1c\u0b17")
    alone = _encoded(text, codec, marked)
    for record in (alone, b"\x0b" + alone + b"\x1c\r", alone + "\r\n".encode(codec)):
        [frame] = split_messages(record)
        assert frame.data == alone and frame.offset == record.index(alone)
        _same_as_utf8(frame.data, text, codec)
        _same_as_utf8(record, text, codec)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_broken_message_is_rejected_at_the_first_byte_that_does_not_decode(codec: str) -> None:
    whole = _encoded(MESSAGES[0], codec, True)
    name = codec.upper()
    reason = f"the message starts as {name} text but does not decode as {name}"
    truncated = read_oru(whole[:-1])  # half a character at the end
    assert isinstance(truncated, Rejection) and truncated.reason.startswith(reason)
    assert truncated.location.byte_offset == len(whole) - 2
    at = 2 + len("MSH|^~\\&|".encode(codec))
    lone_surrogate = "\ud800".encode(codec, "surrogatepass")
    broken = read_oru(whole[:at] + lone_surrogate + whole[at:])
    assert isinstance(broken, Rejection) and broken.reason.startswith(reason)
    assert broken.location.byte_offset == at
    assert split_messages(whole[:-1])[0].data == whole[:-1]  # one frame, for the reader to reject
