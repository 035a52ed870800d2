"""HL7-layer exceptions: raised inside the parser, turned into a Rejection at ``read_oru``'s edge."""

from __future__ import annotations

from b12stream.errors import HL7Error

__all__ = [
    "BadEncodingCharacters",
    "BadStructure",
    "MessageRejected",
    "MissingField",
    "NotAMessage",
    "UnsupportedMessageType",
]


class MessageRejected(HL7Error):
    """The message cannot be used; the caller dead-letters it with ``reason`` and the position.

    ``segment_index`` is 1-based among the message's non-blank segments (MSH is 1); ``field`` is the
    HL7 field number. The byte offset is worked out at the edge, where the original bytes are known.
    """

    def __init__(
        self,
        reason: str,
        *,
        segment: str | None = None,
        segment_index: int | None = None,
        field: int | None = None,
        message_type: str | None = None,
        control_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segment = segment
        self.segment_index = segment_index
        self.field = field
        self.message_type = message_type
        self.control_id = control_id


class NotAMessage(MessageRejected):
    """The bytes do not start with an MSH segment (empty, garbage, or another segment first)."""


class BadEncodingCharacters(MessageRejected):
    """MSH-1/MSH-2 do not declare a usable set of delimiters."""


class MissingField(MessageRejected):
    """A field the engine needs (MSH-9, MSH-10) is empty."""


class UnsupportedMessageType(MessageRejected):
    """A well-formed message that is not an ORU^R01."""


class BadStructure(MessageRejected):
    """Segments in an order the ORU^R01 grammar does not allow, or a malformed segment."""
