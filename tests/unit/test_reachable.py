"""A bootstrap server counts as reachable once it answers Kafka, not once its port is open; a host-name
lookup that hangs does not hold the wait past a try."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.reachable import await_reachable
from b12stream.stream.settings import KafkaSettings


def _answer_once(listener: socket.socket, correlation_offset: int) -> None:
    """Answers one request with a frame that carries its correlation id, plus ``correlation_offset``."""
    connection, _ = listener.accept()
    with connection:
        (size,) = struct.unpack(">i", connection.recv(4, socket.MSG_WAITALL))
        request = connection.recv(size, socket.MSG_WAITALL)
        (correlation,) = struct.unpack_from(">i", request, 4)
        connection.sendall(struct.pack(">iih", 6, correlation + correlation_offset, 0))


@pytest.fixture
def answering() -> Iterator[Callable[[int], str]]:
    threads: list[threading.Thread] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def start(correlation_offset: int) -> str:
            thread = threading.Thread(target=_answer_once, args=(listener, correlation_offset), daemon=True)
            thread.start()
            threads.append(thread)
            return f"127.0.0.1:{listener.getsockname()[1]}"

        yield start
        for thread in threads:
            thread.join(timeout=5)


def test_a_server_answering_kafka_is_reachable(answering: Callable[[int], str]) -> None:
    await_reachable(KafkaSettings(bootstrap_servers=answering(0)), threading.Event(), timeout_s=0)


def test_an_answer_to_another_request_is_not_kafka_answering(answering: Callable[[int], str]) -> None:
    with pytest.raises(TransientBrokerError, match="no bootstrap server reachable"):
        await_reachable(KafkaSettings(bootstrap_servers=answering(1)), threading.Event(), timeout_s=0)


def test_an_open_port_that_never_answers_is_not_reachable(hung_address: str) -> None:
    """A hung broker, or a load balancer with none behind it: the clients would wait there deaf."""
    with pytest.raises(TransientBrokerError, match="no bootstrap server reachable"):
        await_reachable(KafkaSettings(bootstrap_servers=hung_address), threading.Event(), timeout_s=0)


def test_a_host_name_lookup_that_hangs_is_left_behind_after_a_try(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout: the wait goes on (and hears a stop) while the lookup still hangs."""
    released, finished = threading.Event(), threading.Event()

    def hanging(*_: object, **__: object) -> list[object]:
        released.wait(timeout=10)  # bounded only so that a wait that does not leave it cannot hang the suite
        finished.set()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(TransientBrokerError, match="no bootstrap server reachable"):
            settings = KafkaSettings(bootstrap_servers="kafka.invalid:9092")
            await_reachable(settings, threading.Event(), timeout_s=0)
        assert not finished.is_set()
    finally:
        released.set()


def test_a_host_name_no_lookup_takes_fails_at_once_rather_than_being_retried() -> None:
    with pytest.raises(UnicodeError):
        await_reachable(KafkaSettings(bootstrap_servers="kafka..example:9092"), threading.Event())
