"""ORU^R01 (v2.3-v2.8.2) bytes to an OruMessage, or a Rejection that says why and where."""

from __future__ import annotations

from typing import NoReturn

from b12stream.hl7.charset import DecodedText
from b12stream.hl7.decoders import FieldDecoders, decoders_for
from b12stream.hl7.er7 import (
    NULL,
    Encoding,
    first_text,
    is_segment_id,
    padded,
    read_encoding,
    split_segments,
    unescape,
)
from b12stream.hl7.errors import (
    BadStructure,
    MessageRejected,
    MissingField,
    UnsupportedMessageType,
)
from b12stream.hl7.model import (
    MessageHeader,
    MessagePatient,
    Order,
    OruMessage,
    PatientIdentifier,
    RawObservation,
    Rejection,
    UnreadableTime,
)
from b12stream.hl7.reading import read_bytes
from b12stream.hl7.records import slot_constructor
from b12stream.hl7.timestamps import parse_ts

__all__ = ["not_a_time", "read_oru", "read_patient", "rejected_at"]

# Segments that close an OBX's NTE group: a comment after them belongs to something else.
_CLOSES_OBSERVATION = frozenset({"OBR", "ORC", "SPM", "PID", "PV1", "PV2", "TQ1", "TQ2", "CTD", "FT1", "CTI"})
# The segments of an ORU^R01. A line that starts with one of them but not with it and MSH-1's field
# separator is a segment written with another separator; any other malformed line may be text cut
# from a field (a name, a comment), which a rejection never repeats.
_ORU_SEGMENTS = _CLOSES_OBSERVATION | {"MSH", "SFT", "PD1", "NK1", "PRT", "OBX", "NTE"}
# The times the engine reads, by segment and field: what a rejection calls them.
_TIMES = {("OBX", 14): "observation time", ("OBR", 7): "collection time"}
_PATIENT_OBSERVATIONS_FROM = (2, 7)  # ORU^R01 has OBX in its PATIENT group from v2.7 on
_new_observation = slot_constructor(RawObservation)
_new_order = slot_constructor(Order)
_new_header = slot_constructor(MessageHeader)
_new_message = slot_constructor(OruMessage)
_new_identifier = slot_constructor(PatientIdentifier)


def read_oru(data: bytes) -> OruMessage | Rejection:
    """Read one ORU^R01 message; never raises.

    ``data`` is one message's bytes (see ``framing.split_messages``); MLLP bytes and surrounding
    whitespace are tolerated. Anything the engine cannot use is a ``Rejection`` naming the reason
    and, where there is one, the segment, field and byte offset: an MLLP frame with a start block
    and no end block (the message may be truncated), no MSH, unusable MSH-1/MSH-2,
    empty MSH-9 or MSH-10, a type other than ORU^R01 (``Rejection.message_type`` is set), no PID,
    more than one PID, an OBX before any OBR, a malformed segment id (or one followed by another
    character than MSH-1's field separator). An OBX-14 or OBR-7 of an order that is not an HL7
    date/time is read as no time and listed in ``unreadable_times``: whether it times a result that
    matters is for the terminology to say (``engine.ingest``).

    Identifiers, codes, units and statuses are trimmed of surrounding spaces (padding is common);
    observation values and comments are kept as sent, escapes decoded. OBX in the SPECIMEN group
    stay with their order (some senders put the results themselves after SPM). Patient-level OBX
    (v2.7+, before any ORC/OBR) are no order's results: they are kept apart, in
    ``patient_observations``, without their comments.
    """
    return read_bytes(data, _read)


def read_patient(data: bytes) -> MessagePatient | Rejection:
    """Read only what keys a message to its patient: the MSH, checked as ``read_oru`` checks it, and
    the PID's identifiers; never raises.

    About a third of the cost of ``read_oru`` for a blood count. For a message ``read_oru`` accepts,
    the identifiers are the same (the same code reads them); a message rejected here is rejected by
    ``read_oru`` too, while one accepted here may still be rejected there for its later segments.
    """
    return read_bytes(data, _read_patient)


