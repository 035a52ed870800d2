"""The HTTP endpoint on a real socket: /metrics as Prometheus text, health answers 200 or 503 with a
JSON reason, and a port it cannot listen on is a start-up error naming host and port."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from b12stream.cli import main
from b12stream.errors import ConfigError
from b12stream.stream import workers
from b12stream.stream.health_server import HealthServer
from b12stream.stream.settings import ObservabilitySettings
from b12stream.stream.stages import StageResult
from b12stream.stream.status import EngineStatus
from tests.conftest import ManualClock
from tests.integration.harness import CONFIG_DIR
from tests.prometheus_text import parse

_ANY_PORT = ObservabilitySettings("127.0.0.1", 0)
_LIMIT_S = 30.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(50.0)


@pytest.fixture
def status(clock: ManualClock) -> EngineStatus:
    return EngineStatus(clock)


@pytest.fixture
def server(status: EngineStatus, clock: ManualClock) -> Iterator[HealthServer]:
    with HealthServer(_ANY_PORT, status, _LIMIT_S, clock) as running:
        yield running


def _get(server: HealthServer, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_metrics_are_prometheus_text_of_what_the_loop_reported(
    server: HealthServer, status: EngineStatus
) -> None:
    status.committed([StageResult("process", processed=5)], {"process": 5}, 0.01)
    code, content_type, body = _get(server, "/metrics")
    assert (code, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert parse(body.decode()).value("b12stream_messages_processed_total") == 5
    status.committed([StageResult("process", processed=2)], {"process": 2}, 0.01)
    assert parse(_get(server, "/metrics")[2].decode()).value("b12stream_messages_processed_total") == 7


def test_health_follows_the_loop(server: HealthServer, status: EngineStatus, clock: ManualClock) -> None:
    def answer(path: str) -> tuple[int, str]:
        code, content_type, body = _get(server, path)
        assert content_type == "application/json"
        return code, json.loads(body)["status"]

    assert answer("/health/live") == (200, "live")
    assert answer("/health/ready") == (503, "not ready")  # not in the group yet
    status.group(joined=True, held=2)
    status.cycled(unrestored=2)
    assert answer("/health/ready") == (503, "not ready")
    status.cycled(unrestored=0)
    assert answer("/health/ready") == (200, "ready")
    clock.now += _LIMIT_S + 1
    assert answer("/health/live") == (503, "stalled")
    assert answer("/health/ready") == (503, "not ready")
    status.cycled(unrestored=0)
    assert answer("/health/live") == (200, "live")


def test_another_path_is_not_found(server: HealthServer) -> None:
    code, _, body = _get(server, "/healthz")
    assert code == 404 and json.loads(body)["paths"] == ["/metrics", "/health/live", "/health/ready"]


def test_a_port_in_use_is_an_error_naming_host_and_port(status: EngineStatus) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            HealthServer(ObservabilitySettings("127.0.0.1", port), status, _LIMIT_S)
    assert str(raised.value) == (
        f"observability.http_host/http_port: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another engine process, or another service)"
    )


def test_a_closed_endpoint_frees_its_port(status: EngineStatus) -> None:
    with HealthServer(_ANY_PORT, status, _LIMIT_S) as first:
        port = first.port
    with HealthServer(ObservabilitySettings("127.0.0.1", port), status, _LIMIT_S) as second:
        assert second.port == port


def test_run_with_its_port_in_use_exits_2_saying_so_before_it_connects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, silent_address: str
) -> None:
    # What run_engine sets for a whole process, this test process keeps as it is.
    monkeypatch.setattr(workers, "stop_on_signals", lambda _: None)
    monkeypatch.setattr(workers, "settle_for_streaming", lambda: None)
    shutil.copytree(CONFIG_DIR, tmp_path / "config")
    config = tmp_path / "config" / "b12stream.yaml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(config.read_text().replace("http_port: 9464", f"http_port: {port}"))
        arguments = ["--config", str(config), "--bootstrap-servers", silent_address, "--state", str(tmp_path)]
        assert main(["run", *arguments]) == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in capsys.readouterr().err


def test_an_ipv6_host_is_served(status: EngineStatus) -> None:
    """`http_host: "::"` (every address, as a kubelet on an IPv6 cluster reaches a pod) or `::1`."""
    with HealthServer(ObservabilitySettings("::1", 0), status, _LIMIT_S) as server:
        answer = urllib.request.urlopen(f"http://[::1]:{server.port}/metrics", timeout=5)
        with answer:
            assert answer.status == 200
            assert parse(answer.read().decode())
