"""ORU^R01 (v2.3-v2.8.2) bytes to an OruMessage, or a Rejection that says why and where."""

from __future__ import annotations

import re

from b12stream.hl7.charset import DecodedText, decode_message
from b12stream.hl7.er7 import (
    NULL,
    Encoding,
    component_text,
    first_text,
    is_segment_id,
    padded,
    read_encoding,
    repetition_text,
    split_segments,
    unescape,
)
from b12stream.hl7.errors import (
    BadStructure,
    MessageRejected,
    MissingField,
    NotAMessage,
    UnsupportedMessageType,
)
from b12stream.hl7.framing import strip_envelope
from b12stream.hl7.model import (
    CodedElement,
    Location,
    MessageHeader,
    Order,
    OruMessage,
    PatientIdentifier,
    RawObservation,
    Rejection,
)
from b12stream.hl7.records import slot_constructor
from b12stream.hl7.timestamps import parse_ts
from b12stream.hl7.values import observation_values

__all__ = ["read_oru"]

# Segments that close an OBX's NTE group: a comment after them belongs to something else.
_CLOSES_OBSERVATION = frozenset({"OBR", "ORC", "SPM", "PID", "PV1", "PV2", "TQ1", "TQ2", "CTD", "FT1", "CTI"})
_PATIENT_OBSERVATIONS_FROM = (2, 7)  # ORU^R01 has OBX in its PATIENT group from v2.7 on
_SEGMENT_LINE = re.compile(r"[^\r\n]+")
_new_observation = slot_constructor(RawObservation)


def read_oru(data: bytes) -> OruMessage | Rejection:
    """Read one ORU^R01 message; never raises.

    ``data`` is one message's bytes (see ``framing.split_messages``); MLLP bytes and surrounding
    whitespace are tolerated. Anything the engine cannot use is a ``Rejection`` naming the reason
    and, where there is one, the segment, field and byte offset: no MSH, unusable MSH-1/MSH-2,
    empty MSH-9 or MSH-10, a type other than ORU^R01 (``Rejection.message_type`` is set), no PID,
    more than one PID, an OBX before any OBR, a malformed segment id.

    Identifiers, codes, units and statuses are trimmed of surrounding spaces (padding is common);
    observation values and comments are kept as sent, escapes decoded. OBX in the SPECIMEN group
    stay with their order (some senders put the results themselves after SPM). Patient-level OBX
    (v2.7+, before any ORC/OBR) carry no order and are left out.
    """
    body, skipped = strip_envelope(bytes(data))
    decoded = decode_message(body)
    try:
        return _read(decoded)
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


def _read(decoded: DecodedText) -> OruMessage:
    text = decoded.text
    enc = read_encoding(text)
    lines = split_segments(text)
    separator, repetition, subcomponent, escape = enc.field, enc.repetition, enc.subcomponent, enc.escape
    msh = lines[0].split(separator)
    msh.insert(1, separator)
    header = _header(padded(msh, 13), enc, decoded)
    codes = _code_cache(enc)

    patient: list[str] | None = None
    visit_class = ""
    orders: list[_OrderDraft] = []
    pending_orc: list[str] | None = None
    observation: _ObservationDraft | None = None
    for index in range(2, len(lines) + 1):
        line = lines[index - 1]
        fields = line.split(separator)
        name = fields[0]
        if name == "OBX":
            if not orders:
                if pending_orc is None and patient is not None and _version_at_least(
                        header.version, _PATIENT_OBSERVATIONS_FROM):
                    observation = None
                    continue
                raise BadStructure("OBX before any OBR", segment="OBX", segment_index=index,
                                   control_id=header.control_id, message_type="ORU^R01")
            plain = not (escape in line or repetition in line or subcomponent in line or '"' in line)
            observation = _ObservationDraft(fields, index, plain)
            orders[-1].observations.append(observation)
        elif name == "NTE":
            if observation is not None:
                comment = _comment(fields, enc)
                if comment:
                    observation.comments.append(comment)
        elif name == "OBR":
            if patient is None:
                raise BadStructure("no PID before the first OBR", segment="OBR", segment_index=index,
                                   control_id=header.control_id, message_type="ORU^R01")
            orders.append(_OrderDraft(pending_orc, fields, index))
            pending_orc = None
            observation = None
        elif name == "ORC":
            pending_orc = fields
            observation = None
        elif name == "PID":
            if patient is not None:
                raise BadStructure("more than one PID: one patient per ORU^R01 is supported",
                                   segment="PID", segment_index=index,
                                   control_id=header.control_id, message_type="ORU^R01")
            patient = fields
            observation = None
        elif name == "PV1":
            visit_class = first_text(fields[2], enc) if len(fields) > 2 else ""
            observation = None
        elif not is_segment_id(name):
            shown = name if len(name) <= 20 else name[:20] + "…"
            raise BadStructure(f"malformed segment id {shown!r}", segment=name[:20] or None,
                               segment_index=index, control_id=header.control_id, message_type="ORU^R01")
        elif name in _CLOSES_OBSERVATION:
            observation = None
    if patient is None:
        raise BadStructure("no PID segment", segment="PID",
                           control_id=header.control_id, message_type="ORU^R01")
    return OruMessage(
        header=header,
        patient_ids=_patient_ids(patient, enc),
        visit_class=visit_class,
        orders=tuple(draft.build(enc, codes) for draft in orders),
        sex=first_text(patient[8], enc) if len(patient) > 8 else "",
    )


