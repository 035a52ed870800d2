"""Waiting for a bootstrap server that answers Kafka, in short tries, so that a stop asked for meanwhile
is heard at once.

kafka-python's clients wait up to 30 s for their first broker and hear no stop while they wait: a
SIGTERM during a broker outage would hold the engine that long, past the 10 s a service manager
gives it (and past the grace a supervisor of ``--processes N`` gives a worker before killing it).
An open port is not enough: a hung broker, or a load balancer with no broker behind it, accepts the
connection and never answers, and the clients would wait their 30 s there too. So a server counts
once it answers an ApiVersions request, which every broker answers before any login. Host names are
looked up apart, as getaddrinfo has no timeout and a bad resolver can hold it past those 10 s.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from typing import Any

from b12stream.stream.access import MAX_ANSWER_BYTES, TRY_S, receive, tls_context
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.lookup import Lookups
from b12stream.stream.settings import KafkaSettings, bootstrap_addresses

__all__ = ["BOOTSTRAP_WAIT_S", "await_reachable"]

BOOTSTRAP_WAIT_S = 30.0  # as long as kafka-python's clients wait for their first broker
_API_VERSIONS = 18
_CORRELATION_ID = 1  # one request per connection: any id tells its answer from stray bytes


def await_reachable(
    settings: KafkaSettings, stop: threading.Event, timeout_s: float = BOOTSTRAP_WAIT_S
) -> None:
    """Return once a bootstrap server of ``settings`` answers Kafka: over a TLS listener, after the
    handshake the clients will do. Raise TransientBrokerError when none does within ``timeout_s``
    (which the caller retries, as a client's own wait would have been), or within a try of ``stop``
    being set; ConfigError for TLS files the clients could not use either.

    A TLS handshake or first read that fails with a TLS error (an untrusted certificate, a refused
    client certificate, a listener that does not speak TLS) counts as an answer: retrying would not
    change it, and check_access, which comes next, names its cause."""
    servers = settings.bootstrap_servers
    deadline = time.monotonic() + timeout_s
    addresses = bootstrap_addresses(servers)
    tls = tls_context(settings.client_options()) if "SSL" in settings.security.protocol else None
    request = _api_versions_request(settings.application_id)
    lookups = Lookups(TRY_S)
    while not stop.is_set():
        if _any_answers(addresses, lookups, stop, tls, request):
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransientBrokerError(f"no bootstrap server reachable at {servers} within {timeout_s:g} s")
        stop.wait(min(TRY_S, left))
    raise TransientBrokerError(f"stop requested while no bootstrap server at {servers} was reachable")


def _api_versions_request(client_id: str) -> bytes:
    """ApiVersions version 0, framed: the request header (api key, api version, correlation id,
    client id) and an empty body."""
    name = client_id.encode()
    header = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(name)) + name
    return struct.pack(">i", len(header)) + header


def _any_answers(
    addresses: list[tuple[str, int]],
    lookups: Lookups,
    stop: threading.Event,
    tls: ssl.SSLContext | None,
    request: bytes,
) -> bool:
    """Whether an address of a host answers, tried in turn. A stop is heard between addresses: a pass
    over several hung ones would outlast the 10 s."""
    for host, port in addresses:
        for family, address in lookups.addresses(host, port):
            if stop.is_set():
                return False
            if _answers(family, address, host, tls, request):
                return True
    return False


def _answers(
    family: socket.AddressFamily, address: Any, host: str, tls: ssl.SSLContext | None, request: bytes
) -> bool:
    """Whether the server at ``address`` (of ``host``) answers ``request`` within a try of each step."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(TRY_S)
            sock.connect(address)
            connection = tls.wrap_socket(sock, server_hostname=host) if tls is not None else sock
            with connection:
                connection.sendall(request)
                return _answered(connection)
    except ssl.SSLError:
        return True
    except (OSError, EOFError):
        return False


def _answered(connection: socket.socket) -> bool:
    size, correlation = struct.unpack(">ii", receive(connection.recv, 8))
    if correlation != _CORRELATION_ID or not 4 <= size <= MAX_ANSWER_BYTES:
        return False
    receive(connection.recv, size - 4)  # read to its end: closing on unread bytes resets the connection
    return True
