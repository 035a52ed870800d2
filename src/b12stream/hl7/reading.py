"""A reader run over a message's raw bytes: unframed, decoded, and what it refuses a located Rejection."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from b12stream.hl7.charset import DecodedText, decode_message, wide_encoding
from b12stream.hl7.errors import MessageRejected
from b12stream.hl7.framing import strip_envelope, unclosed_frame
from b12stream.hl7.model import Location, Rejection

__all__ = ["read_bytes"]

_SEGMENT_LINE = re.compile(r"[^\r\n]+")
T = TypeVar("T")


def read_bytes(data: bytes, read: Callable[[DecodedText], T]) -> T | Rejection:
    """``read`` over the message in ``data``, its MLLP envelope stripped and its text decoded. A
    MessageRejected it raises, a defect of the reader, a cut-off frame or undecodable text become a
    Rejection located in ``data`` (segment, field, byte offset). Never raises."""
    data = bytes(data)
    body, skipped = strip_envelope(data)
    opened = unclosed_frame(data, skipped)
    if opened is not None:  # what the cut-off part held, a result perhaps, is not in what is read
        return Rejection(
            reason="MLLP frame has no end block (0x1C): the message may be truncated",
            location=Location(byte_offset=opened),
        )
    decoded = decode_message(body)
    wide = wide_encoding(body) if decoded.codec == "latin-1" else None
    if wide is not None:  # Latin-1 after a UTF-16 or UTF-32 start would only show its NUL bytes
        return _undecodable(body, skipped, *wide)
    try:
        return read(decoded)
    except MessageRejected as rejected:
        return Rejection(
            reason=rejected.reason,
            location=_locate(rejected, decoded, skipped),
            control_id=rejected.control_id,
            message_type=rejected.message_type,
        )
    except Exception as bug:  # a parser defect must still end as a dead letter, not a crashed consumer
        return Rejection(
            reason=f"unparseable message (internal parser error {type(bug).__name__})",
            location=Location(byte_offset=skipped),
        )


def _undecodable(body: bytes, skipped: int, codec: str, prefix: int) -> Rejection:
    """The rejection of a message that starts as ``codec`` text and does not decode with it."""
    at = prefix
    try:
        body[prefix:].decode(codec)
    except UnicodeDecodeError as error:
        at += error.start
    name = codec.upper()
    return Rejection(
        reason=f"the message starts as {name} text but does not decode as {name} (an odd number of "
        "bytes, or half a character)",
        location=Location(byte_offset=skipped + at),
    )


def _locate(rejected: MessageRejected, decoded: DecodedText, skipped: int) -> Location:
    """Turn a segment index and field number into a byte offset in the caller's bytes."""
    text = decoded.text
    offset: int | None = None
    if rejected.segment_index is not None:
        char = _segment_start(text, rejected.segment_index)
        if char is not None:
            if rejected.field is not None and text.startswith("MSH") and len(text) > 3:
                char = _field_start(text, char, rejected.field, text[3], rejected.segment_index == 1)
            offset = skipped + decoded.byte_offset(char)
    else:  # about the whole message (empty, or without a PID): located at its start
        offset = skipped
    return Location(
        segment=rejected.segment,
        segment_index=rejected.segment_index,
        field=rejected.field,
        byte_offset=offset,
    )


def _segment_start(text: str, segment_index: int) -> int | None:
    seen = 0
    for match in _SEGMENT_LINE.finditer(text):
        if match.group().isspace():
            continue
        seen += 1
        if seen == segment_index:
            return match.start()
    return None


def _field_start(text: str, start: int, field: int, separator: str, is_msh: bool) -> int:
    """Character position where a field starts (or would start) within the segment at ``start``."""
    line_end = len(text)
    for stop in ("\r", "\n"):
        at = text.find(stop, start)
        if at != -1:
            line_end = min(line_end, at)
    if is_msh and field == 1:
        return start + 3
    separators_before = field - 1 if is_msh else field
    position = start
    for _ in range(separators_before):
        at = text.find(separator, position, line_end)
        if at == -1:
            return line_end
        position = at + 1
    return position