def _header(msh: list[str], enc: Encoding, decoded: DecodedText) -> MessageHeader:
    control_id = first_text(msh[10], enc)
    message_type = first_text(msh[9], enc)
    if not message_type:
        raise MissingField("MSH-9 message type is empty", segment="MSH", segment_index=1, field=9,
                           control_id=control_id or None)
    trigger = component_text(msh[9], 2, enc).strip()
    if (message_type, trigger) != ("ORU", "R01"):
        shown = f"{message_type}^{trigger}" if trigger else message_type
        raise UnsupportedMessageType(f"message type {shown} is not ORU^R01", segment="MSH", segment_index=1,
                                     field=9, message_type=shown, control_id=control_id or None)
    if not control_id:
        raise MissingField("MSH-10 message control id is empty", segment="MSH", segment_index=1, field=10,
                           message_type="ORU^R01")
    return MessageHeader(
        control_id=control_id,
        message_type=message_type,
        trigger_event=trigger,
        version=first_text(msh[12], enc),
        sending_application=first_text(msh[3], enc),
        sending_facility=first_text(msh[4], enc),
        message_time=parse_ts(first_text(msh[7], enc)),
        charset=decoded.codec,
        charset_note=decoded.note,
    )


class _ObservationDraft:
    """An OBX waiting for the NTE segments that may follow it.

    ``plain`` says the segment holds no repetition, sub-component, escape character or quote (so
    no explicit null): every field's first component can be cut out without the general decoding
    path. That is the common case.
    """

    __slots__ = ("comments", "fields", "index", "plain")

    def __init__(self, fields: list[str], index: int, plain: bool) -> None:
        self.fields = fields
        self.index = index
        self.plain = plain
        self.comments: list[str] = []

    def build(self, enc: Encoding, codes: dict[str, CodedElement]) -> RawObservation:
        f = padded(self.fields, 15)
        code = codes.get(f[3]) or _coded(f[3], enc, codes)
        if self.plain:
            comp = enc.component
            set_id, value_type, sub_id, units, flag, status, observed = [
                raw.partition(comp)[0].strip() for raw in (f[1], f[2], f[4], f[6], f[8], f[11], f[14])]
            flags: tuple[str, ...] = (flag,) if flag else ()
            reference_range = f[7].strip()
        else:
            set_id, value_type, sub_id, units, status, observed = [
                first_text(raw, enc) for raw in (f[1], f[2], f[4], f[6], f[11], f[14])]
            flags = _flags(f[8], enc)
            reference_range = repetition_text(f[7], enc).strip()
        values, numeric, explicit_null = observation_values(f[5], value_type, enc)
        comments = self.comments
        return _new_observation(set_id, value_type, code, sub_id, values, numeric, units, reference_range,
                                flags, status, parse_ts(observed), tuple(comments) if comments else (),
                                self.index, explicit_null)


