"""One authenticated handshake with the broker before the clients start, to name a refused login."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from b12stream.errors import ConfigError, StreamError
from b12stream.stream.errors import AuthenticationFailed, TransientBrokerError
from b12stream.stream.lookup import Address, Lookup
from b12stream.stream.settings import KafkaSettings, bootstrap_addresses

__all__ = ["MAX_ANSWER_BYTES", "TRY_S", "check_access", "receive", "tls_context"]

_TIMEOUT_S = 10.0
TRY_S = 1.0  # how soon a waiting step hears a stop: well within the 10 s a service manager gives one
# The largest answer taken from a bootstrap server before the clients start: ApiVersions, SASL and
# Metadata-without-topics answers take a few KiB. A server that is not Kafka can send any 4 bytes
# where the size goes, and a size taken as sent would be allocated.
MAX_ANSWER_BYTES = 1 << 20
_CHUNK_BYTES = 64 * 1024  # a recv allocates all it is asked for before anything arrives
_Result = TypeVar("_Result")
# TLS alerts (OpenSSL's names) of a broker that wants a client certificate and got none, or does not
# accept the one it got. A broker on TLS 1.3 sends them after our side of the handshake has finished,
# in answer to the first request.
_CLIENT_CERTIFICATE_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)


def check_access(settings: KafkaSettings, stop: threading.Event, timeout_s: float = _TIMEOUT_S) -> None:
    """Connect to the first reachable bootstrap server, do the TLS handshake and SASL login the
    clients will do (kafka-python's own SASL mechanisms and request types), and close. Over SSL
    without SASL, one Metadata request stands in for the login: it is where a broker that requires
    a client certificate refuses a missing or untrusted one, and where a SASL_SSL listener hangs up.

    kafka-python reports a refused login, a refused client certificate or an untrusted broker
    certificate only as "Unable to bootstrap" after its own timeout, which looks like a broker that
    is down and would be retried. Raises AuthenticationFailed (never retried) naming the cause and
    the user or certificate file, never a password; TransientBrokerError when no bootstrap server
    can be reached; ConfigError for unusable TLS files (including an encrypted key without its
    password); StreamError (not retried) for an answer whose size is over ``MAX_ANSWER_BYTES``, from
    a server that is not Kafka. Does nothing for PLAINTEXT.

    Each step (the host-name lookup, the connection, the TLS handshake, each request and its answer)
    waits ``timeout_s`` at most, in tries of a second; ``stop`` set meanwhile ends the check after the
    try with TransientBrokerError. A broker that answered await_reachable's ApiVersions and then hangs
    during the handshake or the login would otherwise hold a SIGTERM past the 10 s.
    """
    protocol = settings.security.protocol
    if protocol == "PLAINTEXT":
        return
    options = settings.client_options()
    context = tls_context(options) if "SSL" in protocol else None
    unreachable: list[str] = []
    for host, port in bootstrap_addresses(settings.bootstrap_servers):
        address = f"{host}:{port}"
        waits = _Waits(stop, timeout_s, address)
        try:
            sock = waits.connect(host, port)
        except OSError as error:
            unreachable.append(f"{address} ({error})")
            continue
        with sock:
            connection = sock
            if context is not None:
                connection = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
            with connection:
                if isinstance(connection, ssl.SSLSocket):
                    _handshake(connection, waits, address, options)
                exchange = _Exchange(connection, waits, options, address)
                if protocol.startswith("SASL"):
                    _login(exchange, options, host)
                else:
                    exchange.call(MetadataRequest(version=1, topics=[]), MetadataResponse)
        return
    raise TransientBrokerError(f"no bootstrap server reachable: {', '.join(unreachable)}")


def tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS side of kafka-python's ``options``: the CA to trust, the client certificate, the host
    name check. Raises ConfigError naming a file that cannot be used."""
    cafile = options.get("ssl_cafile")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"kafka.security.ssl_cafile: cannot use {cafile}: {error}") from error
    if options.get("ssl_certfile"):
        _load_client_certificate(context, options)
    context.check_hostname = bool(options.get("ssl_check_hostname", True))
    return context


