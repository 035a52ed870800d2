"""Input in UTF-16 or UTF-32: found, decoded and mapped back to its bytes.

In such input a NUL, CR or LF byte is half of a character, so it cannot be split or trimmed byte by
byte as ``framing`` does for every other input; it is split and trimmed as text instead, and each
message handed on as the input's own bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from b12stream.hl7.charset import wide_encoding

__all__ = ["WideText", "decode_wide", "find_wide"]

# Single bytes around a message (MLLP start block, NUL padding, line breaks) before its first
# character, as an interface engine frames a message whatever its character set.
_BLANK = bytes(range(0x21))
# An MLLP end block after the last character: bytes, not characters, in any character set.
_END_BLOCKS = (b"\x1c\r\n", b"\x1c\r", b"\x1c")


@dataclass(frozen=True, slots=True)
class WideText:
    """The text of UTF-16 or UTF-32 input, decoded with ``codec`` from the input's bytes from
    ``start`` on; ``at`` is where its byte-order mark is (``start`` when it has none)."""

    text: str
    codec: str
    at: int
    start: int

    def span(self, first: int, end: int, from_char: int = 0, from_byte: int | None = None) -> tuple[int, int]:
        """Input positions of ``text[first:end]``. ``from_char`` and its input position
        ``from_byte`` (a point already mapped, at or before ``first``) save encoding the text
        before it again."""
        base = self.start if from_byte is None else from_byte
        begin = base + len(self.text[from_char:first].encode(self.codec))
        return begin, begin + len(self.text[first:end].encode(self.codec))


def find_wide(data: bytes) -> tuple[int, str, int] | None:
    """Where UTF-16 or UTF-32 input starts (its byte-order mark, or else its first character), its
    codec and the mark's length; None for any other input.

    Blank bytes before it (an MLLP start block, NUL padding) are skipped. Big-endian input starts
    with NUL bytes, which the skipping takes too: a NUL just before the first byte kept says
    big-endian, as little-endian input is framed by single bytes other than NUL.
    """
    if data[:3] == b"MSH":  # the usual message, at no cost
        return None
    marked = wide_encoding(data)
    if marked is not None:
        return 0, *marked
    start = len(data) - len(data.lstrip(_BLANK))
    if start and data[start - 1] == 0:
        for back in (3, 2, 1):  # UTF-32BE "MSH", UTF-32BE byte-order mark, UTF-16BE "MSH"
            marked = wide_encoding(data[start - back :]) if start >= back else None
            if marked is not None and marked[0].endswith("-be"):
                return start - back, *marked
    marked = wide_encoding(data[start:])
    return None if marked is None else (start, *marked)


def decode_wide(data: bytes, at: int, codec: str, prefix: int) -> WideText | None:
    """The text of input ``find_wide`` found, without an MLLP end block after its last character;
    None when it does not decode."""
    start = at + prefix
    ends = [len(data) - len(block) for block in _END_BLOCKS if data.endswith(block)]
    for end in [*ends, len(data)]:
        if end > start:
            try:
                return WideText(data[start:end].decode(codec), codec, at, start)
            except UnicodeDecodeError:
                continue
    return None
