"""One authenticated handshake with the broker before the clients start, to name a refused login."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from b12stream.errors import ConfigError
from b12stream.stream.errors import AuthenticationFailed, TransientBrokerError
from b12stream.stream.settings import KafkaSettings, bootstrap_addresses

__all__ = ["check_access", "receive", "tls_context"]

_TIMEOUT_S = 10.0
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


def check_access(settings: KafkaSettings, timeout_s: float = _TIMEOUT_S) -> None:
    """Connect to the first reachable bootstrap server, do the TLS handshake and SASL login the
    clients will do (kafka-python's own SASL mechanisms and request types), and close. Over SSL
    without SASL, one Metadata request stands in for the login: it is where a broker that requires
    a client certificate refuses a missing or untrusted one, and where a SASL_SSL listener hangs up.

    kafka-python reports a refused login, a refused client certificate or an untrusted broker
    certificate only as "Unable to bootstrap" after its own timeout, which looks like a broker that
    is down and would be retried. Raises AuthenticationFailed (never retried) naming the cause and
    the user or certificate file, never a password; TransientBrokerError when no bootstrap server
    can be reached; ConfigError for unusable TLS files (including an encrypted key without its
    password). Does nothing for PLAINTEXT.
    """
    protocol = settings.security.protocol
    if protocol == "PLAINTEXT":
        return
    options = settings.client_options()
    context = tls_context(options) if "SSL" in protocol else None
    unreachable: list[str] = []
    for host, port in bootstrap_addresses(settings.bootstrap_servers):
        address = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as error:
            unreachable.append(f"{address} ({error})")
            continue
        with sock:
            connection = _tls(context, sock, host, address, options) if context is not None else sock
            with connection:
                exchange = _Exchange(connection, options, address)
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


def _tls(
    context: ssl.SSLContext, sock: socket.socket, host: str, address: str, options: dict[str, Any]
) -> socket.socket:
    try:
        return context.wrap_socket(sock, server_hostname=host)
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

    def __init__(self, connection: socket.socket, options: dict[str, Any], address: str) -> None:
        self._connection = connection
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
            self._connection.sendall(request.encode(header=True, framed=True))
            (size,) = struct.unpack(">i", receive(self._connection, 4))
            body = receive(self._connection, size)
        except ssl.SSLError as error:
            if error.reason in _CLIENT_CERTIFICATE_ALERTS:
                raise _client_certificate_refused(self._address, error.reason, self._options) from error
            raise AuthenticationFailed(f"{self.refused}: {self._closed}") from error
        except (ConnectionError, EOFError) as error:
            raise AuthenticationFailed(f"{self.refused}: {self._closed}") from error
        except OSError as error:
            raise TransientBrokerError(f"{self._address}: {error}") from error
        return response_type.decode(body, version=request.API_VERSION, header=True)


def receive(connection: socket.socket, size: int) -> bytes:
    """The next ``size`` bytes of ``connection``. Raises EOFError when it closes first."""
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data