def _load_client_certificate(context: ssl.SSLContext, options: dict[str, Any]) -> None:
    certificate = options["ssl_certfile"]
    key = options.get("ssl_keyfile") or certificate
    # A password callable, never None: with None, OpenSSL would ask for the password on the terminal.
    password = options.get("ssl_password") or _no_key_password(key)
    try:
        context.load_cert_chain(certificate, options.get("ssl_keyfile"), password)
    except (OSError, ssl.SSLError) as error:
        wrong_password = "; is the key password (kafka.security.ssl_password_env) right?"
        hint = wrong_password if options.get("ssl_password") else ""
        raise ConfigError(
            f"kafka.security: cannot use the client certificate {certificate} with the key {key}: "
            f"{error}{hint}"
        ) from error


def _no_key_password(key: str) -> Callable[[], str]:
    def refuse() -> str:
        raise ConfigError(
            f"kafka.security: the key {key} is encrypted; name the environment variable that holds its "
            "password in kafka.security.ssl_password_env"
        )

    return refuse


def _handshake(connection: ssl.SSLSocket, waits: _Waits, address: str, options: dict[str, Any]) -> None:
    try:
        waits.wait(connection.do_handshake)
    except ssl.SSLCertVerificationError as error:
        raise AuthenticationFailed(
            f"TLS: the certificate of {address} is not trusted ({error.verify_message}); "
            "check kafka.security.ssl_cafile"
        ) from error
    except ssl.SSLError as error:
        if error.reason in _CLIENT_CERTIFICATE_ALERTS:
            raise _client_certificate_refused(address, error.reason, options) from error
        # Over TLS 1.2 many servers answer a missing client certificate with a bare handshake_failure.
        certificate = "" if options.get("ssl_certfile") else ", or does it require a client certificate"
        raise AuthenticationFailed(
            f"TLS handshake with {address} failed ({error.reason}); "
            f"is kafka.security.protocol right for this listener{certificate}?"
        ) from error
    except OSError as error:
        raise TransientBrokerError(f"TLS handshake with {address} interrupted: {error}") from error


def _client_certificate_refused(address: str, reason: str, options: dict[str, Any]) -> AuthenticationFailed:
    certificate = options.get("ssl_certfile")
    if certificate:
        return AuthenticationFailed(
            f"TLS: {address} refused the client certificate {certificate} ({reason}); "
            "is it signed by a CA the broker trusts, and still valid?"
        )
    return AuthenticationFailed(
        f"TLS: {address} requires a client certificate and none is configured ({reason}); "
        "set kafka.security.ssl_certfile and ssl_keyfile"
    )


