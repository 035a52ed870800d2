"""Dead letters: the original bytes, untouched, with headers naming the reason, location and source;
written by the engine, read back for interface analysts."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from b12stream.hl7.model import Rejection
from b12stream.stream.records import Message, OutRecord, header_text, source_headers, source_of

__all__ = ["REASON_HEADER", "dead_letter", "read_dead_letter"]

REASON_HEADER = "b12stream.error.reason"
_LOCATION = "b12stream.error.location"
_CONTROL_ID = "b12stream.error.control-id"
_STAGE = "b12stream.error.stage"
_VALUE_OMITTED = "b12stream.error.value-omitted"


def dead_letter(message: Message, rejection: Rejection, stage: str, topic: str, max_bytes: int) -> OutRecord:
    """The dead-letter record for ``message``.

    Headers: ``b12stream.error.reason``, ``b12stream.error.location`` (JSON: segment, segment_index,
    field, byte_offset), ``b12stream.error.control-id`` and ``b12stream.error.stage`` (``ingest`` or
    ``process``), then ``b12stream.source.*`` (topic, partition, offset, frame, frame-offset).
    The value is the message's bytes exactly as they sat in the input record. A message over
    ``max_bytes`` would make a record the broker refuses, which would stop the stream: its value is
    left empty, ``b12stream.error.value-omitted`` gives its size, and the source headers say where
    it still is. The texts in the headers are ``Rejection.bounded``, so that a dead letter is never
    more than ``max_bytes`` and a few kilobytes of headers, whatever its message holds.
    """
    rejection = rejection.bounded()
    omitted = len(message.data) > max_bytes
    headers = (
        (REASON_HEADER, rejection.reason.encode("utf-8")),
        (_LOCATION, json.dumps(rejection.location.as_dict()).encode("utf-8")),
        (_CONTROL_ID, (rejection.control_id or "").encode("utf-8")),
        (_STAGE, stage.encode("utf-8")),
        *source_headers(message.source),
        *(((_VALUE_OMITTED, str(len(message.data)).encode()),) if omitted else ()),
    )
    return OutRecord(topic=topic, key=None, value=b"" if omitted else message.data, headers=headers)


def read_dead_letter(headers: object, value: bytes | None) -> dict[str, Any]:
    """What a dead-letter record says, as a JSON-ready dict: ``reason``, ``location``, ``control_id``,
    ``stage``, ``source`` (topic/partition/offset/frame/frame_offset, or None), ``bytes`` (the
    message's size) and ``value_omitted``. A header that is missing or unreadable reads as None, so a
    record another writer put on the topic is still shown. ``headers`` is kafka-python's list of pairs."""
    omitted = header_text(headers, _VALUE_OMITTED)
    location_text = header_text(headers, _LOCATION)
    try:
        location = json.loads(location_text) if location_text is not None else None
    except json.JSONDecodeError:
        location = None
    source = source_of(headers)
    return {
        "reason": header_text(headers, REASON_HEADER),
        "location": location,
        "control_id": header_text(headers, _CONTROL_ID) or None,
        "stage": header_text(headers, _STAGE),
        "source": None if source is None else asdict(source),
        "bytes": int(omitted) if omitted is not None and omitted.isdigit() else len(value or b""),
        "value_omitted": omitted is not None,
    }
