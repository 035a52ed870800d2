"""A refused login or an untrusted broker is named and never retried; a broker that is down is retried."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator

import kafka.errors as kafka_errors
import pytest

from b12stream.stream.access import check_access
from b12stream.stream.errors import AuthenticationFailed, TransientBrokerError, translate
from b12stream.stream.settings import KafkaSettings, SecuritySettings


def test_a_refused_sasl_login_is_not_a_transient_broker_error() -> None:
    refused = kafka_errors.SaslAuthenticationFailedError("invalid credentials with SASL mechanism PLAIN")
    assert isinstance(translate(refused), AuthenticationFailed)
    assert not isinstance(translate(refused), TransientBrokerError)
    assert "authentication failed" in str(translate(refused))


def test_an_untrusted_broker_certificate_inside_a_connection_error_is_an_authentication_failure() -> None:
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLCertVerificationError as cause:
            raise kafka_errors.KafkaConnectionError(f"Handshake failed: {cause}") from None
    except kafka_errors.KafkaConnectionError as wrapped:
        error = wrapped
    assert isinstance(translate(error), AuthenticationFailed)


def test_a_broker_that_does_not_answer_stays_transient() -> None:
    assert isinstance(translate(kafka_errors.KafkaTimeoutError("Unable to bootstrap")), TransientBrokerError)


# -- check_access against a scripted broker on 127.0.0.1 (SASL_PLAINTEXT: no TLS needed) ---------------
Reply = Callable[[int, bytes], bytes | None]  # (api key, request body) -> response body, None = hang up


def _frame(correlation: int, body: bytes) -> bytes:
    payload = struct.pack(">i", correlation) + body
    return struct.pack(">i", len(payload)) + payload


def _serve(listener: socket.socket, reply: Reply) -> None:
    connection, _ = listener.accept()
    with connection:
        while True:
            head = connection.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return
            request = connection.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
            api_key, _, correlation, client_id_length = struct.unpack_from(">hhih", request)
            answer = reply(api_key, request[10 + client_id_length :])
            if answer is None:
                return
            connection.sendall(_frame(correlation, answer))


@pytest.fixture
def broker() -> Iterator[Callable[[Reply], str]]:
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(reply: Reply) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        thread = threading.Thread(target=_serve, args=(listener, reply), daemon=True)
        thread.start()
        threads.append(thread)
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for thread in threads:
        thread.join(timeout=5)
    for listener in listeners:
        listener.close()


def _settings(bootstrap: str, monkeypatch: pytest.MonkeyPatch, mechanism: str = "PLAIN") -> KafkaSettings:
    monkeypatch.setenv("B12STREAM_KAFKA_USERNAME", "engine")
    monkeypatch.setenv("B12STREAM_KAFKA_PASSWORD", "pw-9d41")
    security = SecuritySettings(protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism)
    return KafkaSettings(bootstrap_servers=bootstrap, security=security)


def _offering(*mechanisms: str) -> bytes:
    names = b"".join(struct.pack(">h", len(m)) + m.encode() for m in mechanisms)
    return struct.pack(">hi", 0, len(mechanisms)) + names


def _authenticated(error_code: int, message: bytes = b"") -> bytes:
    return struct.pack(">hh", error_code, len(message)) + message + struct.pack(">i", 0)


def test_a_refused_login_names_the_user_and_the_broker_reason_but_not_the_password(
    broker: Callable[[Reply], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def reply(api_key: int, body: bytes) -> bytes:
        if api_key == 17:
            return _offering("PLAIN")
        assert body.endswith(b"\0engine\0pw-9d41")
        return _authenticated(58, b"Invalid username or password")

    with pytest.raises(AuthenticationFailed) as refused:
        check_access(_settings(broker(reply), monkeypatch))
    message = str(refused.value)
    assert "authentication failed for user 'engine' with PLAIN" in message
    assert "Invalid username or password" in message
    assert "pw-9d41" not in message


def test_a_broker_hanging_up_during_login_is_a_refusal(
    broker: Callable[[Reply], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker(lambda api_key, _: _offering("PLAIN") if api_key == 17 else None)
    with pytest.raises(AuthenticationFailed, match="closed the connection"):
        check_access(_settings(bootstrap, monkeypatch))


def test_a_mechanism_the_broker_does_not_offer_is_named(
    broker: Callable[[Reply], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker(lambda api_key, _: _offering("SCRAM-SHA-256") if api_key == 17 else None)
    with pytest.raises(AuthenticationFailed, match="offers only SCRAM-SHA-256"):
        check_access(_settings(bootstrap, monkeypatch, "SCRAM-SHA-512"))


def test_an_accepted_login_returns(broker: Callable[[Reply], str], monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = broker(lambda api_key, _: _offering("PLAIN") if api_key == 17 else _authenticated(0))
    check_access(_settings(bootstrap, monkeypatch))


def test_no_reachable_bootstrap_server_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(TransientBrokerError, match="no bootstrap server reachable"):
        check_access(_settings(f"127.0.0.1:{port}", monkeypatch))


def test_plaintext_needs_no_check() -> None:
    check_access(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
