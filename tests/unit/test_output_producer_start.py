"""An output producer whose start fails part-way (no broker answers) is closed before the error is
raised: no sender thread of it is left running, retrying in the background."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError

from b12stream.stream.clients import close_producer, output_producer
from b12stream.stream.settings import KafkaSettings
from tests.conftest import producer_threads

_APPLICATION = "app-start-fails"


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_a_producer_whose_start_times_out_leaves_no_sender_running(
    silent_address: str, guarantee: str
) -> None:
    # api_version given: kafka-python builds the producer without asking the broker, so that the
    # failure comes from the steps after it (init_transactions, or the outputs' metadata).
    settings = KafkaSettings(
        bootstrap_servers=silent_address,
        application_id=_APPLICATION,
        processing_guarantee=guarantee,
        producer={"api_version": (2, 8), "max_block_ms": 300},
    )
    assert not producer_threads(_APPLICATION)
    with pytest.raises(KafkaTimeoutError) as failed:
        output_producer(settings, f"{_APPLICATION}-0")
    # The error is still held (as the engine's retry holds it), and with it the producer.
    assert failed.value.__traceback__ is not None
    assert not producer_threads(_APPLICATION), "the half-built producer's sender is still running"


def test_a_producer_without_the_sender_this_was_checked_against_is_reported_as_not_stopped() -> None:
    """A later kafka-python without the private sender: the caller is told the thread may run on,
    and no AttributeError replaces the failure that made it give the producer up."""

    class ClosedEarly:
        def close(self, timeout: float) -> None:
            del timeout

    assert close_producer(ClosedEarly(), 0.1) is False  # type: ignore[arg-type]