def rejected_at(
    data: bytes, reason: str, segment: str, field: int, segment_index: int | None = None
) -> Rejection:
    """A rejection for ``reason`` at ``field`` of a segment of a message that ``read_patient`` accepts:
    the MSH, the PID (one whose PID the engine cannot use, such as no identifier for the patient
    key), or the segment at ``segment_index`` (an OBX-14 that is no date/time), located as the
    reader's own rejections are: segment index and byte offset of that field. Never raises."""

    def reject(decoded: DecodedText) -> NoReturn:
        enc, lines, _, header = _opening(decoded)
        if segment_index is not None:
            index = segment_index
        elif segment == "MSH":
            index = 1
        else:
            found = _pid_indexes(lines, enc)
            if not found:
                raise _no_pid(header)
            index = found[0]
        raise MessageRejected(reason, segment=segment, segment_index=index, field=field,
                              control_id=header.control_id, message_type="ORU^R01")

    return read_bytes(data, reject)


def _opening(decoded: DecodedText) -> tuple[Encoding, list[str], FieldDecoders, MessageHeader]:
    """The delimiters, the segments, the field decoders and the checked MSH of a message."""
    text = decoded.text
    enc = read_encoding(text)
    lines = split_segments(text)
    separator = enc.field
    fields = decoders_for(enc)
    msh = lines[0].split(separator)
    msh.insert(1, separator)
    return enc, lines, fields, _header(padded(msh, 13), enc, decoded, fields)


def _read_patient(decoded: DecodedText) -> MessagePatient:
    enc, lines, _, header = _opening(decoded)
    found = _pid_indexes(lines, enc)
    if not found:
        raise _missing_pid(lines, enc, header)
    if len(found) > 1:
        raise _second_pid(header, found[1])
    return MessagePatient(header, _patient_ids(lines[found[0] - 1].split(enc.field), enc))


def _pid_indexes(lines: list[str], enc: Encoding) -> list[int]:
    """The segment index of every PID."""
    pid_head = "PID" + enc.field
    return [index for index, line in enumerate(lines[1:], 2) if line[:4] == pid_head or line == "PID"]


def _no_pid(header: MessageHeader) -> BadStructure:
    return BadStructure("no PID segment", segment="PID", control_id=header.control_id, message_type="ORU^R01")


def _missing_pid(lines: list[str], enc: Encoding, header: MessageHeader) -> BadStructure:
    """Why no PID was found: a PID written with another field separator than MSH-1's is named as
    ``_read`` names it, so that the stream's ingest stage, which reads the patient alone, dead-letters
    the message with the reason ``inspect`` gives."""
    for index, line in enumerate(lines[1:], 2):
        if line[:3] == "PID" and len(line) > 3 and not line[3].isalnum():
            return _malformed_id(line[:4], index, header, enc.field)
    return _no_pid(header)


def _second_pid(header: MessageHeader, index: int) -> BadStructure:
    return BadStructure("more than one PID: one patient per ORU^R01 is supported", segment="PID",
                        segment_index=index, control_id=header.control_id, message_type="ORU^R01")


def _malformed_id(name: str, index: int, header: MessageHeader, separator: str) -> BadStructure:
    head = name[:3]
    if head in _ORU_SEGMENTS and len(name) > 3 and not name[3].isalnum():
        return BadStructure(
            f"segment {head} is followed by {name[3]!r}, not the field separator {separator!r} that MSH-1 "
            "declares",
            segment=head, segment_index=index, control_id=header.control_id, message_type="ORU^R01")
    # A line break inside a field makes the rest of it a "segment" (a patient name, a comment): its
    # text may be PHI, and a rejection is logged and published, so only its length is told; the
    # segment index and byte offset locate it.
    length = f"{len(name)} character" if len(name) == 1 else f"{len(name)} characters"
    return BadStructure(
        f"malformed segment id ({length}, not 3 upper-case letters or digits starting with a letter)",
        segment_index=index, control_id=header.control_id, message_type="ORU^R01")


