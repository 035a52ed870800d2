"""One message's bytes to what the engine uses: the ORU^R01, the patient key, canonical observations."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.patient_key import KeyRule, choose_patient_key
from b12stream.clinical.terminology import Terminology, UnusableResult
from b12stream.engine.engine import Engine
from b12stream.hl7.model import OruMessage, PatientIdentifier, Rejection, UnreadableTime
from b12stream.hl7.oru import not_a_time, read_oru, read_patient, rejected_at
from b12stream.hl7.records import slot_constructor

__all__ = ["Accepted", "Keyed", "ingest", "patient_key", "patient_of"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A usable message: its patient key, the observations the terminology recognised (maybe none),
    a digest of its bytes, by which a re-sent message is recognised (R10 idempotency), and the results
    of known analytes it left out as unusable (``TerminologyReading.unusable``)."""

    message: OruMessage
    patient: PatientKey
    observations: tuple[Observation, ...]
    digest: str
    unusable: tuple[UnusableResult, ...] = ()


def ingest(raw: bytes, engine: Engine) -> Accepted | Rejection:
    """Read one message (no framing) and key it to a patient. Never raises for bad input.

    A message that is not a readable ORU^R01, whose PID-3 has no identifier the key rule accepts, or
    with a result of a known analyte that has no usable time (``time_rejection``), is a Rejection.
    A message with no recognised analyte is Accepted with no observations: it is read and leads to
    no finding.
    """
    message = read_oru(raw)
    if isinstance(message, Rejection):
        return message
    patient = patient_key(raw, message.patient_ids, engine.key_rule)
    if isinstance(patient, Rejection):
        return patient
    terminology = engine.terminology
    # Only with no MSH-7 may a result have no time at all, and the reading say what it left out; the
    # rest (most messages) read their observations alone.
    reading = terminology.read(message) if message.header.message_time is None else None
    untimed = time_rejection(raw, message, terminology, reading.untimed if reading is not None else ())
    if untimed is not None:
        return untimed
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    if reading is not None:
        return _new_accepted(message, patient, reading.observations, digest, reading.unusable)
    return _new_accepted(message, patient, terminology.observations(message), digest, ())


def time_rejection(
    raw: bytes, message: OruMessage, terminology: Terminology, untimed: Sequence[str]
) -> Rejection | None:
    """The rejection of the message ``raw`` when a result of a known analyte has no usable time: the
    OBX-14 or OBR-7 that would time it is no date/time (rejected there), or it has no OBX-14, OBR-7
    or MSH-7 at all and is one the rules read at its time (rejected at MSH-7): ``untimed``, the codes
    of such results (``TerminologyReading.untimed``, see `LeftOut.note_untimed`; none when MSH-7
    times the message). It would be timed by another field without a word, or left out unseen.
    A time that is no date/time but times no such result costs the message nothing, and so does a
    result with no time that needs none or is left out as unusable (a cancellation).
    None for the rest (most messages: two attribute reads)."""
    if message.unreadable_times:
        unreadable = _unreadable_time_of_a_result(message, terminology)
        if unreadable is not None:
            return rejected_at(
                raw, not_a_time(unreadable), unreadable.segment, unreadable.field, unreadable.segment_index
            )
    if untimed:
        shown = ", ".join(dict.fromkeys(untimed))
        reason = (
            f"no time for {shown}: neither OBX-14 nor OBR-7 gives one, and MSH-7 is empty or not a date/time"
        )
        return rejected_at(raw, reason, "MSH", 7)
    return None


def _unreadable_time_of_a_result(message: OruMessage, terminology: Terminology) -> UnreadableTime | None:
    """The first unreadable OBX-14 or OBR-7 that times a result of a known analyte: its own OBX-14,
    its order's OBR-7 when it has no OBX-14, or the OBR-7 of an order-level result (no OBX)."""
    unreadable = {time.segment_index: time for time in message.unreadable_times}
    for order in message.orders:
        collection = unreadable.get(order.segment_index)
        order_level = not order.observations and terminology.match(order.universal_service_id) is not None
        if collection is not None and order_level:
            return collection
        for obx in order.observations:
            if terminology.match(obx.code) is None:
                continue
            own = unreadable.get(obx.segment_index)
            if own is not None:
                return own
            if obx.observed_at is None and collection is not None:
                return collection
    return None


# One per message: the frozen class's own constructor sets each field through object.__setattr__.
_new_accepted = slot_constructor(Accepted)


@dataclass(frozen=True, slots=True)
class Keyed:
    """A message's patient key, read without the rest of the message (``patient_of``)."""

    patient: PatientKey
    control_id: str


def patient_of(raw: bytes, engine: Engine) -> Keyed | Rejection:
    """The patient key ``ingest`` gives the message, read from its MSH and PID alone; never raises.

    For the stage that only routes messages by patient: about a quarter of the cost of ``ingest``. A message
    ``ingest`` accepts gets the same key; one rejected here is rejected by ``ingest`` too.
    """
    found = read_patient(raw)
    if isinstance(found, Rejection):
        return found
    patient = patient_key(raw, found.patient_ids, engine.key_rule)
    return patient if isinstance(patient, Rejection) else Keyed(patient, found.header.control_id)


def patient_key(
    raw: bytes, identifiers: tuple[PatientIdentifier, ...], rule: KeyRule
) -> PatientKey | Rejection:
    """The patient key ``rule`` takes from ``identifiers`` (the PID-3 of the message ``raw``), or the
    rejection, located at PID-3, of a message with none it takes. Never raises."""
    patient = choose_patient_key(identifiers, rule)
    if patient is not None:
        return patient
    return rejected_at(raw, "no PID-3 identifier satisfies the patient key rule", "PID", 3)
