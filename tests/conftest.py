"""Shared test paths (the project's samples and the shared HL7 corpus, read by name), and addresses
where no broker answers."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CORPUS = ROOT.parent / "shared" / "hl7-corpus"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"shared HL7 corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def silent_address() -> Iterator[str]:
    """An address where every connection is refused: a port bound and never listened on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def hung_address() -> Iterator[str]:
    """An address that accepts every connection and never answers, as a hung broker does, or a load
    balancer with no broker behind it."""
    done = threading.Event()
    held: list[socket.socket] = []

    def hold(listener: socket.socket) -> None:
        while not done.is_set():
            if select.select([listener], [], [], 0.1)[0]:
                held.append(listener.accept()[0])

    with socket.create_server(("127.0.0.1", 0)) as listener:
        holder = threading.Thread(target=hold, args=(listener,), daemon=True)
        holder.start()
        yield f"127.0.0.1:{listener.getsockname()[1]}"
        done.set()
        holder.join()
    for connection in held:
        connection.close()


def producer_threads(client_id: str) -> list[threading.Thread]:
    """The sender threads of the live kafka-python producers named ``client_id`` (kafka-python names
    each "<client_id>-network-thread")."""
    return [t for t in threading.enumerate() if t.name == f"{client_id}-network-thread"]


class ManualClock:
    """A ``time.monotonic`` stand-in that moves only when a test moves ``now``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
