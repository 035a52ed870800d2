"""Waiting for a bootstrap server in short tries, so that a stop asked for meanwhile is heard at once.

kafka-python's clients wait up to 30 s for their first broker and hear no stop while they wait: a
SIGTERM during a broker outage would hold the engine that long, past the 10 s a service manager
gives it (and past the grace a supervisor of ``--processes N`` gives a worker before killing it).
"""

from __future__ import annotations

import socket
import threading
import time

from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import KafkaSettings, bootstrap_addresses

__all__ = ["BOOTSTRAP_WAIT_S", "await_reachable"]

BOOTSTRAP_WAIT_S = 30.0  # as long as kafka-python's clients wait for their first broker
_TRY_S = 1.0


def await_reachable(
    settings: KafkaSettings, stop: threading.Event, timeout_s: float = BOOTSTRAP_WAIT_S
) -> None:
    """Return once a bootstrap server of ``settings`` accepts a TCP connection. Raise
    TransientBrokerError when none does within ``timeout_s`` (which the caller retries, as a
    client's own wait would have been), or within a try of ``stop`` being set."""
    servers = settings.bootstrap_servers
    deadline = time.monotonic() + timeout_s
    addresses = bootstrap_addresses(servers)
    while not stop.is_set():
        for host, port in addresses:
            try:
                socket.create_connection((host, port), timeout=_TRY_S).close()
                return
            except OSError:
                continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransientBrokerError(f"no bootstrap server reachable at {servers} within {timeout_s:g} s")
        stop.wait(min(_TRY_S, left))
    raise TransientBrokerError(f"stop requested while no bootstrap server at {servers} was reachable")
