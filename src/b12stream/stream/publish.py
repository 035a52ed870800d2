"""Send HL7 messages to a topic, one record each, unkeyed, in order: what an interface engine does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka.errors import MessageSizeTooLargeError
from kafka.producer.future import FutureRecordMetadata

from b12stream.errors import StreamError
from b12stream.stream.access import check_access
from b12stream.stream.clients import input_producer
from b12stream.stream.errors import translate
from b12stream.stream.settings import KafkaSettings

__all__ = ["Delivery", "Outgoing", "Refused", "send_messages"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send and where it came from (shown when it is refused)."""

    where: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """A message the producer or the broker would not take, and why."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """How many messages the broker acknowledged, and the ones refused, in input order."""

    sent: int
    refused: tuple[Refused, ...]


def send_messages(
    settings: KafkaSettings, topic: str, messages: Iterable[Outgoing], rate: float = 0.0
) -> Delivery:
    """Produce every message (no key) to ``topic`` with acks=all and idempotence, so a retried send is
    not duplicated and the order is kept within the partition chosen. ``rate`` > 0 paces the sends
    (messages per second).

    A message too large for the producer (``kafka.max_message_bytes`` plus framing) or for the
    topic's ``max.message.bytes`` is refused on its own: it is listed in the result and the others
    are still sent. Raises StreamError for anything else that stops delivery, and
    AuthenticationFailed before sending anything when the broker refuses the login or is not trusted."""
    check_access(settings, threading.Event())  # a command has no stop to hear: Ctrl-C ends it
    sender = _Sender(settings, topic)
    started = time.monotonic()
    try:
        for count, message in enumerate(messages):
            if rate > 0:
                delay = started + count / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sender.send(count, message)
        sender.settle()
    except Exception as error:
        raise translate(error) if not isinstance(error, StreamError) else error from error
    finally:
        sender.close()
    return Delivery(sender.sent, tuple(sender.refused[count] for count in sorted(sender.refused)))


class _Sender:
    """One producer's sends and what became of them."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._producer = input_producer(settings)
        self._pending: list[tuple[int, Outgoing, FutureRecordMetadata]] = []
        self.sent = 0
        self.refused: dict[int, Refused] = {}  # by position in the input, to list them in that order

    def send(self, count: int, message: Outgoing) -> None:
        try:
            self._pending.append((count, message, self._producer.send(self._topic, value=message.data)))
        except MessageSizeTooLargeError:  # over the producer's own limit: never sent
            self.refused[count] = self._too_large(message)

    def settle(self) -> None:
        """Wait for every send. A record the topic refuses as too large puts kafka-python's idempotent
        producer in a fatal state, which fails the records queued behind it too; so those that
        failed are sent again one by one, each with a fresh producer after a refusal, and only the
        ones refused on their own are listed."""
        failed = self._flushed()
        if not failed:
            return
        self._replace_producer()
        for count, message in failed:
            self.send(count, message)
            if self._flushed():  # refused on its own
                self.refused[count] = self._too_large(message)
                self._replace_producer()

    def _flushed(self) -> list[tuple[int, Outgoing]]:
        """Flush; count the acknowledged sends and return those refused as too large."""
        self._producer.flush()
        failed = []
        for count, message, future in self._pending:
            try:
                future.get(timeout=0)
                self.sent += 1
            except MessageSizeTooLargeError:
                failed.append((count, message))
        self._pending.clear()
        return failed

    def _replace_producer(self) -> None:
        self._producer.close(timeout=5)
        self._producer = input_producer(self._settings)

    def _too_large(self, message: Outgoing) -> Refused:
        return Refused(
            message.where,
            f"{len(message.data):,} bytes is more than the producer (kafka.max_message_bytes "
            f"{self._settings.max_message_bytes:,}, plus framing) or the topic (its max.message.bytes) "
            "accepts",
        )

    def close(self) -> None:
        self._producer.close(timeout=5)
