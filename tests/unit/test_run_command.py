"""`b12stream run` warns once at startup when patient tokens in its log lines are not keyed by a
site's secret (B12STREAM_PATIENT_HASH_KEY), and says nothing of it when they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b12stream.cli import main
from b12stream.commands import run as run_command
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