class _OrderDraft:
    """An OBR (with the ORC before it) collecting its OBX."""

    __slots__ = ("index", "obr", "observations", "orc")

    def __init__(self, orc: list[str] | None, obr: list[str], index: int) -> None:
        self.orc = orc or []
        self.obr = obr
        self.index = index
        self.observations: list[_ObservationDraft] = []

    def build(self, enc: Encoding, codes: dict[str, CodedElement]) -> Order:
        orc, obr = padded(self.orc, 4), padded(self.obr, 26)
        return Order(
            placer_order_number=first_text(orc[2], enc) or first_text(obr[2], enc),
            filler_order_number=first_text(orc[3], enc) or first_text(obr[3], enc),
            universal_service_id=codes.get(obr[4]) or _coded(obr[4], enc, codes),
            observation_time=parse_ts(first_text(obr[7], enc)),
            result_status=first_text(obr[25], enc),
            observations=tuple(draft.build(enc, codes) for draft in self.observations),
            order_control=first_text(orc[1], enc),
            segment_index=self.index,
        )


def _coded(raw: str, enc: Encoding, cache: dict[str, CodedElement]) -> CodedElement:
    """A CE/CWE from a field's first repetition (each component's first sub-component), memoised."""
    if not raw or raw == NULL:
        return _EMPTY_CODE
    parts = raw.split(enc.repetition, 1)[0].split(enc.component)
    if len(parts) < 6:
        parts.extend([""] * (6 - len(parts)))
    sub, esc = enc.subcomponent, enc.escape
    for i in range(6):
        part = parts[i]
        if sub in part:
            part = part.split(sub, 1)[0]
        if esc in part:
            part = unescape(part, enc)
        parts[i] = part.strip()
    coded = CodedElement(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    if len(cache) >= _CODE_CACHE_SIZE:
        cache.clear()
    cache[raw] = coded
    return coded


def _code_cache(enc: Encoding) -> dict[str, CodedElement]:
    """The memo of coded elements for one set of delimiters.

    A feed sends the same few hundred OBX-3/OBR-4 texts over and over; CodedElement is immutable,
    so sharing one instance per text is safe and saves building it for every result.
    """
    cache = _CODE_CACHES.get(enc)
    if cache is None:
        if len(_CODE_CACHES) >= _CODE_CACHE_SIZE:
            _CODE_CACHES.clear()
        cache = _CODE_CACHES[enc] = {}
    return cache


_EMPTY_CODE = CodedElement()
_CODE_CACHE_SIZE = 4096
_CODE_CACHES: dict[Encoding, dict[str, CodedElement]] = {}


def _flags(raw: str, enc: Encoding) -> tuple[str, ...]:
    """OBX-8: the code of every non-empty repetition."""
    if not raw or raw == NULL:
        return ()
    flags = []
    for repetition in raw.split(enc.repetition):
        flag = first_text(repetition, enc)
        if flag:
            flags.append(flag)
    return tuple(flags)


def _comment(nte: list[str], enc: Encoding) -> str:
    """NTE-3, repetitions joined by line breaks, escapes decoded."""
    raw = nte[3] if len(nte) > 3 else ""
    if not raw or raw == NULL:
        return ""
    lines = raw.split(enc.repetition)
    return "\n".join(unescape(line, enc) if enc.escape in line else line for line in lines).strip()


def _patient_ids(pid: list[str], enc: Encoding) -> tuple[PatientIdentifier, ...]:
    """Every PID-3 repetition with an id: CX-1 id, CX-4 authority (first sub-component), CX-5 type."""
    raw = pid[3] if len(pid) > 3 else ""
    if not raw:
        return ()
    ids = []
    for repetition in raw.split(enc.repetition):
        identifier = component_text(repetition, 1, enc).strip()
        if identifier and identifier != NULL:
            ids.append(PatientIdentifier(
                id=identifier,
                assigning_authority=component_text(repetition, 4, enc).strip(),
                identifier_type=component_text(repetition, 5, enc).strip(),
            ))
    return tuple(ids)


def _version_at_least(version: str, minimum: tuple[int, int]) -> bool:
    parts = version.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1][:1].isdigit():
        return False
    minor = parts[1][:1]
    return (int(parts[0]), int(minor)) >= minimum


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
    elif isinstance(rejected, NotAMessage):
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
