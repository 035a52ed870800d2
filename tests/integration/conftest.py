"""One real Kafka broker per test session: deploy/local-kafka/kafka-local on a free port in a temporary
folder, or testcontainers' Kafka when B12STREAM_KAFKA=testcontainers and a Docker engine answers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = ROOT / "deploy" / "local-kafka" / "kafka-local"


@dataclass
class Broker:
    """A running broker. ``restart`` is offered by the local broker only (same port, same data)."""

    bootstrap: str
    directory: Path | None = None
    _container: object | None = field(default=None, repr=False)
    start_options: ClassVar[tuple[str, ...]] = ()

    @property
    def can_restart(self) -> bool:
        return self.directory is not None

    def stop(self) -> None:
        if self.directory is not None:
            subprocess.run([str(KAFKA_LOCAL), "stop", "--dir", str(self.directory)], check=True, timeout=60)

    def pause(self) -> None:
        """Freezes the local broker's process (SIGSTOP): connections stay open and nothing is
        answered, as in an outage that leaves the network up. ``resume`` ends it."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: signal.Signals) -> None:
        if self.directory is not None:
            os.kill(int((self.directory / "broker.pid").read_text()), number)

    def start(self) -> None:
        """Starts the local broker; a restart finds the port of its first start (kept in its folder)."""
        if self.directory is not None:
            command = [str(KAFKA_LOCAL), "start", *self.start_options, "--port", "0"]
            command += ["--dir", str(self.directory)]
            # The first start of a fresh checkout also fetches the broker jars from Maven Central.
            started = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            if started.returncode != 0:
                raise RuntimeError(f"kafka-local start failed (exit {started.returncode}):\n{started.stderr}")
            self.bootstrap = started.stdout.splitlines()[0]


B = TypeVar("B", bound=Broker)


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@contextmanager
def local_broker(kind: type[B], directory: Path) -> Iterator[B]:
    """A ``kind`` broker from deploy/local-kafka/kafka-local on a free port in ``directory``, stopped
    on exit."""
    broker = kind(bootstrap="", directory=directory)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if os.environ.get("B12STREAM_KAFKA") == "testcontainers" and _docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield Broker(bootstrap=container.get_bootstrap_server(), _container=container)
        return
    with local_broker(Broker, tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap
