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
    tmp_path: Path, broker: SecureBroker, prefix: str, mechanism: str, **security: Any
) -> tuple[Path, dict[str, str]]:
    """A config whose kafka: section reaches the SASL_SSL listener with credentials from the environment.
    The test itself creates and reads topics through the broker's PLAINTEXT listener."""
    names = topic_names(prefix)
    create_topic(broker.bootstrap, names["input"], 1)
    section = {
        "protocol": "SASL_SSL",
        "ssl_cafile": broker.listener["ssl_cafile"],
        "sasl_mechanism": mechanism,
        "sasl_username_env": USER_ENV,
        "sasl_password_env": PASSWORD_ENV,
        **security,
    }
    config = write_config(
        tmp_path,
        broker.listener["bootstrap_servers"],
        names,
        f"app-{names['input']}",
        security=section,
        retry={"attempts": 12, "initial_backoff_s": 0.2, "max_backoff_s": 2.0},
    )
    return config, names


def _user(broker: SecureBroker, mechanism: str) -> dict[str, Any]:
    return next(u for u in broker.listener["users"].values() if mechanism in u["mechanisms"])


def _login(monkeypatch: pytest.MonkeyPatch, username: str, password: str) -> None:
    monkeypatch.setenv(USER_ENV, username)
    monkeypatch.setenv(PASSWORD_ENV, password)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_samples_over_sasl_ssl_give_what_replay_gives(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    user = _user(secure_broker, mechanism)
    _login(monkeypatch, user["username"], user["password"])
    config, names = _secured_config(tmp_path, secure_broker, f"secure-{mechanism.lower()}", mechanism)
    expected = replay_events(config)
    assert expected, "the samples should raise alerts"

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produced = produce_files(config)
        assert produced.returncode == 0, produced.stderr[-3000:]
        alerts = read_topic(
            secure_broker.bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected)
        )
        assert engine.terminate() == 0
        log = engine.log.read_text()

    assert events_by_patient(events(alerts)) == events_by_patient(expected)
    assert user["password"] not in log + produced.stdout + produced.stderr


def _refused_run(config: Path, tmp_path: Path) -> str:
    """`b12stream run` expected to give up by itself within FAIL_WITHIN_S, non-zero: all its output."""
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
    assert result.returncode != 0
    return result.stdout + result.stderr


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_a_wrong_password_stops_the_engine_with_an_authentication_error(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-password-5f0c2a"
    _login(monkeypatch, _user(secure_broker, "SCRAM-SHA-512")["username"], wrong)
    config, _ = _secured_config(tmp_path, secure_broker, "secure-wrong", "SCRAM-SHA-512")

    output = _refused_run(config, tmp_path)

    errors = [line for line in _json_lines(output) if line.get("level") == "error"]
    assert any("authentication failed" in json.dumps(line).lower() for line in errors), output[-3000:]
    assert wrong not in output


def test_a_broker_certificate_from_an_untrusted_ca_stops_the_engine(
    secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user(secure_broker, "SCRAM-SHA-512")
    _login(monkeypatch, user["username"], user["password"])
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(tmp_path / "other-ca.key"),
            "-out",
            str(other_ca),
            "-days",
            "1",
            "-subj",
            "/CN=some other CA",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config, _ = _secured_config(
        tmp_path, secure_broker, "secure-ca", "SCRAM-SHA-512", ssl_cafile=str(other_ca)
    )

    output = _refused_run(config, tmp_path)

    errors = [line for line in _json_lines(output) if line.get("level") == "error"]
    assert any("certificate" in json.dumps(line).lower() for line in errors), output[-3000:]
    assert user["password"] not in output
