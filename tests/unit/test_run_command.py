"""`b12stream run` at startup: logs the rules version its alerts carry, and warns once when patient
tokens in its log lines are not keyed by a site's secret (B12STREAM_PATIENT_HASH_KEY), and says
nothing of it when they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b12stream.cli import main
from b12stream.commands import run as run_command
from b12stream.engine.engine import Engine
from b12stream.log import PATIENT_HASH_KEY_VARIABLE


def _run_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> list[dict]:
    """The log lines `b12stream run` writes, its engine replaced by one that stops at once."""
    monkeypatch.setattr(run_command, "run_engine", lambda *_: 0)
    capsys.readouterr()
    assert main(["run", "--processes", "1", "--state", str(tmp_path / "state")]) == 0
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def _about_tokens(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("variable") == PATIENT_HASH_KEY_VARIABLE]


def test_without_a_site_secret_run_warns_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PATIENT_HASH_KEY_VARIABLE, raising=False)
    (warning,) = _about_tokens(_run_log(tmp_path, capsys, monkeypatch))
    assert warning["level"] == "warning" and warning["component"] == "run"
    assert "not keyed" in warning["event"]


def test_with_a_site_secret_run_does_not_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PATIENT_HASH_KEY_VARIABLE, "site secret")
    lines = _run_log(tmp_path, capsys, monkeypatch)
    assert not _about_tokens(lines)
    assert all("site secret" not in json.dumps(line) for line in lines)


def test_run_logs_the_rules_version_once_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a lab team compares with an alert's ``rules_version`` to know which settings it ran."""
    monkeypatch.setenv(PATIENT_HASH_KEY_VARIABLE, "site secret")
    (line,) = [line for line in _run_log(tmp_path, capsys, monkeypatch) if "rules_version" in line]
    assert (line["event"], line["level"], line["component"]) == ("rules loaded", "info", "run")
    assert line["rules_version"] == Engine.load().rules_version


def test_an_unknown_log_level_is_a_usage_error_naming_the_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A level the logger does not know stops at the command line (exit 2), not in a traceback."""
    monkeypatch.setattr(run_command, "run_engine", lambda *_: 0)
    monkeypatch.delenv(PATIENT_HASH_KEY_VARIABLE, raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["--log-level", "verbose", "run", "--processes", "1", "--state", str(tmp_path / "state")])
    assert stopped.value.code == 2
    assert "--log-level" in capsys.readouterr().err
    assert main(["--log-level", "warning", "run", "--processes", "1", "--state", str(tmp_path / "s")]) == 0
    assert [json.loads(line)["level"] for line in capsys.readouterr().err.splitlines()] == ["warning"]
