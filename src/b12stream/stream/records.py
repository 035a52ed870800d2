"""What the stream stages pass around: a message with its source coordinates, and a record to produce."""

from __future__ import annotations

from dataclasses import dataclass

from b12stream.engine.ingest import Accepted
from b12stream.hl7.model import Rejection

__all__ = [
    "Header",
    "Message",
    "OutRecord",
    "SourceRef",
    "header_text",
    "source_headers",
    "source_of",
]

Header = tuple[str, bytes]

_TOPIC = "b12stream.source.topic"
_PARTITION = "b12stream.source.partition"
_OFFSET = "b12stream.source.offset"
_FRAME = "b12stream.source.frame"
_FRAME_OFFSET = "b12stream.source.frame-offset"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a message came from: the input record, and which message of it (a batch holds several).

    ``frame_offset`` is the byte offset of the message's first byte in the input record's value.
    """

    topic: str
    partition: int
    offset: int
    frame: int = 0
    frame_offset: int = 0

    def text(self) -> str:
        """``topic/partition/offset``, with ``#frame`` when the record held more than one message."""
        base = f"{self.topic}/{self.partition}/{self.offset}"
        return f"{base}#{self.frame}" if self.frame else base


@dataclass(frozen=True, slots=True)
class Message:
    """One HL7 message's bytes, exactly as they were in the input, and where they came from.
    ``read``: what reading the bytes gave, when a stage has read them already (the process stage
    does not read them again); a Rejection also when they are no message at all, such as an
    unreadable repartition record (they are dead-lettered as such)."""

    data: bytes
    source: SourceRef
    read: Accepted | Rejection | None = None


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to produce. ``partition`` None lets the key choose it."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[Header, ...] = ()
    partition: int | None = None


def header_text(headers: object, name: str) -> str | None:
    """The value of header ``name`` as text, or None. ``headers`` is kafka-python's list of pairs."""
    for key, value in headers or ():  # type: ignore[attr-defined]
        if key == name and value is not None:
            return bytes(value).decode("utf-8", errors="replace")
    return None


def source_headers(source: SourceRef) -> tuple[Header, ...]:
    return (
        (_TOPIC, source.topic.encode()),
        (_PARTITION, str(source.partition).encode()),
        (_OFFSET, str(source.offset).encode()),
        (_FRAME, str(source.frame).encode()),
        (_FRAME_OFFSET, str(source.frame_offset).encode()),
    )


def source_of(headers: object) -> SourceRef | None:
    """The inverse of ``source_headers``; None when the headers do not name a whole source."""
    topic = header_text(headers, _TOPIC)
    numbers = [header_text(headers, name) or "" for name in (_PARTITION, _OFFSET, _FRAME, _FRAME_OFFSET)]
    if topic is None or not all(number.isdigit() for number in numbers):
        return None
    partition, offset, frame, frame_offset = map(int, numbers)
    return SourceRef(topic, partition, offset, frame, frame_offset)
