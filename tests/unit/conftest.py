"""A scripted broker on 127.0.0.1, over TCP or TLS: it answers each Kafka request as a test says."""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

Reply = Callable[[int, bytes], bytes | None]  # (api key, request body) -> response body, None = hang up
Broker = Callable[..., str]  # (reply, tls context or None) -> bootstrap address


class Unframed(bytes):
    """A reply sent as it is, without the size and correlation id a broker puts before an answer: a
    server that does not speak Kafka, or claims what it does not send."""


def _frame(correlation: int, body: bytes) -> bytes:
    payload = struct.pack(">i", correlation) + body
    return struct.pack(">i", len(payload)) + payload


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def _accept(listener: socket.socket, tls: ssl.SSLContext | None) -> socket.socket | None:
    connection, _ = listener.accept()
    if tls is None:
        return connection
    secured = tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
    try:
        secured.do_handshake()
    except (ssl.SSLError, OSError):
        # The alert is on its way; closing before the client hangs up could reset the connection
        # and discard the alert unread, so wait for the client to go, as a broker does.
        while select.select([secured], [], [], 5)[0] and os.read(secured.fileno(), 4096):
            pass
        secured.close()
        return None
    return secured


def _serve(listener: socket.socket, reply: Reply, tls: ssl.SSLContext | None) -> None:
    connection = _accept(listener, tls)
    if connection is None:
        return
    with connection:
        while True:
            head = _read(connection, 4)
            if len(head) < 4:
                return
            request = _read(connection, struct.unpack(">i", head)[0])
            api_key, _, correlation, client_id_length = struct.unpack_from(">hhih", request)
            answer = reply(api_key, request[10 + client_id_length :])
            if answer is None:
                return
            connection.sendall(answer if isinstance(answer, Unframed) else _frame(correlation, answer))


@pytest.fixture
def broker() -> Iterator[Broker]:
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(reply: Reply, tls: ssl.SSLContext | None = None) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        thread = threading.Thread(target=_serve, args=(listener, reply, tls), daemon=True)
        thread.start()
        threads.append(thread)
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for thread in threads:
        thread.join(timeout=5)
    for listener in listeners:
        listener.close()
