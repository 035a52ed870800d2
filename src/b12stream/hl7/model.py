"""Plain frozen records for what an HL7 v2 ORU^R01 message says: wire format only, no medicine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

__all__ = [
    "SHOWN_LIMIT",
    "Location",
    "Rejection",
    "CodedElement",
    "StructuredNumeric",
    "RawObservation",
    "Order",
    "PatientIdentifier",
    "MessageHeader",
    "OruMessage",
    "MessagePatient",
    "shown",
]

# The most characters of a message's own text (a control id, a message type) that a dead letter's
# headers or a ``rejected`` event repeat. A field may be as long as the message and the message is
# kept whole already (the dead letter's value, or its source); copied in full, it would make a record
# the broker refuses, which stops the stream.
SHOWN_LIMIT = 200
# The same for a reason: the engine's own words run to a few hundred characters and are all kept;
# a field quoted in them is what may be of any length.
_REASON_LIMIT = 1_000


def shown(text: str, limit: int = SHOWN_LIMIT) -> str:
    """``text``, or, when longer than ``limit``, its start and its length in that many characters:
    ``ADT^AAAA… (600,004 characters)``. Shown twice, text is shown as once."""
    if len(text) <= limit:
        return text
    marker = f"… ({len(text):,} characters)"
    return text[: limit - len(marker)] + marker


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a message something is wrong. Indices are 1-based as HL7 numbers them.

    ``segment_index`` counts segments from 1 (MSH is 1); ``field`` is the HL7 field number
    (MSH-1 is the field separator); ``byte_offset`` is from the start of the message's bytes.
    """

    segment: str | None = None
    segment_index: int | None = None
    field: int | None = None
    byte_offset: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "segment": self.segment,
            "segment_index": self.segment_index,
            "field": self.field,
            "byte_offset": self.byte_offset,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message the engine cannot use: data with a reason and a location, never an exception."""

    reason: str
    location: Location = field(default_factory=Location)
    control_id: str | None = None
    message_type: str | None = None

    def bounded(self) -> Rejection:
        """This rejection with each of its texts ``shown``: what dead letters and ``rejected``
        events carry, so that no field of a message makes them any larger."""
        segment = self.location.segment
        return Rejection(
            reason=shown(self.reason, _REASON_LIMIT),
            location=self.location if segment is None else replace(self.location, segment=shown(segment)),
            control_id=None if self.control_id is None else shown(self.control_id),
            message_type=None if self.message_type is None else shown(self.message_type),
        )


@dataclass(frozen=True, slots=True)
class CodedElement:
    """A CE/CWE: the primary triplet and the alternate triplet (components 4-6)."""

    code: str = ""
    text: str = ""
    system: str = ""
    alt_code: str = ""
    alt_text: str = ""
    alt_system: str = ""


@dataclass(frozen=True, slots=True)
class StructuredNumeric:
    """An SN value: ``<^10``, ``>=^2000``, ``^1^:^128`` (ratio), ``^10^-^20`` (range)."""

    comparator: str  # "", "<", ">", "<=", ">=", "=", "<>"
    number: float | None
    separator: str = ""  # "", "-", "+", "/", ".", ":"
    second: float | None = None


@dataclass(frozen=True, slots=True)
class RawObservation:
    """One OBX, with its NTE comments, exactly as sent (escapes decoded)."""

    set_id: str
    value_type: str
    code: CodedElement
    sub_id: str
    values: tuple[str, ...]  # OBX-5 repetitions; for CE/CWE the first component
    numeric: StructuredNumeric | None  # NM and SN parsed (the first repetition); None when not numeric
    units: str  # OBX-6 component 1 (the unit code); an unescaped 10^9/L whole (decoders.unit_code)
    reference_range: str
    abnormal_flags: tuple[str, ...]
    result_status: str
    observed_at: datetime | None  # OBX-14
    comments: tuple[str, ...] = ()
    segment_index: int = 0
    explicit_null: bool = False  # OBX-5 was ``""``: the sender deleted the value


@dataclass(frozen=True, slots=True)
class Order:
    """One ORC/OBR group and its observations."""

    placer_order_number: str
    filler_order_number: str
    universal_service_id: CodedElement
    observation_time: datetime | None  # OBR-7, the collection time
    result_status: str  # OBR-25
    observations: tuple[RawObservation, ...]
    order_control: str = ""  # ORC-1
    segment_index: int = 0


@dataclass(frozen=True, slots=True)
class PatientIdentifier:
    """One PID-3 repetition."""

    id: str
    assigning_authority: str
    identifier_type: str


@dataclass(frozen=True, slots=True)
class MessageHeader:
    control_id: str
    message_type: str  # e.g. "ORU"
    trigger_event: str  # e.g. "R01"
    version: str
    sending_application: str
    sending_facility: str
    message_time: datetime | None
    charset: str  # the Python codec the text was decoded with
    charset_note: str  # why that codec: "MSH-18 UNICODE UTF-8", "fallback latin-1", ...


@dataclass(frozen=True, slots=True)
class UnreadableTime:
    """An OBX-14 or OBR-7 of an order that holds something other than an HL7 date/time: read as no
    time, so that whoever knows which results matter can reject the message at it (`rejected_at`)."""

    segment: str  # OBX or OBR
    segment_index: int
    field: int  # 14 or 7
    length: int  # characters of the text, which is never shown: a date of care is PHI


@dataclass(frozen=True, slots=True)
class OruMessage:
    header: MessageHeader
    patient_ids: tuple[PatientIdentifier, ...]
    visit_class: str  # PV1-2
    orders: tuple[Order, ...]
    sex: str = ""  # PID-8: used only for the anaemia fallback; never logged
    # OBX of the PATIENT group (v2.7+, before any ORC/OBR): no order's results, kept to tell they are.
    patient_observations: tuple[RawObservation, ...] = ()
    unreadable_times: tuple[UnreadableTime, ...] = ()


@dataclass(frozen=True, slots=True)
class MessagePatient:
    """What keys a message to its patient (``read_patient``): its header and its PID-3 identifiers."""

    header: MessageHeader
    patient_ids: tuple[PatientIdentifier, ...]
