"""Dead letters: the original bytes, untouched, with headers naming the reason, location and source."""

from __future__ import annotations

import json

from b12stream.hl7.model import Rejection
from b12stream.stream.records import Message, OutRecord, source_headers

__all__ = ["REASON_HEADER", "dead_letter"]

REASON_HEADER = "b12stream.error.reason"


def dead_letter(message: Message, rejection: Rejection, stage: str, topic: str, max_bytes: int) -> OutRecord:
    """The dead-letter record for ``message``.

    Headers: ``b12stream.error.reason``, ``b12stream.error.location`` (JSON: segment, segment_index,
    field, byte_offset), ``b12stream.error.control-id`` and ``b12stream.error.stage`` (``ingest`` or
    ``process``), then ``b12stream.source.*`` (topic, partition, offset, frame, frame-offset).
    The value is the message's bytes exactly as they sat in the input record. A message over
    ``max_bytes`` would make a record the broker refuses, which would stop the stream: its value is
    left empty, ``b12stream.error.value-omitted`` gives its size, and the source headers say where
    it still is.
    """
    omitted = len(message.data) > max_bytes
    headers = (
        (REASON_HEADER, rejection.reason.encode("utf-8")),
        ("b12stream.error.location", json.dumps(rejection.location.as_dict()).encode("utf-8")),
        ("b12stream.error.control-id", (rejection.control_id or "").encode("utf-8")),
        ("b12stream.error.stage", stage.encode("utf-8")),
        *source_headers(message.source),
        *((("b12stream.error.value-omitted", str(len(message.data)).encode()),) if omitted else ()),
    )
    return OutRecord(topic=topic, key=None, value=b"" if omitted else message.data, headers=headers)
