"""ER7 pieces on their own: delimiters, escapes, segments, timestamps, character sets, framing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from b12stream.hl7.charset import codec_for_charset, decode_message
from b12stream.hl7.er7 import (
    Encoding,
    component_text,
    first_text,
    padded,
    read_encoding,
    repetition_text,
    split_segments,
    unescape,
)
from b12stream.hl7.errors import BadEncodingCharacters, NotAMessage
from b12stream.hl7.framing import Frame, split_messages
from b12stream.hl7.model import OruMessage
from b12stream.hl7.oru import read_oru
from b12stream.hl7.timestamps import parse_ts
from b12stream.hl7.values import parse_numeric, parse_structured_numeric

STANDARD = Encoding("|", "^", "~", "\\", "&")
UNUSUAL = Encoding("$", "%", "*", "!", "@", "#")


def test_encoding_characters_come_from_msh() -> None:
    assert read_encoding("MSH|^~\\&|A") == STANDARD
    assert read_encoding("MSH$%*!@#$A") == UNUSUAL
    assert read_encoding("MSH|^~\\&#|A").truncation == "#"
    assert read_encoding("MSH|^~\\&").component == "^"


@pytest.mark.parametrize("text", ["MSH|^~\\|", "MSH|^~\\&#$|", "MSH|^^\\&|", "MSH|^~\\|&|", "MSH|^~ &|",
                                  "MSH|^~\\A|", "MSH|", "MSHA^~\\&A"])
def test_bad_encoding_characters_raise(text: str) -> None:
    with pytest.raises(BadEncodingCharacters):
        read_encoding(text)


@pytest.mark.parametrize("text", ["", "PID|1", " MSH|^~\\&|"])
def test_text_without_msh_is_not_a_message(text: str) -> None:
    with pytest.raises(NotAMessage):
        read_encoding(text)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "a|b^c&d~e\\f"),
        ("line\\.br\\next\\.sp\\end", "line\nnext\nend"),
        ("\\H\\bold\\N\\", "bold"),
        ("\\X0D0A\\", "\r\n"),
        ("\\XC2B5\\g", "µg"),
        ("\\XE9\\", "é"),
        ("\\XZZ\\", "\\XZZ\\"),
        ("\\Zlocal\\ \\C2842\\", "\\Zlocal\\ \\C2842\\"),
        ("lone \\ backslash", "lone \\ backslash"),
        ("a\\\\b", "a\\\\b"),
        ("\\P\\", "\\P\\"),
        ("no escapes", "no escapes"),
    ],
)
def test_unescape(raw: str, decoded: str) -> None:
    assert unescape(raw, STANDARD) == decoded


def test_truncation_escape_only_when_declared() -> None:
    assert unescape("!P!", UNUSUAL) == "#"
    assert unescape("!F!!S!", UNUSUAL) == "$%"


@pytest.mark.parametrize("text", ["A\rB", "A\nB", "A\r\nB", "A\r\n\r\nB\r\n", "A\rB\n", "A\n\n  \r\nB"])
def test_segment_terminators(text: str) -> None:
    assert split_segments(text) == ["A", "B"]


def test_field_accessors_are_one_based_and_decode() -> None:
    pid3 = "A1^^^AUTH&1.2&ISO^MR~B2\\T\\x^^^B^PI"
    assert first_text(pid3, STANDARD) == "A1"
    assert first_text(' \\S\\x^y', STANDARD) == "^x"
    assert first_text('""', STANDARD) == ""
    assert component_text("A1^^^AUTH&1.2&ISO^MR", 4, STANDARD) == "AUTH"
    assert component_text("B2\\T\\x^^^B^PI", 1, STANDARD) == "B2&x"
    assert component_text("A1^B", 9, STANDARD) == ""
    assert repetition_text("<^10~x", STANDARD) == "<^10"
    assert repetition_text("a\\S\\b", STANDARD) == "a^b"
    assert padded(["PID", "1"], 4) == ["PID", "1", "", ""]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
        ("202403", datetime(2024, 3, 1, tzinfo=UTC)),
        ("20240301", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024030107", datetime(2024, 3, 1, 7, tzinfo=UTC)),
        ("202403010715", datetime(2024, 3, 1, 7, 15, tzinfo=UTC)),
        ("20240301071530", datetime(2024, 3, 1, 7, 15, 30, tzinfo=UTC)),
        ("20240301071530.1234", datetime(2024, 3, 1, 7, 15, 30, 123400, tzinfo=UTC)),
        ("20240301071530.1234567", datetime(2024, 3, 1, 7, 15, 30, 123456, tzinfo=UTC)),
        ("20240301071530-0500", datetime(2024, 3, 1, 7, 15, 30, tzinfo=timezone(timedelta(hours=-5)))),
        ("202403010715+0130", datetime(2024, 3, 1, 7, 15, tzinfo=timezone(timedelta(hours=1, minutes=30)))),
        ("20240301+0000", datetime(2024, 3, 1, tzinfo=UTC)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    parsed = parse_ts(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", [
    "", "20", "2024031", "20241301", "20240230", "20240301250000", "Aug 15, 1942", "20240301+05",
    "20240301+2500", "2024.5", "202403010715.5", "196203520", "20240301071530.", "2024-03-01",
    "20240301071530-0500-0100"])
def test_malformed_timestamps_are_none(text: str) -> None:
    assert parse_ts(text) is None


@pytest.mark.parametrize(
    ("text", "comparator", "number"),
    [("12.5", "", 12.5), ("<50", "<", 50.0), ("> 2000", ">", 2000.0), ("<=5", "<=", 5.0), (">=.5", ">=", 0.5),
     ("-3", "", -3.0), ("+4.", "", 4.0)],
)
def test_numeric_values(text: str, comparator: str, number: float) -> None:
    numeric = parse_numeric(text)
    assert numeric is not None and (numeric.comparator, numeric.number) == (comparator, number)


@pytest.mark.parametrize("text", ["", "?7", "nan", "inf", "1e5", "1_000", "1.2.3", "10-20", "<", "POS"])
def test_non_numbers_are_none(text: str) -> None:
    assert parse_numeric(text) is None


@pytest.mark.parametrize("text", ["9" * 400, "-" + "9" * 400, ">" + "9" * 400, "9" * 309 + ".5"])
def test_numbers_beyond_the_float_range_are_none_not_infinity(text: str) -> None:
    assert parse_numeric(text) is None
    assert parse_structured_numeric(f"^{text}", STANDARD) is None
    assert parse_structured_numeric(f"^1^:^{text}", STANDARD) is None


def test_the_largest_float_is_still_a_number() -> None:
    numeric = parse_numeric("9" * 308)
    assert numeric is not None and numeric.number == float("9" * 308)


@pytest.mark.parametrize(
    ("raw", "parts"),
    [("<^10", ("<", 10.0, "", None)), (">=^2000", (">=", 2000.0, "", None)), ("<=^5", ("<=", 5.0, "", None)),
     ("^1^:^128", ("", 1.0, ":", 128.0)), ("^10^-^20", ("", 10.0, "-", 20.0)),
     ("^182", ("", 182.0, "", None)), ("<10", ("<", 10.0, "", None))],
)
def test_structured_numeric(raw: str, parts: tuple[object, ...]) -> None:
    numeric = parse_structured_numeric(raw, STANDARD)
    assert numeric is not None
    assert (numeric.comparator, numeric.number, numeric.separator, numeric.second) == parts


@pytest.mark.parametrize("raw", ["~^10", "<^x", "^1^?^2", "^1^:^", "^1^^2", "^"])
def test_malformed_structured_numeric_is_none(raw: str) -> None:
    assert parse_structured_numeric(raw, STANDARD) is None


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("UNICODE UTF-8", "utf-8"), ("8859/1", "latin-1"), ("8859/15", "iso8859-15"),
        ("GB 18030-2000", "gb18030"), ("ascii", "ascii"), ("ISO-8859-7", "iso8859-7"), ("UTF-8", "utf-8"),
        ("base64", None), ("rot13", None), ("NO-SUCH-CHARSET", None), ("unicode_escape", None),
        ("raw_unicode_escape", None),
    ],
)
def test_charset_names(name: str, codec: str | None) -> None:
    assert codec_for_charset(name) == codec


def test_charset_decisions() -> None:
    greek = "MSH|^~\\&|||||||ADT^A01|1|P|2.4||||||8859/7\rPID|||Παπαδόπουλος".encode("iso8859-7")
    assert (decode_message(greek).codec, decode_message(greek).note) == ("iso8859-7", "MSH-18 8859/7")
    wrong = "MSH|^~\\&|||||||ADT^A01|1|P|2.4||||||ASCII\rPID|||José".encode()
    assert decode_message(wrong).codec == "utf-8" and "does not decode" in decode_message(wrong).note
    unknown = b"MSH|^~\\&|||||||ADT^A01|1|P|2.4||||||KLINGON\r"
    assert "unknown" in decode_message(unknown).note
    bom = decode_message(b"\xef\xbb\xbfMSH|^~\\&|A")
    assert (bom.text, bom.prefix, bom.note) == ("MSH|^~\\&|A", 3, "BOM UTF-8")
    assert bom.byte_offset(4) == 7
    utf16 = decode_message("MSH|^~\\&|Á".encode("utf-16"))
    assert utf16.text == "MSH|^~\\&|Á"


def test_a_nul_byte_in_msh18_is_an_unknown_charset_not_an_error() -> None:
    """Python's codec registry raises ValueError for a name holding a NUL byte; read so, one such
    message would stop the stream (the reader would raise before it could reject anything)."""
    data = b"MSH|^~\\&|||||||ORU^R01|1|P|2.5.1||||||UNICODE UTF\x00-8\rPID|1||123^^^H^MR\rOBR|1\r"
    assert codec_for_charset("UNICODE UTF\x00-8") is None
    decoded = decode_message(data)
    assert (decoded.codec, decoded.text) == ("utf-8", data.decode())
    assert "unknown" in decoded.note
    assert isinstance(read_oru(data), OruMessage)


def test_a_declared_charset_that_decodes_to_unpaired_surrogates_is_not_used() -> None:
    """UTF-7 reads "+2AA-" as a lone surrogate, which no alert, key or order message could encode."""
    data = b"MSH|^~\\&|||||||ORU^R01|1|P|2.5.1||||||UTF-7\rPID|||R+2AA-7\r"
    decoded = decode_message(data)
    assert (decoded.codec, decoded.text) == ("utf-8", data.decode())
    assert "does not decode to Unicode text" in decoded.note


MESSAGE = b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1\rPID|1||X\r"


@pytest.mark.parametrize(
    ("data", "frames"),
    [
        (b"", []),
        (b" \r\n\x00", []),
        (MESSAGE, [Frame(MESSAGE.rstrip(), 0)]),
        (b"\x0b" + MESSAGE + b"\x1c\r", [Frame(MESSAGE.rstrip(), 1)]),
        (b"\x0b" + MESSAGE + b"\x1c", [Frame(MESSAGE.rstrip(), 1)]),
        (b"\x0b" + MESSAGE + b"\x1c\r\x0b" + MESSAGE + b"\x1c\r",
         [Frame(MESSAGE.rstrip(), 1), Frame(MESSAGE.rstrip(), len(MESSAGE) + 4)]),
        # an MLLP end block closes its message: a frame of garbage after it is a frame of its own
        (b"\x0b" + MESSAGE + b"\x1c\r\x0bjunk\x1c\r",
         [Frame(MESSAGE.rstrip(), 1), Frame(b"junk", len(MESSAGE) + 4)]),
        (b"\x0b" + MESSAGE + b"\x1c\x0bPID|1||Y\x1c",
         [Frame(MESSAGE.rstrip(), 1), Frame(b"PID|1||Y", len(MESSAGE) + 3)]),
        (MESSAGE + b"\n\n" + MESSAGE,
         [Frame(MESSAGE.rstrip(), 0), Frame(MESSAGE.rstrip(), len(MESSAGE) + 2)]),
        (b"FHS|^~\\&\rBHS|^~\\&\r" + MESSAGE + b"BTS|1\rFTS|1\r", [Frame(MESSAGE.rstrip(), 18)]),
        (b"\xef\xbb\xbf" + MESSAGE, [Frame(b"\xef\xbb\xbf" + MESSAGE.rstrip(), 0)]),
        (b"junk\r" + MESSAGE, [Frame(b"junk", 0), Frame(MESSAGE.rstrip(), 5)]),
        (b"BHS|^~\\&\rEVN|A04\rBTS|1", [Frame(b"EVN|A04", 9)]),
        (b"PID|1||X", [Frame(b"PID|1||X", 0)]),
        (b"MSHX|not a header\r" + MESSAGE, [Frame(b"MSHX|not a header", 0), Frame(MESSAGE.rstrip(), 18)]),
    ],
)
def test_split_messages(data: bytes, frames: list[Frame]) -> None:
    assert split_messages(data) == frames
