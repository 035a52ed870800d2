"""deploy/local-kafka/kafka-local chooses ports no outbound connection can take, and when a port is taken
anyway it names the port, before starting the JVM or from the broker's own log."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import KAFKA_LOCAL, Broker

pytestmark = pytest.mark.integration


def _ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


@contextmanager
def _outbound_connection(bootstrap: str, port: int = 0) -> Iterator[int]:
    """A client connection to the broker from local port ``port`` (0: the kernel's choice), as any
    client's connection holds a port; yields that port."""
    host, broker_port = bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.connect((host, int(broker_port)))
        yield sock.getsockname()[1]


def _start(port: int, directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(KAFKA_LOCAL), "start", "--port", str(port), "--dir", str(directory), "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_the_port_it_chooses_lies_below_the_ephemeral_range(kafka_broker: Broker) -> None:
    if kafka_broker.directory is None:
        pytest.skip("the session broker is not kafka-local's")
    port = int(kafka_broker.bootstrap.rsplit(":", 1)[1])
    assert port < _ephemeral_low()
    assert (kafka_broker.directory / "port").read_text().strip() == str(port)


def test_a_port_an_outbound_connection_holds_is_named_before_the_broker_starts(
    bootstrap: str, tmp_path: Path
) -> None:
    with _outbound_connection(bootstrap) as held:
        started = _start(held, tmp_path)
        _, stderr = started.communicate(timeout=60)
    assert started.returncode == 1
    assert f"port {held} is already in use on 127.0.0.1" in stderr
    assert not (tmp_path / "broker.pid").exists()


def test_a_port_taken_while_the_broker_starts_is_named_from_the_broker_log(
    bootstrap: str, tmp_path: Path
) -> None:
    """The race kafka-local's own choice avoids, forced: the port is free when checked and taken by an
    outbound connection before the broker binds it (the broker JVM needs seconds to get there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = _start(port, tmp_path / "raced")
    deadline = time.monotonic() + 60
    while not (tmp_path / "raced" / "broker.pid").exists():
        assert started.poll() is None and time.monotonic() < deadline, started.communicate()
        time.sleep(0.01)
    with _outbound_connection(bootstrap, port):
        _, stderr = started.communicate(timeout=90)
    assert started.returncode == 1
    assert "the broker exited with status 1" in stderr
    assert f"failed to bind to 127.0.0.1:{port}: Address already in use" in stderr
    assert str(tmp_path / "raced" / "broker.log") in stderr
