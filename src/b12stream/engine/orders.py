"""Suggested orders of one alert as an HL7 OML^O21 message for the orders topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from b12stream.clinical.model import Finding, Observation, PatientKey
from b12stream.engine.engine import OutputSettings
from b12stream.engine.ids import control_id, placer_order_number
from b12stream.engine.suppression import ShownOrder
from b12stream.hl7.build import OrderLine, OrderRequest, build_oml

__all__ = ["OrderMessage", "order_message", "triggering_order"]

# Results that open an evaluation on their own (spec 2.2 primary triggers): preferred as the parent order.
_PRIMARY_ANALYTES = frozenset({"platelets", "adamts13_activity"})


@dataclass(frozen=True)
class OrderMessage:
    """One OML^O21 for one alert event: ``key`` is the patient key text (the Kafka record key).

    ``er7`` is written from ``request`` (hl7/build.py) on first access and kept: ``replay``, which
    prints events only, never pays for it. The stream's process stage writes it with the message's
    other outputs; a request the writer refuses costs that order message alone (logged), never the
    alert that lists the same orders.
    """

    alert_id: str
    key: str
    request: OrderRequest

    @cached_property
    def er7(self) -> bytes:
        """The message bytes; raises HL7Error only for an unbuildable request (an over-long id)."""
        return build_oml(self.request)


def triggering_order(evidence: Sequence[Observation], at: datetime) -> str:
    """The filler order number of the result that prompted the alert: the latest evidence collected
    by ``at``, a primary-trigger analyte first among equals; empty when there is no evidence."""
    candidates = [o for o in evidence if o.observed_at <= at] or list(evidence)
    if not candidates:
        return ""
    chosen = max(candidates, key=lambda o: (o.observed_at, o.analyte in _PRIMARY_ANALYTES))
    return chosen.result_key.filler_order_number


def order_message(
    *,
    alert_id: str,
    finding: Finding,
    patient: PatientKey,
    orders: Sequence[ShownOrder],
    at: datetime,
    outputs: OutputSettings,
) -> OrderMessage | None:
    """The OML^O21 proposing ``orders`` (None when there are none). MSH-7 is the alert's evaluation
    time, MSH-10 and the placer numbers derive from the alert id: a redelivered alert yields the
    same message, so a receiver cannot double-order."""
    if not orders:
        return None
    request = OrderRequest(
        control_id=control_id(alert_id),
        message_time=finding.observed_at or at,
        patient_id=patient.id,
        assigning_authority=patient.assigning_authority,
        orders=tuple(
            OrderLine(
                placer_order_number=placer_order_number(alert_id, shown.order.loinc),
                code=shown.order.loinc,
                text=shown.order.display,
                stat=shown.order.priority == "stat",
            )
            for shown in orders
        ),
        parent_filler_order_number=triggering_order(finding.evidence, at),
        sending_application=outputs.sending_application,
        sending_facility=outputs.sending_facility,
        receiving_application=outputs.receiving_application,
        receiving_facility=outputs.receiving_facility,
        processing_id=outputs.processing_id,
    )
    return OrderMessage(alert_id=alert_id, key=patient.as_text(), request=request)
