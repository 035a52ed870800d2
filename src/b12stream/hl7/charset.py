"""Bytes to text for one HL7 message: BOM (or MSH in UTF-16/UTF-32), then MSH-18, then UTF-8, then
Latin-1."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache

from b12stream.hl7.records import slot_constructor

__all__ = ["DecodedText", "codec_for_charset", "decode_message", "wide_encoding"]

# HL7 table 0211 names (and the spellings senders actually use) to Python codecs.
_TABLE_0211 = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp_2",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "BOM UTF-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le", "BOM UTF-32LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "BOM UTF-32BE"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "BOM UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "BOM UTF-16BE"),
)
# A message in UTF-16 or UTF-32 sent without a byte-order mark still starts with MSH: its NUL bytes
# say which encoding it is.
_WIDE_MSH = tuple(
    ("MSH".encode(codec), codec) for codec in ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")
)
_ESCAPE_CODECS = frozenset({"unicode-escape", "raw-unicode-escape"})
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
_MSH18 = 17  # index of MSH-18 when the MSH line is split on its field separator


@dataclass(frozen=True, slots=True)
class DecodedText:
    """The text of a message and how it was obtained.

    ``prefix`` is the number of bytes (a byte-order mark) that precede ``text`` in the input, so
    that ``byte_offset`` can map a character position back to the original bytes.
    """

    text: str
    codec: str
    note: str
    prefix: int = 0

    def byte_offset(self, char_index: int) -> int:
        """Byte position in the original input of ``text[char_index]``."""
        return self.prefix + len(self.text[:char_index].encode(self.codec, errors="replace"))


_decoded = slot_constructor(DecodedText)


def decode_message(data: bytes) -> DecodedText:
    """Decode one message's bytes; never raises.

    Order of preference: a byte-order mark, or MSH spelled in UTF-16 or UTF-32; MSH-18 (first
    repetition) when it names a known character set and the bytes decode with it; strict UTF-8;
    Latin-1 (which decodes any byte). The ``note`` says which rule decided, e.g. ``"MSH-18 8859/7"``
    or ``"fallback latin-1"``.
    """
    marked = _marked(data)
    if marked is not None:
        codec, prefix, note = marked
        body = data[prefix:]
        try:
            return _decoded(body.decode(codec), codec, note, prefix)
        except UnicodeDecodeError:
            return _decoded(body.decode("latin-1"), "latin-1", f"{note} invalid; fallback latin-1", prefix)
    declared = _declared_charset(data)
    if declared:
        codec = codec_for_charset(declared)
        if codec is None:
            return _fallback(data, f"MSH-18 {declared!r} unknown; ")
        try:
            text = data.decode(codec)
        except (UnicodeError, LookupError, ValueError):
            return _fallback(data, f"MSH-18 {declared!r} does not decode; ")
        # UTF-7 and its kin decode to unpaired surrogates, which no output (JSON, UTF-8 order
        # messages, Kafka keys) can encode: such text is not a message's text.
        if _UNPAIRED_SURROGATE.search(text):
            return _fallback(data, f"MSH-18 {declared!r} does not decode to Unicode text; ")
        return _decoded(text, codec, f"MSH-18 {declared}")
    return _fallback(data, "")


def wide_encoding(data: bytes) -> tuple[str, int] | None:
    """The codec and byte-order-mark length of a message in UTF-16 or UTF-32, told as
    ``decode_message`` tells it; None for any other message. Such a message's NUL and line-break bytes
    are halves of characters, so it cannot be split or trimmed byte by byte."""
    marked = _marked(data)
    if marked is None or marked[0] == "utf-8":
        return None
    return marked[0], marked[1]


def _marked(data: bytes) -> tuple[str, int, str] | None:
    """Codec, byte-order-mark length and note of a message whose first bytes name its encoding."""
    if data[:3] == b"MSH":  # the usual message: no byte-order mark starts with "M"
        return None
    for bom, codec, note in _BOMS:
        if data.startswith(bom):
            return codec, len(bom), note
    for msh, codec in _WIDE_MSH:
        if data.startswith(msh):
            return codec, 0, f"MSH in {codec.upper()}, no BOM"
    return None


@lru_cache(maxsize=256)
def codec_for_charset(name: str) -> str | None:
    """The Python codec for an MSH-18 value, or ``None`` when it names no known text encoding."""
    key = " ".join(name.upper().split())
    known = _TABLE_0211.get(key)
    if known is not None:
        return known
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):  # ValueError: a NUL byte in the name
        return None
    # codecs also knows bytes-to-bytes transforms (base64, zlib, rot13) and Python's own escape
    # syntaxes, which would read HL7's backslash escapes as theirs: never a character set.
    if info.name in _ESCAPE_CODECS:
        return None
    try:
        "MSH".encode(info.name).decode(info.name)
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return info.name


def _fallback(data: bytes, why: str) -> DecodedText:
    try:
        return _decoded(data.decode("utf-8"), "utf-8", f"{why}utf-8" if why else "utf-8")
    except UnicodeDecodeError:
        return _decoded(data.decode("latin-1"), "latin-1", f"{why}not UTF-8; fallback latin-1")


def _declared_charset(data: bytes) -> str:
    """MSH-18's first repetition read from the raw bytes (the header itself is ASCII)."""
    if len(data) < 8 or not data.startswith(b"MSH"):
        return ""
    line_end = len(data)
    for terminator in (b"\r", b"\n"):
        at = data.find(terminator, 0, line_end)
        if at != -1:
            line_end = at
    separator = data[3:4]
    if data.count(separator, 0, line_end) < _MSH18:
        return ""  # the usual MSH ends before MSH-18: no need to split it
    fields = data[:line_end].split(separator)
    value = fields[_MSH18]
    repetition = data[5:6]
    if repetition and repetition in value:
        value = value.split(repetition, 1)[0]
    return value.decode("latin-1").strip()