def not_a_time(unreadable: UnreadableTime) -> str:
    """Why a message is rejected at ``unreadable``. Read as no time, it would be replaced by the next
    one (OBR-7, MSH-7) without a word. A date of a patient's care is PHI, and a rejection is logged
    and published: only its length is told."""
    return (
        f"{unreadable.segment}-{unreadable.field} ({_TIMES[unreadable.segment, unreadable.field]}) is "
        f"not an HL7 date/time YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ] ({unreadable.length} characters, "
        "not shown)"
    )


def _read(decoded: DecodedText) -> OruMessage:
    enc, lines, fields, header = _opening(decoded)
    separator = enc.field
    first, times, descriptions = fields.first, fields.times, fields.descriptions

    patient: list[str] | None = None
    visit_class = ""
    orders: list[_OrderDraft] = []
    observations: list[RawObservation] | None = None  # those of the latest OBR
    patient_observations: list[RawObservation] = []
    unreadable: list[UnreadableTime] = []  # OBX-14 and OBR-7 that are no date/time
    pending_orc: list[str] | None = None
    # An OBX's NTE comments arrive after it: the comments of the open OBX, and every commented OBX
    # (its order's list, its position there, its comments) to complete once all segments are read.
    open_observation = False
    notes: list[str] | None = None
    annotated: list[tuple[list[RawObservation], int, list[str]]] = []
    obx_head = "OBX" + separator
    for index, line in enumerate(lines[1:], 2):
        if line[:4] == obx_head or line == "OBX":
            target = observations
            if target is None:
                if pending_orc is not None or patient is None or not _version_at_least(
                        header.version, _PATIENT_OBSERVATIONS_FROM):
                    raise BadStructure("OBX before any OBR", segment="OBX", segment_index=index,
                                       control_id=header.control_id, message_type="ORU^R01")
                target = patient_observations
            f = line.split(separator)
            if len(f) < 15:
                f = padded(f, 15)
            key = (f[1], f[2], f[3], f[4], f[6], f[7], f[8], f[11])
            try:
                described = descriptions[key]
            except KeyError:
                described = fields.describe(key)
            set_id, value_type, code, sub_id, units, reference_range, abnormal, status, values_of = described
            values, numeric, explicit_null = values_of[f[5]]
            observed_at = times[f[14]]
            # Not an empty field or "", of an order's result: a patient-level OBX is no result, and its
            # time replaces none, so it costs the message nothing.
            if observed_at is None and f[14] and first[f[14]] and target is observations:
                unreadable.append(UnreadableTime("OBX", index, 14, len(first[f[14]])))
            target.append(_new_observation(
                set_id, value_type, code, sub_id, values, numeric, units, reference_range, abnormal, status,
                observed_at, (), index, explicit_null))
            # Comments are kept for an order's results only.
            open_observation, notes = target is observations, None
            continue
        # Only the id (the first field) is needed to skip a segment.
        at = line.find(separator)
        name = line if at == -1 else line[:at]
        if name == "NTE":
            if open_observation:
                comment = _comment(line.split(separator), enc)
                if comment:
                    if notes is None:
                        notes = []
                        annotated.append((observations, len(observations) - 1, notes))  # type: ignore[arg-type]
                    notes.append(comment)
        elif name == "OBR":
            if patient is None:
                raise BadStructure("no PID before the first OBR", segment="OBR", segment_index=index,
                                   control_id=header.control_id, message_type="ORU^R01")
            obr = line.split(separator)
            if len(obr) > 7 and obr[7] and times[obr[7]] is None and first[obr[7]]:
                unreadable.append(UnreadableTime("OBR", index, 7, len(first[obr[7]])))
            draft = _OrderDraft(pending_orc, obr, index)
            orders.append(draft)
            observations = draft.observations
            pending_orc = None
            open_observation = False
        elif name == "ORC":
            pending_orc = line.split(separator)
            open_observation = False
        elif name == "PID":
            if patient is not None:
                raise _second_pid(header, index)
            patient = line.split(separator)
            open_observation = False
        elif name == "PV1":
            pv1 = line.split(separator)
            visit_class = first[pv1[2]] if len(pv1) > 2 else ""
            open_observation = False
        elif not is_segment_id(name):
            raise _malformed_id(name, index, header, separator)
        elif name in _CLOSES_OBSERVATION:
            open_observation = False
    if patient is None:
        raise _no_pid(header)
    for commented, position, comments in annotated:
        commented[position] = _with_comments(commented[position], tuple(comments))
    return _new_message(
        header,
        _patient_ids(patient, enc),
        visit_class,
        tuple([draft.build(enc, fields) for draft in orders]),
        first[patient[8]] if len(patient) > 8 else "",
        tuple(patient_observations),
        tuple(unreadable),
    )


