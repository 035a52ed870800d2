"""One message's bytes to what the engine uses: the ORU^R01, the patient key, canonical observations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.patient_key import choose_patient_key
from b12stream.engine.engine import Engine
from b12stream.hl7.model import Location, OruMessage, Rejection
from b12stream.hl7.oru import read_oru

__all__ = ["Accepted", "ingest"]


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
    patient = choose_patient_key(message.patient_ids, engine.key_rule)
    if patient is None:
        return Rejection(
            reason="no PID-3 identifier satisfies the patient key rule",
            location=Location(segment="PID", field=3),
            control_id=message.header.control_id,
            message_type=f"{message.header.message_type}^{message.header.trigger_event}",
        )
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return Accepted(message, patient, engine.terminology.observations(message), digest)
