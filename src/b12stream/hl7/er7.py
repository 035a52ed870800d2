"""ER7 tokenizer: delimiters from MSH-1/MSH-2, segments, field accessors, escape sequences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from b12stream.hl7.errors import BadEncodingCharacters, NotAMessage

__all__ = [
    "NULL",
    "Encoding",
    "FieldMemo",
    "component_text",
    "first_text",
    "is_segment_id",
    "padded",
    "read_encoding",
    "repetition_text",
    "split_segments",
    "unescape",
]

NULL = '""'  # an explicit HL7 null: the sender says the value is deleted / not present

_SEGMENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# Memo of declarations already validated, keyed by the text from MSH-1 to just past MSH-2.
_ENCODINGS: dict[str, Encoding] = {}
_ENCODINGS_KEPT = 256
_MEMO_KEPT = 4096

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Encoding:
    """The delimiters a message declares in MSH-1 and MSH-2 (``truncation`` only from v2.7 MSH-2)."""

    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str
    truncation: str = ""


def read_encoding(text: str) -> Encoding:
    """The delimiters declared by the MSH segment at the start of ``text``.

    Raises ``NotAMessage`` when ``text`` does not start with MSH and ``BadEncodingCharacters``
    when MSH-1 is not a delimiter or MSH-2 is not 4 (or, with the v2.7 truncation character, 5)
    distinct printable non-alphanumeric ASCII characters different from MSH-1.
    """
    known = _ENCODINGS.get(text[3:10]) if text.startswith("MSH") else None
    if known is not None:
        return known
    if not text.startswith("MSH"):
        if not text:
            raise NotAMessage("empty message")
        # Another segment (PID|...) is named; any other text is not, as it may be a name or a comment
        # (a rejection reason is logged and published).
        first = text[:3] if is_segment_id(text[:3]) and text[3:4] == "|" else None
        reason = f"first segment is {first}, not MSH" if first else "the message does not start with MSH"
        raise NotAMessage(reason, segment=first, segment_index=1)
    if len(text) < 4:
        raise BadEncodingCharacters("MSH has no field separator (MSH-1)",
                                    segment="MSH", segment_index=1, field=1)
    separator = text[3]
    if not _is_delimiter(separator):
        raise BadEncodingCharacters(f"MSH-1 field separator {separator!r} is not a delimiter",
                                    segment="MSH", segment_index=1, field=1)
    end = len(text)
    for stop in (separator, "\r", "\n"):
        at = text.find(stop, 4, end)
        if at != -1:
            end = at
    declared = text[4:end]
    if len(declared) not in (4, 5):
        raise BadEncodingCharacters(
            f"MSH-2 declares {len(declared)} encoding characters{_shown(declared)}; "
            "expected 4 (5 with truncation)",
            segment="MSH", segment_index=1, field=2)
    if not all(_is_delimiter(c) for c in declared) or len(set(declared + separator)) != len(declared) + 1:
        raise BadEncodingCharacters(
            f"MSH-2 encoding characters{_shown(declared)} are not distinct delimiters",
            segment="MSH", segment_index=1, field=2)
    enc = Encoding(separator, declared[0], declared[1], declared[2], declared[3],
                   declared[4] if len(declared) == 5 else "")
    # Valid declarations end by index 9, so text[3:10] holds all that decided this result.
    if len(_ENCODINGS) >= _ENCODINGS_KEPT:
        _ENCODINGS.clear()
    _ENCODINGS[text[3:10]] = enc
    return enc


class FieldMemo(dict[str, T], Generic[T]):
    """``memo[raw]`` is ``decode(raw)``, computed once per distinct raw field text.

    A feed sends the same set ids, value types, codes, units, ranges, flags and statuses over and
    over, and the timestamps of one message's results repeat within it; decoding each distinct text
    once keeps the per-segment work to a dictionary look-up. ``decode`` must be a pure function of
    the text (bind the ``Encoding`` into it: one memo per set of delimiters). At most 4096 texts are
    kept; when full, the memo starts afresh, which bounds memory on a feed of unique values.
    """

    __slots__ = ("_decode",)

    def __init__(self, decode: Callable[[str], T]) -> None:
        super().__init__()
        self._decode = decode

    def __missing__(self, raw: str) -> T:
        value = self._decode(raw)
        if len(self) >= _MEMO_KEPT:
            self.clear()
        self[raw] = value
        return value


def split_segments(text: str) -> list[str]:
    """The non-blank segments of ``text``; CR, LF and CRLF (mixed too) all end a segment."""
    if "\n" in text:
        text = text.replace("\n", "\r")
    segments = text.split("\r")
    if "" in segments or any(map(str.isspace, segments)):  # both checks run in C, no per-line bytecode
        return [s for s in segments if s and not s.isspace()]
    return segments


def is_segment_id(name: str) -> bool:
    """Three upper-case letters or digits, starting with a letter (``OBX``, ``ZLR``, ``IN2``)."""
    return len(name) == 3 and _SEGMENT_ID_CHARS.issuperset(name) and not name[0].isdigit()


def padded(fields: list[str], length: int) -> list[str]:
    """A segment's fields with empty strings appended up to ``length`` entries (index = field number)."""
    return fields if len(fields) >= length else fields + [""] * (length - len(fields))


