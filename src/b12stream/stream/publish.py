"""Send HL7 messages to a topic, one record each, unkeyed, in order: what an interface engine does."""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaProducer

from b12stream.errors import StreamError
from b12stream.stream.access import check_access
from b12stream.stream.errors import translate
from b12stream.stream.settings import KafkaSettings

__all__ = ["send_messages"]


def send_messages(settings: KafkaSettings, topic: str, messages: Iterable[bytes], rate: float = 0.0) -> int:
    """Produce every message (no key) to ``topic`` with acks=all and idempotence, so a retried send is
    not duplicated and the order is kept within the partition chosen. ``rate`` > 0 paces the sends
    (messages per second). Returns how many were delivered; raises StreamError if any was not, and
    AuthenticationFailed before sending anything when the broker refuses the login or is not trusted."""
    check_access(settings)
    producer = KafkaProducer(acks="all", enable_idempotence=True, linger_ms=5, **settings.client_options())
    sent = 0
    started = time.monotonic()
    try:
        futures = []
        for data in messages:
            if rate > 0:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            futures.append(producer.send(topic, value=data))
            sent += 1
        producer.flush()
        for future in futures:
            future.get(timeout=0)
    except Exception as error:
        raise translate(error) if not isinstance(error, StreamError) else error from error
    finally:
        producer.close(timeout=5)
    return sent
