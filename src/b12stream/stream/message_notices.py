"""The log lines the stream stages say about one message, kept as notices until its batch commits."""

from __future__ import annotations

import logging

from b12stream.engine.orders import OrderMessage
from b12stream.errors import HL7Error
from b12stream.hl7.model import shown
from b12stream.log import patient_hash
from b12stream.notices import Notice

__all__ = ["order_bytes"]


def order_bytes(order: OrderMessage, control_id: str) -> bytes | Notice:
    """The order message's bytes, or the error to log when v2.5.1 cannot carry one of its values (an
    assigning authority over HD.1's 20 characters that is no OID): its alert, which lists the same
    suggested orders, its page and the patient's history still go out; held back with it, they
    would leave a clinician unwarned and the patient's later results judged without this one."""
    try:
        return order.er7
    except HL7Error as error:
        return Notice(
            logging.ERROR,
            "order message not written",
            {
                "error": str(error),
                "control_id": shown(control_id),
                "alert_id": order.alert_id,
                "patient_hash": patient_hash(order.key),
            },
        )
