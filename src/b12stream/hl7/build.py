"""Outbound HL7 v2.5.1 OML^O21 (suggested reflex orders) written as ER7.

hl7apy takes about 36 ms to build one such message (measured: `bench/bench_order_message.py`), which
would stall a partition on every alert, so the engine writes the few segments itself. hl7apy stays the
reference: the tests build the same request with hl7apy and require identical bytes, and parse every
message back at strict level.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from b12stream.errors import HL7Error

__all__ = ["HD_NAMESPACE_MAX", "PROCESSING_IDS", "OrderLine", "OrderRequest", "build_oml", "escape"]

_VERSION = "2.5.1"
_TEXT_MAX = 199  # CE.2 maximum length in v2.5.1
# v2.5.1 maximum lengths of the components the engine fills with data it did not choose, measured on
# the escaped text (what a receiver, and hl7apy at strict level, counts).
HD_NAMESPACE_MAX = 20  # HD.1 (IS): sending application/facility, assigning authority
PROCESSING_IDS = ("P", "T", "D")  # MSH-11.1, HL7 table 0103: production, training, debugging
_CX_ID_MAX = 199  # CX.1 (ST): the patient id
_HD_UNIVERSAL_ID_MAX = 199  # HD.2 (ST): an authority's OID
# An ISO object identifier (dotted decimal): what an assigning authority too long for HD.1 usually is.
_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_EI_IDENTIFIER_MAX = 199  # EI.1 (ST): placer and parent order numbers
_CE_IDENTIFIER_MAX = 20  # CE.1 (ST): the test code
_MSH_CONTROL_ID_MAX = 20  # MSH-10 (ST)
# MSH-18 of a message that is not all ASCII: HL7 table 0211's name for the bytes build_oml writes. An
# all-ASCII message leaves MSH-18 empty, which table 0211 reads as ASCII: its bytes stay the ones
# receivers have always taken.
_UTF8 = "UNICODE UTF-8"
# Characters that end a line for some receiver, each written as a hex escape of its UTF-8 bytes: C0
# controls and DEL (CR and LF, and VT and FS, which frame MLLP), C1 controls (NEL, U+0085, ends a line
# for Python's splitlines and Java's \R) and the line and paragraph separators U+2028 and U+2029 (line
# ends to those and to JavaScript). A line end left in a value would end the segment there for such a
# receiver: it would read a shorter patient id and take the rest of it for a segment of its own. A hex
# escape holds bytes (v2.5.1 section 2.7), here those of the message's encoding, as the engine's own
# reader decodes them: U+0085 is ``\XC285\``, and a message holding one declares UTF-8 although its
# bytes are ASCII. Other characters go out as they are: every UTF-8 byte of a character beyond ASCII
# is 0x80 or above, so none can be read as CR, LF or a frame byte.
_HEX_ESCAPED = (*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)), "\u2028", "\u2029")
# One pass over the text: each delimiter becomes its escape sequence (v2.5.1 section 2.7).
_ESCAPES = str.maketrans(
    {
        "\\": "\\E\\",
        "|": "\\F\\",
        "^": "\\S\\",
        "&": "\\T\\",
        "~": "\\R\\",
        **{char: f"\\X{char.encode().hex().upper()}\\" for char in _HEX_ESCAPED},
    }
)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One proposed test: an ORC/TQ1/OBR group. ``code`` is the universal service id (OBR-4)."""

    placer_order_number: str
    code: str
    text: str
    coding_system: str = "LN"
    stat: bool = False


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """Everything one OML^O21 says; ``message_time`` is an argument so building never reads a clock.

    ``parent_filler_order_number`` is the order whose result prompted the suggestion (ORC-8/OBR-29).
    ``processing_id`` is MSH-11: ``P`` in production, ``T`` where the receiver is a test system.
    """

    control_id: str
    message_time: datetime
    patient_id: str
    assigning_authority: str
    orders: Sequence[OrderLine]
    parent_filler_order_number: str = ""
    sending_application: str = "B12STREAM"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"


def escape(text: str) -> str:
    """The text as an ER7 value with the default delimiters (``|^~\\&``): delimiters escaped, and
    control characters (CR, LF, tab, ..., DEL, U+0080 to U+009F) and the Unicode line and paragraph
    separators as hex escapes of their UTF-8 bytes, such as ``\\X0D\\`` and ``\\XC285\\``."""
    return text.translate(_ESCAPES)


