"""A bootstrap server counts as reachable once it answers Kafka, not once its port is open; a host-name
lookup that hangs does not hold the wait past a try."""

from __future__ import annotations

import socket
import struct
import threading
import tracemalloc

import pytest

from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.reachable import await_reachable
from b12stream.stream.settings import KafkaSettings
from tests.unit.conftest import Broker, Unframed

UNREACHABLE = "no bootstrap server reachable"


def _one_try(bootstrap: str) -> None:
    await_reachable(KafkaSettings(bootstrap_servers=bootstrap), threading.Event(), timeout_s=0)


def test_a_server_answering_kafka_is_reachable(broker: Broker) -> None:
    asked: list[int] = []

    def api_versions(api_key: int, _: bytes) -> bytes:
        asked.append(api_key)
        return struct.pack(">hi", 0, 0)  # no error, no versions listed

    _one_try(broker(api_versions))
    assert asked == [18]


def test_a_server_that_hangs_up_without_answering_is_not_reachable(broker: Broker) -> None:
    with pytest.raises(TransientBrokerError, match=UNREACHABLE):
        _one_try(broker(lambda *_: None))


def test_a_server_claiming_an_answer_of_a_gibibyte_is_not_reachable_and_costs_no_such_memory(
    broker: Broker,
) -> None:
    """A server that is not Kafka answers the request with 8 bytes that read as a 1 GiB answer of the
    right correlation id: no ApiVersions answer is that large, and nothing is allocated for it."""
    claim = Unframed(struct.pack(">ii", 1 << 30, 1))
    bootstrap = broker(lambda *_: claim)
    tracemalloc.start()
    try:
        with pytest.raises(TransientBrokerError, match=UNREACHABLE):
            _one_try(bootstrap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_an_open_port_that_never_answers_is_not_reachable(hung_address: str) -> None:
    """A hung broker, or a load balancer with none behind it: the clients would wait there deaf."""
    with pytest.raises(TransientBrokerError, match=UNREACHABLE):
        _one_try(hung_address)


def test_a_host_name_lookup_that_hangs_is_left_behind_after_a_try(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout: the wait goes on (and hears a stop) while the lookup still hangs."""
    released, finished = threading.Event(), threading.Event()

    def hanging(*_: object, **__: object) -> list[object]:
        released.wait(timeout=10)  # bounded only so that a wait that does not leave it cannot hang the suite
        finished.set()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(TransientBrokerError, match=UNREACHABLE):
            _one_try("kafka.invalid:9092")
        assert not finished.is_set()
    finally:
        released.set()


def test_a_host_name_no_lookup_takes_fails_at_once_rather_than_being_retried() -> None:
    with pytest.raises(ValueError, match=r"^kafka\.\.example:9092$"):
        await_reachable(KafkaSettings(bootstrap_servers="kafka..example:9092"), threading.Event())
