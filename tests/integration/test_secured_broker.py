"""`b12stream run` and `produce` against a SASL_SSL listener: SCRAM and PLAIN work, and a wrong password
or an untrusted CA stop the engine quickly with a clear log line that never shows the password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Broker, local_broker
from tests.integration.harness import (
    ROOT,
    SAMPLES,
    EngineProcess,
    create_topic,
    events,
    events_by_patient,
    produce_files,
    read_topic,
    replay_events,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

USER_ENV = "B12STREAM_TEST_KAFKA_USER"
PASSWORD_ENV = "B12STREAM_TEST_KAFKA_SECRET"
KEY_PASSWORD_ENV = "B12STREAM_TEST_KAFKA_KEY_SECRET"
# One scenario with several events (two alerts and an update) is enough for each further listener.
SCENARIO = ROOT / "samples" / "s07-pseudo-tma-adamts13-normal.hl7"
# A refused engine stops at once; retried like a broker that is down, it would take minutes (12 attempts).
FAIL_WITHIN_S = 30.0


class SecureBroker(Broker):
    """The local broker started with --secure; ``listener`` is its DIR/secure.json."""

    listener: dict[str, Any]
    start_options = ("--secure",)

    def start(self) -> None:
        super().start()
        assert self.directory is not None
        self.listener = json.loads((self.directory / "secure.json").read_text())


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with local_broker(SecureBroker, tmp_path_factory.mktemp("kafka-secure")) as broker:
        yield broker


def _secured_config(
    tmp_path: Path, broker: SecureBroker, prefix: str, listener: str = "SASL_SSL", **security: Any
) -> tuple[Path, dict[str, str]]:
    """A config whose kafka: section reaches the broker's ``listener`` (a name in secure.json's
    ``listeners``) with the kafka.security keys ``security``; the protocol is the listener's, the CA
    file the broker's when it speaks TLS. The test itself creates and reads topics through the
    broker's PLAINTEXT listener."""
    names = topic_names(prefix)
    create_topic(broker.bootstrap, names["input"], 1)
    address = broker.listener["listeners"][listener]
    section = {"protocol": address["security_protocol"]}
    if "SSL" in address["security_protocol"]:
        section["ssl_cafile"] = broker.listener["ssl_cafile"]
    config = write_config(
        tmp_path,
        address["bootstrap_servers"],
        names,
        f"app-{names['input']}",
        security={**section, **security},
        retry={"attempts": 12, "initial_backoff_s": 0.2, "max_backoff_s": 2.0},
    )
    return config, names


def _sasl(mechanism: str) -> dict[str, str]:
    """kafka.security keys for a SASL login whose credentials the test puts in the environment."""
    return {"sasl_mechanism": mechanism, "sasl_username_env": USER_ENV, "sasl_password_env": PASSWORD_ENV}


def _user(broker: SecureBroker, mechanism: str) -> dict[str, Any]:
    return next(u for u in broker.listener["users"].values() if mechanism in u["mechanisms"])


def _login(monkeypatch: pytest.MonkeyPatch, username: str, password: str) -> None:
    monkeypatch.setenv(USER_ENV, username)
    monkeypatch.setenv(PASSWORD_ENV, password)