def _text(text: str) -> str:
    """Escaped display text cut to the CE.2 length limit (display only: the code is what matters)."""
    escaped = escape(text)
    while len(escaped) > _TEXT_MAX:
        text = text[:-1]
        escaped = escape(text)
    return escaped


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def build_oml(request: OrderRequest) -> bytes:
    """The request as ER7 bytes (``\\r`` segment terminators, UTF-8): MSH-18 is ``UNICODE UTF-8`` when
    a value is not all ASCII, and empty (ASCII) otherwise.

    Each order is ``NW`` (ORC-1) with OBR-11 ``G`` (generated order: reflex, HL7 table 0065) and the
    triggering order as parent (ORC-8, OBR-29). PID-5 carries only name type ``U`` (unspecified):
    the engine keeps no names, and the receiver matches on PID-3. Every value is escaped (``escape``),
    so no character of it can end a field or a segment. Display text is cut to the CE.2 limit.
    Raises HL7Error for a request v2.5.1 cannot carry (no orders, a blank patient id, an over-long
    identifier, an MSH-11 outside table 0103).
    """
    if not request.orders:
        raise HL7Error("an OML^O21 needs at least one order")
    if not request.patient_id.strip():
        # A receiver (hl7apy among them) reads a blank PID-3 as no identifier: an order for nobody.
        raise HL7Error("OML^O21 could not be built: PID-3.1 (the patient id) is empty or blank")
    application = _limited(request.sending_application, HD_NAMESPACE_MAX, "MSH-3.1")
    parent = _limited(request.parent_filler_order_number, _EI_IDENTIFIER_MAX, "ORC-8.2.1")
    segments = [
        _segment(
            "MSH|^~\\&",
            application,
            _limited(request.sending_facility, HD_NAMESPACE_MAX, "MSH-4.1"),
            _limited(request.receiving_application, HD_NAMESPACE_MAX, "MSH-5.1"),
            _limited(request.receiving_facility, HD_NAMESPACE_MAX, "MSH-6.1"),
            _ts(request.message_time),
            "",
            "OML^O21^OML_O21",
            _limited(request.control_id, _MSH_CONTROL_ID_MAX, "MSH-10"),
            _processing_id(request.processing_id),
            _VERSION,
            *([""] * 5),
            "" if all(map(str.isascii, _values(request))) else _UTF8,
        ),
        _segment(
            "PID",
            "",
            "",
            _components(
                _limited(request.patient_id, _CX_ID_MAX, "PID-3.1"),
                "",
                "",
                _assigning_authority(request.assigning_authority),
            ),
            "",
            "^^^^^^U",
        ),
    ]
    parent_ref = f"^{parent}" if parent else ""
    for number, line in enumerate(request.orders, start=1):
        placer = f"{_limited(line.placer_order_number, _EI_IDENTIFIER_MAX, 'ORC-2.1')}^{application}"
        code = _components(
            _limited(line.code, _CE_IDENTIFIER_MAX, "OBR-4.1"), _text(line.text), escape(line.coding_system)
        )
        segments.append(_segment("ORC", "NW", placer, "", "", "", "", "", parent_ref))
        priority = "S^Stat^HL70485" if line.stat else "R^Routine^HL70485"
        segments.append(_segment("TQ1", "1", *([""] * 7), priority))  # the order's one timing spec
        segments.append(
            _segment("OBR", str(number), placer, "", code, *([""] * 6), "G", *([""] * 17), parent_ref)
        )
    return ("\r".join(segments) + "\r").encode("utf-8")


def _values(request: OrderRequest) -> Iterator[str]:
    """Every value of the request that goes into the message."""
    yield request.control_id
    yield request.patient_id
    yield request.assigning_authority
    yield request.parent_filler_order_number
    yield request.sending_application
    yield request.sending_facility
    yield request.receiving_application
    yield request.receiving_facility
    for line in request.orders:
        yield line.placer_order_number
        yield line.code
        yield line.text
        yield line.coding_system


def _limited(value: str, maximum: int, where: str) -> str:
    """The value escaped, or HL7Error when v2.5.1 cannot carry it. The error names the component and
    the lengths, never the value: it may be a patient id, and the error is logged."""
    escaped = escape(value)
    if len(escaped) > maximum:
        raise HL7Error(
            f"OML^O21 could not be built: {where} is {len(escaped)} characters escaped, at most {maximum}"
        )
    return escaped


def _assigning_authority(value: str) -> str:
    """PID-3.4: the authority as HD.1, or, when it is an OID too long for HD.1 (labs send OIDs there),
    as HD.2 with HD.3 ``ISO``, where v2.5.1 places an OID: an order message still goes out, and the
    receiver reads the same authority."""
    if HD_NAMESPACE_MAX < len(value) <= _HD_UNIVERSAL_ID_MAX and _OID.fullmatch(value):
        return f"&{value}&ISO"
    return _limited(value, HD_NAMESPACE_MAX, "PID-3.4")


def _processing_id(value: str) -> str:
    if value not in PROCESSING_IDS:
        raise HL7Error(f"OML^O21 could not be built: MSH-11 must be one of {', '.join(PROCESSING_IDS)}")
    return value


def _components(*values: str) -> str:
    return "^".join(values).rstrip("^")


def _segment(name: str, *fields: str) -> str:
    return "|".join((name, *fields)).rstrip("|")
