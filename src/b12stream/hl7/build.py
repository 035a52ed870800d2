"""Outbound HL7 v2.5.1 OML^O21 (suggested reflex orders), built and validated with hl7apy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException

from b12stream.errors import HL7Error

__all__ = ["OrderLine", "OrderRequest", "build_oml", "escape"]

_VERSION = "2.5.1"
_TEXT_MAX = 199  # CE.2 maximum length in v2.5.1
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


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


def escape(text: str) -> str:
    """ER7 escape sequences for the default delimiters (``|^~\\&``), escape character first."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


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
    """The request as ER7 bytes (``\\r`` segment terminators, ASCII/UTF-8), validated at strict level.

    Each order is ``NW`` (ORC-1) with OBR-11 ``G`` (generated order: reflex, HL7 table 0065) and the
    triggering order as parent (ORC-8, OBR-29). PID-5 carries only name type ``U`` (unspecified):
    the engine keeps no names, and the receiver matches on PID-3. Display text is cut to the CE.2
    limit. Raises HL7Error when hl7apy rejects the message (no orders, an over-long identifier).
    """
    if not request.orders:
        raise HL7Error("an OML^O21 needs at least one order")
    try:
        message = _message(request)
        if not message.validate():
            raise HL7Error("OML^O21 failed hl7apy validation")
        return message.to_er7().encode("utf-8") + b"\r"
    except HL7apyException as error:
        raise HL7Error(f"OML^O21 could not be built: {error}") from error


def _message(request: OrderRequest) -> Message:
    message = Message("OML_O21", version=_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    msh = message.msh
    msh.msh_3.hd_1 = escape(request.sending_application)
    if request.sending_facility:
        msh.msh_4.hd_1 = escape(request.sending_facility)
    if request.receiving_application:
        msh.msh_5.hd_1 = escape(request.receiving_application)
    if request.receiving_facility:
        msh.msh_6.hd_1 = escape(request.receiving_facility)
    msh.msh_7 = _ts(request.message_time)
    msh.msh_9 = "OML^O21^OML_O21"
    msh.msh_10 = request.control_id
    msh.msh_11 = "P"
    msh.msh_12 = _VERSION
    pid = message.add_group("OML_O21_PATIENT").pid
    pid.pid_3.cx_1 = escape(request.patient_id)
    pid.pid_3.cx_4.hd_1 = escape(request.assigning_authority)
    pid.pid_5.xpn_7 = "U"
    for number, line in enumerate(request.orders, start=1):
        _add_order(message, request, line, number)
    return message


def _add_order(message: Message, request: OrderRequest, line: OrderLine, number: int) -> None:
    group = message.add_group("OML_O21_ORDER")
    orc = group.orc
    orc.orc_1 = "NW"
    orc.orc_2.ei_1 = line.placer_order_number
    orc.orc_2.ei_2 = escape(request.sending_application)
    if request.parent_filler_order_number:
        orc.orc_8.eip_2.ei_1 = escape(request.parent_filler_order_number)
    tq1 = group.add_group("OML_O21_TIMING").tq1
    tq1.tq1_1 = str(number)
    tq1.tq1_9 = "S^Stat^HL70485" if line.stat else "R^Routine^HL70485"
    obr = group.add_group("OML_O21_OBSERVATION_REQUEST").obr
    obr.obr_1 = str(number)
    obr.obr_2.ei_1 = line.placer_order_number
    obr.obr_2.ei_2 = escape(request.sending_application)
    obr.obr_4.ce_1 = escape(line.code)
    obr.obr_4.ce_2 = _text(line.text)
    obr.obr_4.ce_3 = escape(line.coding_system)
    obr.obr_11 = "G"
    if request.parent_filler_order_number:
        obr.obr_29.eip_2.ei_1 = escape(request.parent_filler_order_number)