def _header(msh: list[str], enc: Encoding, decoded: DecodedText, fields: FieldDecoders) -> MessageHeader:
    control_id = first_text(msh[10], enc)
    message_type, trigger = fields.message_type[msh[9]]
    if not message_type:
        raise MissingField("MSH-9 message type is empty", segment="MSH", segment_index=1, field=9,
                           control_id=control_id or None)
    if (message_type, trigger) != ("ORU", "R01"):
        shown = f"{message_type}^{trigger}" if trigger else message_type
        raise UnsupportedMessageType(f"message type {shown} is not ORU^R01", segment="MSH", segment_index=1,
                                     field=9, message_type=shown, control_id=control_id or None)
    if not control_id:
        raise MissingField("MSH-10 message control id is empty", segment="MSH", segment_index=1, field=10,
                           message_type="ORU^R01")
    first = fields.first
    return _new_header(
        control_id,
        message_type,
        trigger,
        first[msh[12]],
        first[msh[3]],
        first[msh[4]],
        parse_ts(first_text(msh[7], enc)),
        decoded.codec,
        decoded.note,
    )


class _OrderDraft:
    """An OBR (with the ORC before it) collecting its OBX."""

    __slots__ = ("index", "obr", "observations", "orc")

    def __init__(self, orc: list[str] | None, obr: list[str], index: int) -> None:
        self.orc = orc or []
        self.obr = obr
        self.index = index
        self.observations: list[RawObservation] = []

    def build(self, enc: Encoding, fields: FieldDecoders) -> Order:
        orc, obr = padded(self.orc, 4), padded(self.obr, 26)
        first = fields.first
        return _new_order(
            first_text(orc[2], enc) or first_text(obr[2], enc),
            first_text(orc[3], enc) or first_text(obr[3], enc),
            fields.coded[obr[4]],
            fields.times[obr[7]],
            first[obr[25]],
            tuple(self.observations),
            first[orc[1]],
            self.index,
        )


def _with_comments(observation: RawObservation, comments: tuple[str, ...]) -> RawObservation:
    """The observation with its NTE comments (known only once the segments after it are read)."""
    o = observation
    return _new_observation(o.set_id, o.value_type, o.code, o.sub_id, o.values, o.numeric, o.units,
                            o.reference_range, o.abnormal_flags, o.result_status, o.observed_at, comments,
                            o.segment_index, o.explicit_null)


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
    component = enc.component
    for repetition in raw.split(enc.repetition):
        parts = repetition.split(component)
        identifier = _sub_first(parts[0], enc).strip()
        if identifier and identifier != NULL:
            ids.append(_new_identifier(
                identifier,
                _sub_first(parts[3], enc).strip() if len(parts) > 3 else "",
                _sub_first(parts[4], enc).strip() if len(parts) > 4 else "",
            ))
    return tuple(ids)


def _sub_first(component: str, enc: Encoding) -> str:
    """A component's first sub-component, escapes decoded."""
    at = component.find(enc.subcomponent)
    if at != -1:
        component = component[:at]
    return unescape(component, enc) if enc.escape in component else component


def _version_at_least(version: str, minimum: tuple[int, int]) -> bool:
    parts = version.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1][:1].isdigit():
        return False
    minor = parts[1][:1]
    return (int(parts[0]), int(minor)) >= minimum