def _login(exchange: _Exchange, options: dict[str, Any], host: str) -> None:
    mechanism_name = options["sasl_mechanism"]
    request = SaslHandshakeRequest(mechanism=mechanism_name, version=1)
    handshake = exchange.call(request, SaslHandshakeResponse)
    if not handshake.mechanisms:
        raise AuthenticationFailed(
            f"{exchange.refused}: the listener offers no SASL mechanism; "
            "is kafka.security.protocol right for this listener?"
        )
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
    """Requests and responses over one connection. The broker closing it before it answers is a
    refusal: it may close before its error response reaches us."""

    def __init__(
        self, connection: socket.socket, waits: _Waits, options: dict[str, Any], address: str
    ) -> None:
        self._connection = connection
        self._waits = waits
        self._options = options
        self._client_id = str(options["client_id"])
        self._address = address
        self._correlation = 0
        if "sasl_mechanism" in options:
            self.refused = (
                f"authentication failed for user {options['sasl_plain_username']!r} "
                f"with {options['sasl_mechanism']} at {address}"
            )
            self._closed = "the broker closed the connection"
        else:
            self.refused = f"TLS: {address} refused the connection"
            wants = "SASL (kafka.security.protocol SASL_SSL)"
            if not options.get("ssl_certfile"):
                wants += " or a client certificate (kafka.security.ssl_certfile)"
            self._closed = f"the broker closed it after the TLS handshake; does this listener want {wants}?"

    def call(self, request: Any, response_type: Any) -> Any:
        self._correlation += 1
        request.with_header(correlation_id=self._correlation, client_id=self._client_id)
        try:
            self._send(request.encode(header=True, framed=True))
            (size,) = struct.unpack(">i", receive(self._read, 4))
            if not 0 <= size <= MAX_ANSWER_BYTES:
                raise StreamError(
                    f"{self._address}: an answer of {size} bytes, outside the 0 to {MAX_ANSWER_BYTES} "
                    "bytes a Kafka answer here takes; is this a Kafka listener?"
                )
            body = receive(self._read, size)
        except ssl.SSLError as error:
            if error.reason in _CLIENT_CERTIFICATE_ALERTS:
                raise _client_certificate_refused(self._address, error.reason, self._options) from error
            raise AuthenticationFailed(f"{self.refused}: {self._closed}") from error
        except (ConnectionError, EOFError) as error:
            raise AuthenticationFailed(f"{self.refused}: {self._closed}") from error
        except OSError as error:
            raise TransientBrokerError(f"{self._address}: {error}") from error
        return response_type.decode(body, version=request.API_VERSION, header=True)

    def _send(self, data: bytes) -> None:
        sent = 0
        while sent < len(data):  # send, not sendall: a sendall that timed out may have sent a part
            sent += self._waits.wait(partial(self._connection.send, data[sent:]))

    def _read(self, size: int) -> bytes:
        return self._waits.wait(partial(self._connection.recv, size))


class _Waits:
    """How the check of one bootstrap server waits: each step ``timeout_s`` at most, in tries of a
    second, until ``stop`` is set."""

    def __init__(self, stop: threading.Event, timeout_s: float, address: str) -> None:
        self._stop = stop
        self._timeout_s = timeout_s
        self._address = address

    def wait(self, step: Callable[[], _Result]) -> _Result:
        """``step`` (a call that times out after a try), called again while it times out, until
        ``timeout_s`` has passed: then its TimeoutError is raised. Raises TransientBrokerError once
        ``stop`` is set."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                return step()
            except TimeoutError:
                if self._stop.is_set():
                    raise TransientBrokerError(
                        f"stop requested while checking access at {self._address}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise

    def connect(self, host: str, port: int) -> socket.socket:
        """A connection to the first address of ``host`` that takes one, its socket timing out after a
        try. Raises OSError when none does, as socket.create_connection would; the name is looked up in
        a thread of its own, as getaddrinfo has no timeout."""
        lookup = Lookup(host, port)
        self.wait(partial(_looked_up, lookup))
        error = lookup.error or OSError(f"{host} has no address")
        for family, address in lookup.addresses:
            try:
                return self._connect(family, address)
            except OSError as refused:
                error = refused
        raise error

    def _connect(self, family: socket.AddressFamily, address: Address) -> socket.socket:
        # Without blocking: a connect that timed out cannot be resumed, a wait for it to finish can.
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code == errno.EINPROGRESS:
                with selectors.DefaultSelector() as selector:
                    selector.register(sock, selectors.EVENT_WRITE)
                    self.wait(partial(_connected, selector))
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            sock.settimeout(TRY_S)
        except BaseException:
            sock.close()
            raise
        return sock


def _looked_up(lookup: Lookup) -> None:
    if not lookup.done.wait(TRY_S):
        raise TimeoutError("the host-name lookup did not finish")


def _connected(selector: selectors.BaseSelector) -> None:
    if not selector.select(TRY_S):
        raise TimeoutError("timed out")


def receive(read: Callable[[int], bytes], size: int) -> bytes:
    """The next ``size`` bytes that ``read`` (a connection's recv) gives, asked for
    ``_CHUNK_BYTES`` at most at a time. Raises EOFError when the connection closes first."""
    data = bytearray()
    while len(data) < size:
        chunk = read(min(size - len(data), _CHUNK_BYTES))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return bytes(data)
