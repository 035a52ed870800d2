"""`b12stream run`'s HTTP endpoint against a real broker: /metrics counts every message produced,
once, and its alert counts are those of the alerts topic; /health/ready answers 200 once the
partitions are restored; each worker of `--processes N` serves on its own port; SIGTERM still stops
the engine cleanly."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.integration.harness import (
    SAMPLES,
    EngineProcess,
    create_topic,
    hl7_messages,
    produce_files,
    read_topic,
    topic_names,
    write_config,
)
from tests.prometheus_text import Exposition, parse

pytestmark = pytest.mark.integration

_MESSAGES = len(hl7_messages(SAMPLES))
_T = TypeVar("_T")


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _metrics(port: int) -> Exposition:
    code, body = _get(port, "/metrics")
    assert code == 200
    return parse(body.decode())


def _handled(found: Exposition) -> float:
    """Messages the engine is done with: processed, or dead-lettered at either stage."""
    dead = sum(found.by("b12stream_messages_dead_lettered_total", "stage").values())
    return found.value("b12stream_messages_processed_total") + dead


def _wait_for(engine: EngineProcess, get: Callable[[], _T], done: Callable[[_T], bool], what: str) -> _T:
    """``get()`` once ``done`` holds for it, within a minute; the engine must keep running meanwhile."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        value = get()
        if done(value):
            return value
        assert engine.process is not None and engine.process.poll() is None, engine.log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{what} never came; last: {value!r}")


def _ports(engine: EngineProcess, count: int) -> dict[int | None, int]:
    """The bound port of each engine process (by its ``process`` field), from its log line."""
    def listening() -> dict[int | None, int]:
        lines = [line for line in engine.log_lines() if line.get("event") == "observability listening"]
        return {line.get("process"): line["port"] for line in lines}

    return _wait_for(engine, listening, lambda ports: len(ports) == count, "observability listening")


def _engine(bootstrap: str, tmp_path: Path, prefix: str, **options: object) -> tuple[EngineProcess, dict]:
    names = topic_names(prefix)
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", **options)
    return EngineProcess(config, tmp_path / "state", tmp_path / "engine.log"), names


def test_metrics_count_every_message_once_and_the_alerts_on_the_topic(bootstrap: str, tmp_path: Path) -> None:
    engine, names = _engine(bootstrap, tmp_path, "observability")
    with engine:
        (port,) = _ports(engine, 1).values()
        _, body = _wait_for(engine, lambda: _get(port, "/health/ready"), lambda got: got[0] == 200, "ready")
        assert json.loads(body) == {"status": "ready", "partitions_assigned": 5, "partitions_restoring": 0}
        assert _get(port, "/health/live")[0] == 200
        restored = _metrics(port)
        assert restored.value("b12stream_partition_restores_total") >= 4  # the repartition topic's
        assert restored.value("b12stream_partitions_restoring") == 0

        produced = produce_files(engine.config)
        assert produced.returncode == 0, produced.stderr[-3000:]
        found = _wait_for(engine, lambda: _metrics(port), lambda m: _handled(m) >= _MESSAGES, "every message")
        said = sum(found.by("b12stream_events_published_total", "type").values())
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(rs) >= said)
        pages = read_topic(bootstrap, names["pager"], until=lambda rs: len(rs) >= 1)
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= 1)
        final = _metrics(port)
        assert engine.terminate() == 0

    assert _handled(final) == _MESSAGES
    assert final.by("b12stream_records_read_total", "stage")["ingest"] == _MESSAGES  # one record each
    events = [json.loads(record.value) for record in alerts]
    on_topic = Counter((e["type"], e["rule"], e["severity"]) for e in events if e["type"] != "rejected")
    assert on_topic, "the samples should alert"
    counted = {
        (dict(labels)["type"], dict(labels)["rule"], dict(labels)["severity"]): value
        for (name, labels), value in final.samples.items()
        if name == "b12stream_alert_events_published_total"
    }
    assert counted == on_topic
    assert final.by("b12stream_events_published_total", "type")["rejected"] == sum(
        1 for e in events if e["type"] == "rejected"
    )
    assert final.by("b12stream_pages_published_total", "action") == {
        action: sum(1 for r in pages if json.loads(r.value)["event_action"] == action)
        for action in ("trigger", "resolve")
    }
    assert final.value("b12stream_order_messages_published_total") == len(orders)
    assert final.value("b12stream_batches_committed_total") >= 1
    assert "stopped" in [line.get("event") for line in engine.log_lines()]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the endpoint closed with the engine


def test_each_worker_serves_on_its_own_port_and_together_they_count_every_message(
    bootstrap: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a free port to start from; the next one is most likely free too
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    engine, _ = _engine(bootstrap, tmp_path, "observability-workers", processes=2, http_port=base)
    with engine:
        assert _ports(engine, 2) == {1: base, 2: base + 1}
        for port in (base, base + 1):
            _wait_for(engine, lambda p=port: _get(p, "/health/ready")[0], lambda code: code == 200, "ready")
        produced = produce_files(engine.config)
        assert produced.returncode == 0, produced.stderr[-3000:]
        _wait_for(
            engine,
            lambda: sum(_handled(_metrics(port)) for port in (base, base + 1)),
            lambda handled: handled >= _MESSAGES,
            "every message",
        )
        handled = sum(_handled(_metrics(port)) for port in (base, base + 1))
        assert engine.terminate() == 0
    assert handled == _MESSAGES
