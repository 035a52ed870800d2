"""A refused login, an untrusted broker or a refused client certificate is named and never retried; a
broker that is down is retried."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import kafka.errors as kafka_errors
import pytest

from b12stream.errors import ConfigError, StreamError
from b12stream.stream.access import check_access, receive
from b12stream.stream.errors import AuthenticationFailed, TransientBrokerError, translate
from b12stream.stream.settings import KafkaSettings, SecuritySettings
from tests.unit.conftest import Broker, Unframed


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


# -- check_access against a scripted broker on 127.0.0.1 (tests/unit/conftest.py), over TCP or TLS --

NO_STOP = threading.Event()  # never set: the checks that do not test a stop
STOPPED = "^stop requested while checking access at "


def _settings(bootstrap: str, monkeypatch: pytest.MonkeyPatch, mechanism: str = "PLAIN") -> KafkaSettings:
    monkeypatch.setenv("B12STREAM_KAFKA_USERNAME", "engine")
    monkeypatch.setenv("B12STREAM_KAFKA_PASSWORD", "pw-9d41")
    security = SecuritySettings(protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism)
    return KafkaSettings(bootstrap_servers=bootstrap, security=security)


def test_a_bootstrap_server_without_a_port_is_tried_on_kafkas_default_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As kafka-python reads it (9092), rather than failing on the missing port."""
    tried: list[tuple[str, int]] = []

    def unknown(host: str, port: int, *_: object, **__: object) -> list[object]:
        tried.append((host, port))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    with pytest.raises(TransientBrokerError, match="kafka1:9092"):
        check_access(_settings("kafka1, [::1]:9093", monkeypatch), NO_STOP)
    assert tried == [("kafka1", 9092), ("::1", 9093)]


def _offering(*mechanisms: str) -> bytes:
    names = b"".join(struct.pack(">h", len(m)) + m.encode() for m in mechanisms)
    return struct.pack(">hi", 0, len(mechanisms)) + names


def _authenticated(error_code: int, message: bytes = b"") -> bytes:
    return struct.pack(">hh", error_code, len(message)) + message + struct.pack(">i", 0)


