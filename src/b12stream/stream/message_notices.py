"""The log lines the stream stages say about one message, kept as notices until its batch commits."""

from __future__ import annotations

import logging

from b12stream.engine.orders import OrderMessage
from b12stream.errors import HL7Error, cause
from b12stream.hl7.model import Rejection, shown
from b12stream.log import patient_hash
from b12stream.notices import Notice

__all__ = [
    "dead_lettered",
    "order_bytes",
    "processing_failed",
    "reading_failed",
    "state_not_encodable",
    "state_over_limit",
]


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


def reading_failed(error: Exception) -> Notice:
    """A reader raised on a message, which is dead-lettered: its error told without the data it may
    quote (``cause``)."""
    return Notice(logging.ERROR, "reading failed", {"error": cause(error)})


def processing_failed(error: Exception, control_id: str, key: str) -> Notice:
    """Reading the stored state of patient ``key``, processing or writing the outputs raised on the
    message ``control_id``, which is dead-lettered."""
    fields = {"error": cause(error), "control_id": shown(control_id), "patient_hash": patient_hash(key)}
    return Notice(logging.ERROR, "processing failed", fields)


def state_not_encodable(error: Exception, key: str) -> Notice:
    """Patient ``key``'s new state could not be encoded: the batch's messages about them are
    dead-lettered."""
    fields = {"error": cause(error), "patient_hash": patient_hash(key)}
    return Notice(logging.ERROR, "patient state not encodable", fields)


def state_over_limit(key: str, state_bytes: int, max_state_bytes: int) -> Notice:
    """Patient ``key``'s new state would be over ``kafka.max_state_bytes``: the batch's messages about
    them are dead-lettered."""
    return Notice(
        logging.WARNING,
        "patient state over kafka.max_state_bytes",
        {"patient_hash": patient_hash(key), "state_bytes": state_bytes, "max_state_bytes": max_state_bytes},
    )


def dead_lettered(rejection: Rejection, stage: str, source: str) -> Notice:
    """The message at ``source`` was dead-lettered by ``stage`` for ``rejection``, already bounded."""
    return Notice(
        logging.INFO,
        "message dead-lettered",
        {"stage": stage, "reason": rejection.reason, "control_id": rejection.control_id, "source": source},
    )
