"""Split raw input into one byte string per HL7 message: MLLP frames, FHS/BHS batches, concatenation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from b12stream.hl7.records import slot_constructor
from b12stream.hl7.wide_text import decode_wide, find_wide

__all__ = ["Frame", "split_messages", "strip_envelope", "unclosed_frame"]

# Every byte up to and including space: segment terminators, MLLP start/end blocks (0x0B, 0x1C),
# NUL padding and blank lines. None of them can start or end a message's content.
_BLANK = bytes(range(0x21))
_BLANK_TEXT = _BLANK.decode("ascii")
_BOM = b"\xef\xbb\xbf"
# Segments that start a message (MSH) or belong to a batch envelope (dropped).
_BOUNDARIES = frozenset({b"MSH", b"FHS", b"BHS", b"BTS", b"FTS"})
_START_BLOCK = b"\x0b"  # MLLP's start of a frame
_END_BLOCK = b"\x1c"  # MLLP's end of a frame
# First bytes of a line that may hold a boundary: its letter, or blank padding before it.
_MAY_START_BOUNDARY = frozenset(b"MFB" + _BOM[:1] + _BLANK)
# A boundary segment after a line break (blank padding allowed): finding one sends the input through
# the line-by-line scan.
# What may follow a segment id for the line to be that segment: a field separator (printable ASCII,
# not a letter or digit) or the line's end. "FTS" followed by a byte-order mark and an MSH is no
# batch trailer, and dropping it as one would lose the message in it.
_SEPARATES = re.compile(rb"[!-/:-@\[-`{-~]?").fullmatch
_AFTER_CR = re.compile(rb"\r[\x00- ]*(?:MSH|FHS|BHS|BTS|FTS)")
_AFTER_LF = re.compile(rb"\n[\x00- ]*(?:MSH|FHS|BHS|BTS|FTS)")


@dataclass(frozen=True, slots=True)
class Frame:
    """One message's bytes (envelope stripped, but for the start block of an MLLP frame never closed)
    and the byte offset where they start in the input."""

    data: bytes
    offset: int


_frame = slot_constructor(Frame)

def strip_envelope(data: bytes) -> tuple[bytes, int]:
    """Drop MLLP block bytes, NUL padding and whitespace around one message.

    Returns the remaining bytes and how many bytes were removed from the front. A byte-order mark is
    kept (the character-set decision needs it). Input in UTF-16 or UTF-32 is trimmed as text, of
    blank characters (the mark is kept when the text starts right after it); when it does not
    decode, of the bytes before it only, and the reader names the byte that does not decode.
    """
    found = find_wide(data)
    if found is not None:
        wide = decode_wide(data, *found)
        if wide is None:
            return data[found[0] :], found[0]
        lead = len(wide.text) - len(wide.text.lstrip(_BLANK_TEXT))
        begin, end = wide.span(lead, lead + len(wide.text.strip(_BLANK_TEXT)))
        begin = wide.at if lead == 0 else begin
        return data[begin:end], begin
    start = len(data) - len(data.lstrip(_BLANK))
    end = len(data.rstrip(_BLANK))
    return data[start:end], start


def unclosed_frame(data: bytes, content: int) -> int | None:
    """Where the MLLP frame holding a message starts when no end block closes it (the message may
    have been cut off in transit); None when there is no such frame.

    ``content`` is where the message's content starts in ``data`` (``strip_envelope``): the frame is
    open when a start block comes before it and no end block after that block (one in the padding
    before the content closes an empty frame). Blank input opens no frame.
    """
    if content >= len(data):
        return None
    start = data.rfind(_START_BLOCK, 0, content)
    return None if start == -1 or data.find(_END_BLOCK, start) != -1 else start


def split_messages(data: bytes) -> list[Frame]:
    """Split input into messages; never raises.

    The input is first cut at its MLLP block bytes, wherever they are: every end block (0x1C) ends a
    frame and every start block (0x0B) starts one, so bytes outside the frames (after an end block,
    between one frame and the next) never join a message framed before or after them: they are a
    frame of their own, for ``read_oru`` to reject. A frame that a start block opens and no end block
    closes (cut off in transit, or followed by the next frame's start block) is one frame from its
    start block on, which ``read_oru`` rejects as possibly truncated. Within each piece, FHS/BHS/BTS/FTS
    envelope segments are dropped and every MSH starts a new message, so concatenated messages and
    batches both split. Content outside any MSH (a body after a BHS with no MSH, a first segment other
    than MSH, garbage) becomes a frame of its own: nothing is silently dropped. Input in UTF-16 or
    UTF-32 is cut at its block bytes only when each piece then starts a message in that encoding, and
    is split as text otherwise. Blank input gives ``[]``. Each frame's ``offset`` is the position of
    its first byte in ``data``.
    """
    data = bytes(data)
    found = find_wide(data)
    framed = _split_framed(data)
    if found is None or (len(framed) > 1 and all(_starts_wide_message(frame.data) for frame in framed)):
        # Text in UTF-16 or UTF-32 is cut at the block bytes only when each piece starts a message: a
        # character may hold either byte (every Tamil letter in UTF-16 does).
        return framed
    opened = unclosed_frame(data, found[0])
    if opened is not None:  # all of it for the reader to reject: trimming bytes may split a character
        return [_frame(data[opened:], opened)]
    return _split_wide(data, *found)


def _split_framed(data: bytes) -> list[Frame]:
    """The messages in each MLLP frame and in the bytes between frames, cut at every block byte
    (``split_messages`` without its care for UTF-16 and UTF-32 text)."""
    frames: list[Frame] = []
    begin = 0  # where the current piece starts: the input's start, a start block, or after an end block
    for at in [*_blocks(data), len(data)]:
        closed = data[at : at + 1] == _END_BLOCK
        opened = data[begin : begin + 1] == _START_BLOCK
        if opened and not closed:
            _claim_unclosed(data[begin:at], begin, frames)
        else:  # a closed frame's content starts after its start block
            _split_piece(data[begin + opened : at], begin + opened, frames)
        begin = at + 1 if closed else at
    return frames


def _starts_wide_message(data: bytes) -> bool:
    """Whether ``data`` starts as UTF-16 or UTF-32 text with an MSH segment. A frame that does not
    decode further on is rejected on its own, at the byte that does not decode."""
    found = find_wide(data)
    if found is None:
        return False
    at, codec, prefix = found
    return data.startswith("MSH".encode(codec), at + prefix)


def _blocks(data: bytes) -> list[int]:
    """Offsets of the MLLP block bytes in ``data``, in order: a frame ends or starts at each whatever
    the content around it, so that nothing outside a frame is read as part of a message inside it."""
    found = []
    for block in (_START_BLOCK, _END_BLOCK):
        at = data.find(block)  # a byte search, many times faster than a regular expression's
        while at != -1:
            found.append(at)
            at = data.find(block, at + 1)
    return sorted(found)


def _split_piece(piece: bytes, base: int, frames: list[Frame]) -> None:
    """Append the messages of ``piece``, input from offset ``base`` that holds no MLLP block byte."""
    if not piece.lstrip(_BLANK):  # padding between frames or after the last: cheaper to see here
        return
    body, start = strip_envelope(piece)
    if (body[:3] == b"MSH" and _AFTER_CR.search(body) is None
            and (b"\n" not in body or _AFTER_LF.search(body) is None)):
        # The usual Kafka record: one message, no MSH or envelope segment on any later line. A
        # search anchored on the (rare) terminator byte proves it faster than visiting every line.
        frames.append(_frame(body, base + start))
        return
    cursor = 0  # where unclaimed content starts
    for position, kind in _boundaries(piece.replace(b"\n", b"\r")):
        _claim(piece, base, cursor, position, frames)
        # an envelope segment closes the message before it and is itself no message
        cursor = position if kind == b"MSH" else _line_end(piece, position)
    _claim(piece, base, cursor, len(piece), frames)


def _split_wide(data: bytes, at: int, codec: str, prefix: int) -> list[Frame]:
    """``split_messages`` for input in UTF-16 or UTF-32 (``wide_text.find_wide``): split as text,
    each frame the input's own bytes for one message (the first with the byte-order mark when it
    starts right after it)."""
    wide = decode_wide(data, at, codec, prefix)
    if wide is None:
        return [_frame(data[at:], at)]  # the reader names the byte that does not decode
    utf8 = wide.text.encode("utf-8")  # blank bytes in UTF-8 are the blank characters
    frames = []
    # Walking the text, its UTF-8 copy and the input together: characters, UTF-8 bytes and input
    # bytes passed so far.
    chars, copied, passed = 0, 0, wide.start
    for frame in split_messages(utf8):
        first = chars + len(utf8[copied : frame.offset].decode("utf-8"))
        end = first + len(frame.data.decode("utf-8"))
        begin, passed = wide.span(first, end, chars, passed)
        begin = wide.at if first == 0 else begin
        frames.append(_frame(data[begin:passed], begin))
        chars, copied = end, frame.offset + len(frame.data)
    return frames


def _boundaries(flat: bytes) -> list[tuple[int, bytes]]:
    """Offsets and ids of the MSH/FHS/BHS/BTS/FTS segments that start a line in ``flat`` (a piece of
    input with every line end a CR), in order. A byte-order mark before the first line's segment
    belongs to it, as the character-set decision needs it."""
    found = []
    position = 0
    for line in flat.split(b"\r"):
        if line and line[0] in _MAY_START_BOUNDARY:
            content = line.lstrip(_BLANK)
            skipped = len(line) - len(content)
            if position == 0 and content.startswith(_BOM):
                content = content[len(_BOM) :]
            kind = content[:3]
            if kind in _BOUNDARIES and _SEPARATES(content[3:4]):
                found.append((position + skipped, kind))
        position += len(line) + 1
    return found


def _line_end(data: bytes, start: int) -> int:
    ends = [data.find(terminator, start) for terminator in (b"\r", b"\n")]
    return min((at for at in ends if at != -1), default=len(data))


def _claim(piece: bytes, base: int, begin: int, end: int, frames: list[Frame]) -> None:
    """Append ``piece[begin:end]`` (``piece`` is at ``base`` in the input) as a frame unless it is blank."""
    if begin >= end:
        return
    body, skipped = strip_envelope(piece[begin:end])
    if body and body != _BOM:
        frames.append(Frame(body, base + begin + skipped))


def _claim_unclosed(piece: bytes, base: int, frames: list[Frame]) -> None:
    """Append ``piece``, an MLLP frame from its start block (at ``base`` in the input) that is never
    closed, unless it is blank: whole, start block included, as that block is what tells the reader
    no end block closed it."""
    if not piece.lstrip(_BLANK):
        return
    body, skipped = strip_envelope(piece)
    if body != _BOM:
        frames.append(Frame(piece[: skipped + len(body)], base))
