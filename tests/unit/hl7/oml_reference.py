"""The reference OML^O21 builder: the same request built field by field with hl7apy.

The engine writes ER7 itself for speed (`b12stream.hl7.build`); this builder is what its bytes must
equal, since hl7apy knows the v2.5.1 message structure and checks every value at strict level.

Values are escaped here, not by the engine's ``escape`` nor by hl7apy: hl7apy escapes the five
delimiters but leaves control characters as they are (a CR in a value would end the segment), and it
escapes the escape character of a hex escape again (``\\X0D\\`` would go out as
``\\E\\X0D\\E\\``). So each value is given to hl7apy escaped, with the escape character of every
escape sequence written as a private-use stand-in that hl7apy neither escapes nor treats as a
delimiter, one character long like the escape character, so hl7apy checks each length on the escaped
text as a receiver sees it. The stand-in becomes the escape character in the finished ER7.
"""

from __future__ import annotations

import re

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException

from b12stream.errors import HL7Error
from b12stream.hl7.build import OrderLine, OrderRequest, _ts

__all__ = ["all_ascii", "reference_oml"]

_VERSION = "2.5.1"
_ESCAPE = "\ue000"  # stands in for the escape character "\\" inside hl7apy
_DELIMITER_CODES = {"|": "F", "^": "S", "&": "T", "~": "R", "\\": "E"}
_CE_TEXT_MAX = 199  # CE.2 (ST)
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")  # an ISO OID, which v2.5.1 puts in HD.2 (HD.3 ISO)
# Characters some receiver takes for the end of a line: the controls (C0, DEL, C1) and U+2028/U+2029.
_LINE_ENDS = frozenset(map(chr, (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)))


def _escaped(value: str) -> str:
    """``value`` as ER7 text (v2.5.1 section 2.7), escape character written as the stand-in."""
    if _ESCAPE in value:
        raise ValueError("the reference builder cannot carry U+E000")
    out = []
    for char in value:
        if char in _DELIMITER_CODES:
            out.append(f"{_ESCAPE}{_DELIMITER_CODES[char]}{_ESCAPE}")
        elif char in _LINE_ENDS:
            out.append(f"{_ESCAPE}X{char.encode('utf-8').hex().upper()}{_ESCAPE}")
        else:
            out.append(char)
    return "".join(out)


def _text(text: str) -> str:
    """Display text cut, a character at a time from the end, until it fits CE.2 escaped."""
    while len(_escaped(text)) > _CE_TEXT_MAX:
        text = text[:-1]
    return _escaped(text)


def reference_oml(request: OrderRequest) -> bytes:
    """Raises HL7Error when hl7apy rejects the request, as the engine's writer must too."""
    if not request.orders:
        raise HL7Error("an OML^O21 needs at least one order")
    if not request.patient_id.strip():
        # hl7apy builds it, but its parser reads the blank PID-3 back as missing (a required field).
        raise HL7Error("OML^O21 could not be built: PID-3.1 is blank")
    try:
        message = _message(request)
        if not message.validate():
            raise HL7Error("OML^O21 failed hl7apy validation")
        return (message.to_er7() + "\r").replace(_ESCAPE, "\\").encode("utf-8")
    except HL7apyException as error:
        raise HL7Error(f"OML^O21 could not be built: {error}") from error


def _message(request: OrderRequest) -> Message:
    message = Message("OML_O21", version=_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    msh = message.msh
    msh.msh_3.hd_1 = _escaped(request.sending_application)
    if request.sending_facility:
        msh.msh_4.hd_1 = _escaped(request.sending_facility)
    if request.receiving_application:
        msh.msh_5.hd_1 = _escaped(request.receiving_application)
    if request.receiving_facility:
        msh.msh_6.hd_1 = _escaped(request.receiving_facility)
    msh.msh_7 = _ts(request.message_time)
    msh.msh_9 = "OML^O21^OML_O21"
    msh.msh_10 = _escaped(request.control_id)
    msh.msh_11 = request.processing_id
    msh.msh_12 = _VERSION
    if not all_ascii(request):
        msh.msh_18 = "UNICODE UTF-8"
    pid = message.add_group("OML_O21_PATIENT").pid
    pid.pid_3.cx_1 = _escaped(request.patient_id)
    authority = request.assigning_authority
    if len(authority) > 20 and _OID.fullmatch(authority):
        pid.pid_3.cx_4.hd_2 = authority
        pid.pid_3.cx_4.hd_3 = "ISO"
    elif authority:
        pid.pid_3.cx_4.hd_1 = _escaped(authority)
    pid.pid_5.xpn_7 = "U"
    for number, line in enumerate(request.orders, start=1):
        _add_order(message, request, line, number)
    return message


def all_ascii(request: OrderRequest) -> bool:
    """Whether every value of the request is ASCII, which an empty MSH-18 declares (table 0211)."""
    texts = [
        request.control_id, request.patient_id, request.assigning_authority,
        request.parent_filler_order_number, request.sending_application, request.sending_facility,
        request.receiving_application, request.receiving_facility,
    ]
    for line in request.orders:
        texts += [line.placer_order_number, line.code, line.text, line.coding_system]
    return "".join(texts).isascii()


def _add_order(message: Message, request: OrderRequest, line: OrderLine, number: int) -> None:
    group = message.add_group("OML_O21_ORDER")
    orc = group.orc
    orc.orc_1 = "NW"
    orc.orc_2.ei_1 = _escaped(line.placer_order_number)
    orc.orc_2.ei_2 = _escaped(request.sending_application)
    if request.parent_filler_order_number:
        orc.orc_8.eip_2.ei_1 = _escaped(request.parent_filler_order_number)
    tq1 = group.add_group("OML_O21_TIMING").tq1
    tq1.tq1_1 = "1"  # numbers the timing specifications of this order, which has one
    tq1.tq1_9 = "S^Stat^HL70485" if line.stat else "R^Routine^HL70485"
    obr = group.add_group("OML_O21_OBSERVATION_REQUEST").obr
    obr.obr_1 = str(number)
    obr.obr_2.ei_1 = _escaped(line.placer_order_number)
    obr.obr_2.ei_2 = _escaped(request.sending_application)
    obr.obr_4.ce_1 = _escaped(line.code)
    obr.obr_4.ce_2 = _text(line.text)
    obr.obr_4.ce_3 = _escaped(line.coding_system)
    obr.obr_11 = "G"
    if request.parent_filler_order_number:
        obr.obr_29.eip_2.ei_1 = _escaped(request.parent_filler_order_number)
