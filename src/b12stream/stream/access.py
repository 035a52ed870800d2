"""One authenticated handshake with the broker before the clients start, to name a refused login."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator
from typing import Any

from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from b12stream.errors import ConfigError
from b12stream.stream.errors import AuthenticationFailed, TransientBrokerError
from b12stream.stream.settings import KafkaSettings

__all__ = ["check_access"]

_TIMEOUT_S = 10.0


def check_access(settings: KafkaSettings, timeout_s: float = _TIMEOUT_S) -> None:
    """Connect to the first reachable bootstrap server, do the TLS handshake and SASL login the
    clients will do (kafka-python's own SASL mechanisms and request types), and close.

    kafka-python reports a refused login or an untrusted broker certificate only as "Unable to
    bootstrap" after its own timeout, which looks like a broker that is down and would be retried.
    Raises AuthenticationFailed (never retried) naming the cause and the user, never the password;
    TransientBrokerError when no bootstrap server can be reached; ConfigError for unusable TLS files.
    Does nothing for PLAINTEXT.
    """
    protocol = settings.security.protocol
    if protocol == "PLAINTEXT":
        return
    options = settings.client_options()
    context = _tls_context(options) if "SSL" in protocol else None
    unreachable: list[str] = []
    for host, port in _addresses(settings.bootstrap_servers):
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as error:
            unreachable.append(f"{host}:{port} ({error})")
            continue
        with sock:
            connection = _tls(context, sock, host, port) if context is not None else sock
            with connection:
                if protocol.startswith("SASL"):
                    _login(_Exchange(connection, options, f"{host}:{port}"), options, host)
        return
    raise TransientBrokerError(f"no bootstrap server reachable: {', '.join(unreachable)}")


def _addresses(bootstrap_servers: str) -> Iterator[tuple[str, int]]:
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        yield host.strip("[]"), int(port)


def _tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=options.get("ssl_cafile"))
        if options.get("ssl_certfile"):
            context.load_cert_chain(
                options["ssl_certfile"], options.get("ssl_keyfile"), options.get("ssl_password")
            )
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"kafka.security: cannot use the TLS files: {error}") from error
    context.check_hostname = bool(options.get("ssl_check_hostname", True))
    return context


def _tls(context: ssl.SSLContext, sock: socket.socket, host: str, port: int) -> socket.socket:
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as error:
        raise AuthenticationFailed(
            f"TLS: the certificate of {host}:{port} is not trusted ({error.verify_message}); "
            "check kafka.security.ssl_cafile"
        ) from error
    except ssl.SSLError as error:
        raise AuthenticationFailed(
            f"TLS handshake with {host}:{port} failed ({error.reason}); "
            "is kafka.security.protocol right for this listener?"
        ) from error
    except OSError as error:
        raise TransientBrokerError(f"TLS handshake with {host}:{port} interrupted: {error}") from error


def _login(exchange: _Exchange, options: dict[str, Any], host: str) -> None:
    mechanism_name = options["sasl_mechanism"]
    request = SaslHandshakeRequest(mechanism=mechanism_name, version=1)
    handshake = exchange.call(request, SaslHandshakeResponse)
    if mechanism_name not in handshake.mechanisms:
        offered = ", ".join(handshake.mechanisms)
        raise AuthenticationFailed(f"{exchange.refused}: the broker offers only {offered}")
    mechanism = get_sasl_mechanism(mechanism_name)(host=host, **options)
    while not mechanism.is_done():
        token = SaslAuthenticateRequest(auth_bytes=mechanism.auth_bytes(), version=0)
        answer = exchange.call(token, SaslAuthenticateResponse)
        if answer.error_code != 0:
            detail = answer.error_message or f"error code {answer.error_code}"
            raise AuthenticationFailed(f"{exchange.refused}: {detail}")
        try:
            mechanism.receive(answer.auth_bytes)
        except ValueError as error:  # e.g. a SCRAM answer that does not continue our nonce
            raise AuthenticationFailed(f"{exchange.refused}: {error}") from error
    if not mechanism.is_authenticated():
        raise AuthenticationFailed(f"{exchange.refused}: the broker did not prove it knows the password")


class _Exchange:
    """Requests and responses over one connection. The broker closing it while we log in is a
    refusal: it may close before its error response reaches us."""

    def __init__(self, connection: socket.socket, options: dict[str, Any], address: str) -> None:
        self._connection = connection
        self._client_id = str(options["client_id"])
        self._address = address
        self._correlation = 0
        self.refused = (
            f"authentication failed for user {options['sasl_plain_username']!r} "
            f"with {options['sasl_mechanism']} at {address}"
        )

    def call(self, request: Any, response_type: Any) -> Any:
        self._correlation += 1
        request.with_header(correlation_id=self._correlation, client_id=self._client_id)
        try:
            self._connection.sendall(request.encode(header=True, framed=True))
            (size,) = struct.unpack(">i", self._receive(4))
            body = self._receive(size)
        except (ConnectionError, EOFError, ssl.SSLError) as error:
            raise AuthenticationFailed(f"{self.refused}: the broker closed the connection") from error
        except OSError as error:
            raise TransientBrokerError(f"{self._address}: {error}") from error
        return response_type.decode(body, version=request.API_VERSION, header=True)

    def _receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._connection.recv(size - len(data))
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return data
