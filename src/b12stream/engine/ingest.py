"""One message's bytes to what the engine uses: the ORU^R01, the patient key, canonical observations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.patient_key import KeyRule, choose_patient_key
from b12stream.engine.engine import Engine
from b12stream.hl7.model import OruMessage, PatientIdentifier, Rejection
from b12stream.hl7.oru import read_oru, read_patient, rejected_at_pid
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

    A message that is not a readable ORU^R01, or whose PID-3 has no identifier the key rule accepts,
    is a Rejection. A message with no recognised analyte is Accepted with no observations: it is
    read and leads to no finding.
    """
    message = read_oru(raw)
    if isinstance(message, Rejection):
        return message
    patient = patient_key(raw, message.patient_ids, engine.key_rule)
    if isinstance(patient, Rejection):
        return patient
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return _new_accepted(message, patient, engine.terminology.observations(message), digest)


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
    return rejected_at_pid(raw, "no PID-3 identifier satisfies the patient key rule", 3)
