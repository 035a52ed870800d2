"""Why a message is dead-lettered for ``kafka.max_message_bytes``: too large to forward, or giving a
record too large to send."""

from __future__ import annotations

from operator import itemgetter

from b12stream.hl7.model import Location, Rejection
from b12stream.stream.records import Message, OutRecord

__all__ = ["oversized", "too_large"]


def _record_bytes(record: OutRecord) -> int:
    return len(record.key or b"") + len(record.value) + sum(len(n) + len(v) for n, v in record.headers)


def oversized(published: list[OutRecord], control_id: str, max_bytes: int) -> Rejection | None:
    """Why the records a message publishes cannot be sent, if they cannot: one over ``max_bytes``
    (``kafka.max_message_bytes``), the most b12stream makes of one message (and what its topics are
    made to take), which the producer would refuse batch after batch, stopping the stream. An alert
    repeats the message's control id and patient identifier once per result it cites, so a field
    a fraction of the message's size can make a record several times as large."""
    if not published:
        return None  # most messages
    size, largest = max(((_record_bytes(r), r) for r in published), default=(0, None), key=itemgetter(0))
    if largest is None or size <= max_bytes:
        return None
    return Rejection(
        reason=f"a {largest.topic} record this message gives would be {size:,} "
        f"bytes, over kafka.max_message_bytes ({max_bytes:,}); a field it repeats, such as "
        "MSH-10 or PID-3, is too long. The patient's state is kept as it was before the message",
        control_id=control_id,
    )


def too_large(message: Message, control_id: str, max_bytes: int) -> Rejection:
    """Why ``message``, over ``max_bytes`` (``kafka.max_message_bytes``), is not forwarded."""
    return Rejection(
        reason=f"message of {len(message.data):,} bytes is over kafka.max_message_bytes "
        f"({max_bytes:,}) and is not forwarded; to process such messages, raise the setting "
        "and restart the engine (it raises the repartition and dead-letter topics' "
        "max.message.bytes to match)",
        location=Location(byte_offset=max_bytes),
        control_id=control_id,
    )
