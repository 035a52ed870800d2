"""One message's bytes to what the engine uses: the ORU^R01, the patient key, canonical observations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.patient_key import KeyRule, choose_patient_key
from b12stream.engine.engine import Engine
from b12stream.hl7.model import OruMessage, PatientIdentifier, Rejection
from b12stream.hl7.oru import read_oru, read_patient, rejected_at
from b12stream.hl7.records import slot_constructor

__all__ = ["Accepted", "Keyed", "ingest", "patient_key", "patient_of"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A usable message: its patient key, the observations the terminology recognised (maybe none),
    and a digest of its bytes, by which a re-sent message is recognised (R10 idempotency)."""

    message: OruMessage
    patient: PatientKey
    observations: tuple[Observation, ...]
    digest: str


def ingest(raw: bytes, engine: Engine) -> Accepted | Rejection:
    """Read one message (no framing) and key it to a patient. Never raises for bad input.

    A message that is not a readable ORU^R01, whose PID-3 has no identifier the key rule accepts, or
    with a result of a known analyte that has no time (no OBX-14, OBR-7 or usable MSH-7), is a
    Rejection. A message with no recognised analyte is Accepted with no observations: it is
    read and leads to no finding.
    """
    message = read_oru(raw)
    if isinstance(message, Rejection):
        return message
    patient = patient_key(raw, message.patient_ids, engine.key_rule)
    if isinstance(patient, Rejection):
        return patient
    if message.header.message_time is None:
        # MSH-7 is the last time a result can take: without it, a result of a known analyte with
        # neither OBX-14 nor OBR-7 has no time to be evaluated at, and would be left out unseen.
        untimed = engine.terminology.read(message).untimed
        if untimed:
            return untimed_rejection(raw, untimed)
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return _new_accepted(message, patient, engine.terminology.observations(message), digest)


def untimed_rejection(raw: bytes, untimed: tuple[str, ...]) -> Rejection:
    """The rejection, located at MSH-7, of the message ``raw`` whose results of the analytes coded
    ``untimed`` (`TerminologyReading.untimed`) have no time."""
    shown = ", ".join(dict.fromkeys(untimed))
    reason = f"no time for {shown}: neither OBX-14 nor OBR-7 gives one, and MSH-7 is empty or not a date/time"
    return rejected_at(raw, reason, "MSH", 7)


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