def test_a_refused_login_names_the_user_and_the_broker_reason_but_not_the_password(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reply(api_key: int, body: bytes) -> bytes:
        if api_key == 17:
            return _offering("PLAIN")
        assert body.endswith(b"\0engine\0pw-9d41")
        return _authenticated(58, b"Invalid username or password")

    with pytest.raises(AuthenticationFailed) as refused:
        check_access(_settings(broker(reply), monkeypatch), NO_STOP)
    message = str(refused.value)
    assert "authentication failed for user 'engine' with PLAIN" in message
    assert "Invalid username or password" in message
    assert "pw-9d41" not in message


def test_a_broker_hanging_up_during_login_is_a_refusal(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker(lambda api_key, _: _offering("PLAIN") if api_key == 17 else None)
    with pytest.raises(AuthenticationFailed, match="closed the connection"):
        check_access(_settings(bootstrap, monkeypatch), NO_STOP)


def test_a_mechanism_the_broker_does_not_offer_is_named(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker(lambda api_key, _: _offering("SCRAM-SHA-256") if api_key == 17 else None)
    with pytest.raises(AuthenticationFailed, match="offers only SCRAM-SHA-256"):
        check_access(_settings(bootstrap, monkeypatch, "SCRAM-SHA-512"), NO_STOP)


def test_an_accepted_login_returns(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = broker(lambda api_key, _: _offering("PLAIN") if api_key == 17 else _authenticated(0))
    check_access(_settings(bootstrap, monkeypatch), NO_STOP)


def test_no_reachable_bootstrap_server_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(TransientBrokerError, match="no bootstrap server reachable"):
        check_access(_settings(f"127.0.0.1:{port}", monkeypatch), NO_STOP)


def test_a_stop_ends_the_check_of_a_broker_that_hangs_during_the_login(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It answered ApiVersions (await_reachable let it through) and then holds the SASL handshake: a
    SIGTERM meanwhile must not wait for the check's 10 s."""
    stop, released = threading.Event(), threading.Event()

    def hang(api_key: int, _: bytes) -> None:
        stop.set()
        released.wait(timeout=30)  # bounded only so that a check deaf to the stop cannot hang the suite

    try:
        with pytest.raises(TransientBrokerError, match=STOPPED + r"127\.0\.0\.1:"):
            check_access(_settings(broker(hang), monkeypatch), stop)
    finally:
        released.set()


def test_a_stop_ends_the_check_while_a_host_name_lookup_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout: the check leaves it behind, as await_reachable does."""
    stop, released = threading.Event(), threading.Event()

    def hanging(*_: object, **__: object) -> list[object]:
        stop.set()
        released.wait(timeout=30)  # bounded only so that a check that waits for it cannot hang the suite
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(TransientBrokerError, match=STOPPED + "kafka1:9093"):
            check_access(_settings("kafka1:9093", monkeypatch), stop)
    finally:
        released.set()


def test_a_broker_that_hangs_during_the_login_is_transient_after_the_timeout(
    hung_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TransientBrokerError, match="timed out"):
        check_access(_settings(hung_address, monkeypatch), NO_STOP, timeout_s=0.5)


def test_a_sasl_answer_claiming_a_gibibyte_is_a_protocol_error_naming_the_bound(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that is not Kafka answers the SASL handshake with a size of 1 GiB: nothing is allocated
    for it, and no retry would make it a Kafka listener."""
    bootstrap = broker(lambda *_: Unframed(struct.pack(">i", 1 << 30)))
    tracemalloc.start()
    try:
        over = r"^127\.0\.0\.1:\d+: an answer of 1073741824 bytes, outside the 0 to 1048576 bytes "
        with pytest.raises(StreamError, match=over) as raised:
            check_access(_settings(bootstrap, monkeypatch), NO_STOP, timeout_s=0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not isinstance(raised.value, TransientBrokerError)
    assert peak < 1 << 20


def test_an_answer_is_read_in_chunks_of_64_kib_at_most() -> None:
    """A connection's recv allocates what it is asked for before anything arrives."""
    asked: list[int] = []

    def read(size: int) -> bytes:
        asked.append(size)
        return bytes(min(size, 1000))

    assert receive(read, 1 << 20) == bytes(1 << 20)
    assert max(asked) <= 64 * 1024


def test_plaintext_needs_no_check() -> None:
    check_access(KafkaSettings(bootstrap_servers="127.0.0.1:1"), NO_STOP)


def test_a_listener_without_sasl_is_named_when_a_login_is_attempted(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = broker(lambda api_key, _: struct.pack(">hi", 33, 0) if api_key == 17 else None)
    with pytest.raises(AuthenticationFailed, match=r"offers no SASL mechanism; is kafka\.security\.protocol"):
        check_access(_settings(bootstrap, monkeypatch), NO_STOP)


# -- TLS without SASL: a throwaway CA, a broker certificate for 127.0.0.1 and client certificates ------
KEY_PASSWORD = "key-pw-31c7"
KEY_PASSWORD_ENV = "B12STREAM_TEST_KEY_PASSWORD"
_EC = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"  # EC keys: made in milliseconds, unlike RSA


@dataclass(frozen=True)
class Pki:
    ca: Path
    broker: tuple[Path, Path]  # certificate, key
    client: tuple[Path, Path]  # signed by the CA; the key encrypted with KEY_PASSWORD
    stranger: tuple[Path, Path]  # self-signed

    def server(self, client_auth: bool, tls12: bool = False) -> ssl.SSLContext:
        """A broker's TLS context: its certificate, and with ``client_auth`` a required client
        certificate signed by the CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.broker)
        if client_auth:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        if tls12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(
        ["openssl", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=30,
        env={**os.environ, "KEY_PASSWORD": KEY_PASSWORD},
    )


def _sign(folder: Path, name: str, subject: str, extensions: str, key_protection: str) -> tuple[Path, Path]:
    """``name``.pem and ``name``.key: a new key and a certificate the test CA signs with ``extensions``."""
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(
        folder, *f"req {_EC} {key_protection} -keyout {name}.key -out {name}.csr".split(), "-subj", subject
    )
    _openssl(
        folder,
        *f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 1".split(),
        *f"-extfile {name}.ext -out {name}.pem".split(),
    )
    return folder / f"{name}.pem", folder / f"{name}.key"


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    _openssl(
        folder,
        *f"req -x509 {_EC} -nodes -keyout {name}.key -out {name}.pem -days 1".split(),
        "-subj",
        f"/CN={name}",
    )
    return folder / f"{name}.pem", folder / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("the TLS cases need `openssl` to make their certificates")
    folder = tmp_path_factory.mktemp("pki")
    ca, _ = _self_signed(folder, "ca")
    server = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    broker = _sign(folder, "broker", "/CN=127.0.0.1", server, "-nodes")
    client = _sign(
        folder, "client", "/CN=engine", "extendedKeyUsage=clientAuth\n", "-passout env:KEY_PASSWORD"
    )
    return Pki(ca, broker, client, _self_signed(folder, "stranger"))


def _metadata(api_key: int, _: bytes) -> bytes | None:
    """A broker that answers Metadata (no brokers, no topics) and hangs up on anything else."""
    return struct.pack(">iii", 0, -1, 0) if api_key == 3 else None


def _tls_settings(
    bootstrap: str, pki: Pki, certificate: tuple[Path, Path] | None = None, **more: str
) -> KafkaSettings:
    files = {"ssl_certfile": str(certificate[0]), "ssl_keyfile": str(certificate[1])} if certificate else {}
    security = SecuritySettings(protocol="SSL", ssl_cafile=str(pki.ca), **files, **more)
    return KafkaSettings(bootstrap_servers=bootstrap, security=security)


def test_tls_without_a_client_certificate_asks_for_metadata_and_returns(broker: Broker, pki: Pki) -> None:
    asked: list[int] = []

    def reply(api_key: int, body: bytes) -> bytes | None:
        asked.append(api_key)
        return _metadata(api_key, body)

    check_access(_tls_settings(broker(reply, pki.server(client_auth=False)), pki), NO_STOP)
    assert asked == [3]


def test_a_broker_slower_to_answer_than_a_try_is_waited_for(broker: Broker, pki: Pki) -> None:
    """The check hears a stop between tries of a second; a broker slower than one still passes."""

    def slow(api_key: int, body: bytes) -> bytes | None:
        time.sleep(1.5)
        return _metadata(api_key, body)

    check_access(_tls_settings(broker(slow, pki.server(client_auth=False)), pki), NO_STOP)


def test_an_accepted_client_certificate_with_its_key_password_from_the_environment_returns(
    broker: Broker, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_PASSWORD_ENV, KEY_PASSWORD)
    bootstrap = broker(_metadata, pki.server(client_auth=True))
    check_access(_tls_settings(bootstrap, pki, pki.client, ssl_password_env=KEY_PASSWORD_ENV), NO_STOP)


@pytest.mark.parametrize(
    ("tls12", "named"),
    [
        (False, "requires a client certificate and none is configured"),
        # OpenSSL's TLS 1.2 server sends a bare handshake_failure (a Kafka broker sends bad_certificate).
        (True, r"HANDSHAKE_FAILURE\); .*, or does it require a client certificate\?"),
    ],
    ids=["TLS 1.3: refused after the handshake", "TLS 1.2: during it"],
)
def test_a_listener_that_requires_a_client_certificate_names_the_missing_one(
    broker: Broker, pki: Pki, tls12: bool, named: str
) -> None:
    bootstrap = broker(_metadata, pki.server(client_auth=True, tls12=tls12))
    with pytest.raises(AuthenticationFailed, match=named):
        check_access(_tls_settings(bootstrap, pki), NO_STOP)


@pytest.mark.parametrize(
    "tls12", [False, True], ids=["TLS 1.3: refused after the handshake", "TLS 1.2: during it"]
)
def test_a_client_certificate_the_broker_does_not_trust_is_named(
    broker: Broker, pki: Pki, tls12: bool
) -> None:
    bootstrap = broker(_metadata, pki.server(client_auth=True, tls12=tls12))
    with pytest.raises(AuthenticationFailed, match=r"refused the client certificate .*stranger\.pem"):
        check_access(_tls_settings(bootstrap, pki, pki.stranger), NO_STOP)


def test_a_tls_listener_that_hangs_up_after_the_handshake_asks_whether_it_wants_sasl(
    broker: Broker, pki: Pki
) -> None:
    bootstrap = broker(lambda *_: None, pki.server(client_auth=False))
    with pytest.raises(
        AuthenticationFailed, match=r"does this listener want SASL .* or a client certificate"
    ):
        check_access(_tls_settings(bootstrap, pki), NO_STOP)


def test_a_stop_ends_the_check_of_a_tls_listener_that_hangs_during_the_handshake(
    hung_address: str, pki: Pki
) -> None:
    stop = threading.Event()
    stop.set()  # asked for before the handshake: heard at its first try
    with pytest.raises(TransientBrokerError, match=STOPPED + r"127\.0\.0\.1:"):
        check_access(_tls_settings(hung_address, pki), stop)


def test_an_encrypted_key_without_a_password_variable_is_a_config_error_not_a_prompt(pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"is encrypted; name .* in kafka\.security\.ssl_password_env"):
        check_access(_tls_settings("127.0.0.1:1", pki, pki.client), NO_STOP)


def test_a_wrong_key_password_is_a_config_error_that_does_not_show_it(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_PASSWORD_ENV, "not-the-key-password")
    with pytest.raises(ConfigError, match="is the key password") as refused:
        settings = _tls_settings("127.0.0.1:1", pki, pki.client, ssl_password_env=KEY_PASSWORD_ENV)
        check_access(settings, NO_STOP)
    assert "not-the-key-password" not in str(refused.value)