def first_text(raw: str, enc: Encoding) -> str:
    """A field's first component (first sub-component, first repetition), decoded and trimmed.

    An explicit null (``""``) reads as empty.
    """
    if not raw or raw == NULL:
        return ""
    at = raw.find(enc.repetition)
    if at != -1:
        raw = raw[:at]
    at = raw.find(enc.component)
    if at != -1:
        raw = raw[:at]
    at = raw.find(enc.subcomponent)
    if at != -1:
        raw = raw[:at]
    return (unescape(raw, enc) if enc.escape in raw else raw).strip()


def component_text(raw: str, number: int, enc: Encoding) -> str:
    """Component ``number`` (1-based; its first sub-component) of one repetition, decoded, untrimmed."""
    parts = raw.split(enc.component)
    if number > len(parts):
        return ""
    part = parts[number - 1]
    at = part.find(enc.subcomponent)
    if at != -1:
        part = part[:at]
    return unescape(part, enc) if enc.escape in part else part


def repetition_text(raw: str, enc: Encoding) -> str:
    """A field's first repetition decoded as a whole: component separators inside stay as sent."""
    if not raw or raw == NULL:
        return ""
    at = raw.find(enc.repetition)
    if at != -1:
        raw = raw[:at]
    return unescape(raw, enc) if enc.escape in raw else raw


def unescape(text: str, enc: Encoding) -> str:
    """Decode HL7 escape sequences; sequences this parser does not know are kept verbatim.

    ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` (and ``\\P\\`` when a truncation character is declared) give the
    delimiter; ``\\Xhh..\\`` gives the bytes (UTF-8, else Latin-1); ``\\.br\\`` and ``\\.sp\\`` a line
    break; ``\\H\\``/``\\N\\`` (highlighting on/off) nothing. A lone escape character stays as it is.
    """
    esc = enc.escape
    if esc not in text:
        return text
    parts = text.split(esc)
    last = len(parts) - 1
    out = [parts[0]]
    i = 1
    while i <= last:
        if i == last:
            out.append(esc + parts[i])
            break
        sequence = parts[i]
        decoded = _decode_sequence(sequence, enc)
        out.append(esc + sequence + esc if decoded is None else decoded)
        out.append(parts[i + 1])
        i += 2
    return "".join(out)


def _decode_sequence(sequence: str, enc: Encoding) -> str | None:
    if not sequence:
        return None
    if len(sequence) == 1:
        if sequence == "F":
            return enc.field
        if sequence == "S":
            return enc.component
        if sequence == "T":
            return enc.subcomponent
        if sequence == "R":
            return enc.repetition
        if sequence == "E":
            return enc.escape
        if sequence == "P" and enc.truncation:
            return enc.truncation
        if sequence in ("H", "N"):
            return ""
        return None
    if sequence[0] == "X":
        digits = sequence[1:]
        if len(digits) % 2 or not all(c in "0123456789ABCDEFabcdef" for c in digits):
            return None
        data = bytes.fromhex(digits)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if sequence == ".br" or sequence == ".sp":
        return "\n"
    return None


def _is_delimiter(char: str) -> bool:
    return " " < char < "\x7f" and not char.isalnum()


def _shown(declared: str) -> str:
    """MSH-2 quoted for a rejection reason when it is a few delimiters, which cannot spell a name, an
    id or a date; other text there (a message cut short, say) may be PHI, and reasons are published."""
    return f" {declared!r}" if len(declared) <= 5 and all(map(_is_delimiter, declared)) else ""