def _client_certificate(broker: SecureBroker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """kafka.security keys for the broker's client certificate; its key's password goes in the
    environment."""
    monkeypatch.setenv(KEY_PASSWORD_ENV, broker.listener["ssl_key_password"])
    return {
        "ssl_certfile": broker.listener["ssl_certfile"],
        "ssl_keyfile": broker.listener["ssl_keyfile"],
        "ssl_password_env": KEY_PASSWORD_ENV,
    }


def _stream_output(
    broker: SecureBroker, tmp_path: Path, config: Path, names: dict[str, str], files: list[Path] = SAMPLES
) -> str:
    """`produce` of ``files`` and `run` over ``config``'s listener give the alerts `replay` gives, each
    patient's in order. Returns everything both commands wrote, for checks that no secret shows."""
    expected = replay_events(config, files)
    assert expected, "the scenarios should raise alerts"

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produced = produce_files(config, files)
        assert produced.returncode == 0, produced.stderr[-3000:]
        alerts = read_topic(
            broker.bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected)
        )
        assert engine.terminate() == 0
        log = engine.log.read_text()

    assert events_by_patient(events(alerts)) == events_by_patient(expected)
    return log + produced.stdout + produced.stderr


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_samples_over_sasl_ssl_give_what_replay_gives(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    user = _user(secure_broker, mechanism)
    _login(monkeypatch, user["username"], user["password"])
    prefix = f"secure-{mechanism.lower()}"
    config, names = _secured_config(tmp_path, secure_broker, prefix, **_sasl(mechanism))

    output = _stream_output(secure_broker, tmp_path, config, names)

    assert user["password"] not in output


@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SSL", "MTLS"])
def test_a_scenario_over_sasl_plaintext_ssl_and_mutual_tls_gives_what_replay_gives(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: str
) -> None:
    user = _user(secure_broker, "SCRAM-SHA-256")
    _login(monkeypatch, user["username"], user["password"])
    security: dict[str, str] = {}  # SSL: the broker's CA file only
    if listener == "SASL_PLAINTEXT":
        security = _sasl("SCRAM-SHA-256")
    elif listener == "MTLS":
        security = _client_certificate(secure_broker, monkeypatch)
    config, names = _secured_config(
        tmp_path, secure_broker, f"secure-{listener.lower()}", listener, **security
    )

    output = _stream_output(secure_broker, tmp_path, config, names, [SCENARIO])

    assert user["password"] not in output
    assert secure_broker.listener["ssl_key_password"] not in output


def _refused_run(config: Path, tmp_path: Path) -> list[str]:
    """`b12stream run` expected to give up by itself within FAIL_WITHIN_S with exit 1: its error log
    lines (as JSON text) and, last, all its output."""
    command = [sys.executable, "-m", "b12stream.cli", "run", "--config", str(config)]
    try:
        result = subprocess.run(
            [*command, "--state", str(tmp_path / "state")],
            capture_output=True,
            cwd=ROOT,
            text=True,
            timeout=FAIL_WITHIN_S,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    except subprocess.TimeoutExpired as running:
        parts = (running.stdout or b"", running.stderr or b"")  # bytes: captured before the timeout
        output = "".join(p.decode(errors="replace") if isinstance(p, bytes) else p for p in parts)
        pytest.fail(f"`b12stream run` still running after {FAIL_WITHIN_S:.0f} s:\n{output[-3000:]}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [json.dumps(line).lower() for line in lines if line.get("level") == "error"] + [output]


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate and key no CA of the broker's signed: ``name``.pem and ``name``.key."""
    certificate, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


def test_a_wrong_password_stops_the_engine_with_an_authentication_error(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-password-5f0c2a"
    _login(monkeypatch, _user(secure_broker, "SCRAM-SHA-512")["username"], wrong)
    config, _ = _secured_config(tmp_path, secure_broker, "secure-wrong", **_sasl("SCRAM-SHA-512"))

    *errors, output = _refused_run(config, tmp_path)

    assert any("authentication failed" in line for line in errors), output[-3000:]
    assert wrong not in output


def test_a_broker_certificate_from_an_untrusted_ca_stops_the_engine(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user(secure_broker, "SCRAM-SHA-512")
    _login(monkeypatch, user["username"], user["password"])
    other_ca, _ = _self_signed(tmp_path, "some-other-ca")
    config, _ = _secured_config(
        tmp_path, secure_broker, "secure-ca", **_sasl("SCRAM-SHA-512"), ssl_cafile=str(other_ca)
    )

    *errors, output = _refused_run(config, tmp_path)

    assert any("certificate" in line and "not trusted" in line for line in errors), output[-3000:]
    assert user["password"] not in output


@pytest.mark.parametrize("certificate", ["none", "from another CA"])
def test_mutual_tls_without_an_accepted_client_certificate_stops_the_engine(
    secure_broker: SecureBroker, tmp_path: Path, certificate: str
) -> None:
    security: dict[str, str] = {}
    if certificate != "none":
        certfile, keyfile = _self_signed(tmp_path, "unknown-client")
        security = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
    config, _ = _secured_config(tmp_path, secure_broker, "secure-mtls-refused", "MTLS", **security)

    *errors, output = _refused_run(config, tmp_path)

    cause = "requires a client certificate" if certificate == "none" else "refused the client certificate"
    assert any(cause in line for line in errors), output[-3000:]
