"""The commands an interface analyst runs name a broker that does not answer, within a bounded wait,
instead of kafka-python's 30 s wait and a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.integration.harness import ROOT, EngineProcess, topic_names, write_config

pytestmark = pytest.mark.integration


def _command(config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b12stream.cli", arguments[0], "--config", str(config), *arguments[1:]],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )


def test_dead_letters_names_the_broker_within_its_timeout(silent_address: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, silent_address, topic_names("no-broker"), "app-no-broker")
    shown = _command(config, "dead-letters", "--timeout", "2")
    assert shown.returncode == 1
    assert f"no broker answered at {silent_address} within 2 s" in shown.stderr
    assert shown.stdout == ""


def test_produce_names_the_broker_and_sends_nothing(silent_address: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, silent_address, topic_names("no-broker"), "app-no-broker")
    shown = _command(config, "produce", str(SAMPLES / "s01-normal-platelets.hl7"))
    assert shown.returncode == 1
    assert shown.stderr.strip() == f"b12stream produce: no broker answered at {silent_address} within 10 s"


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("address", ["silent_address", "hung_address"])
def test_run_stops_at_once_on_sigterm_while_no_broker_answers(
    address: str, request: pytest.FixtureRequest, tmp_path: Path, processes: int
) -> None:
    """kafka-python's clients wait 30 s for a first broker and hear no stop meanwhile: SIGTERM during
    an outage must still end `run` cleanly within a service manager's 10 s, for a single engine and
    for a supervisor, whose workers would otherwise be killed after its grace. An outage is a port
    that refuses connections, or one that accepts them and never answers Kafka (a hung broker, a load
    balancer with none behind it)."""
    names = topic_names("no-broker")
    bootstrap = request.getfixturevalue(address)
    config = write_config(tmp_path, bootstrap, names, "app-no-broker", processes=processes)
    engine = EngineProcess(config, tmp_path / "state", tmp_path / "run.log").start()
    try:
        engine.wait_for_log("observability listening")
        time.sleep(2)  # inside the wait for a first broker
        assert engine.terminate(timeout_s=10) == 0
    finally:
        engine.kill()
    events = [line["event"] for line in engine.log_lines()]
    assert "stopped while retrying; the unfinished batch is read again at the next start" in events
    assert "worker did not stop in time; killing it" not in events
