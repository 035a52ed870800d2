"""A re-sent message changes nothing even when a later correction already replaced its values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b12stream.cli import main


def _events(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["replay", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_replaying_a_corrected_feed_into_the_same_state_emits_nothing(
    tmp_path: Path, samples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = samples_dir / "s11-corrected-platelet-clumping.hl7"
    state = str(tmp_path / "state")
    first = _events(capsys, "--state", state, str(feed))
    assert [e["type"] for e in first] == ["alert", "retraction"]
    assert _events(capsys, "--state", state, str(feed)) == []


def test_the_whole_sample_set_twice_into_one_state_emits_nothing_the_second_time(
    tmp_path: Path, samples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    assert _events(capsys, "--state", state, str(samples_dir))
    assert _events(capsys, "--state", state, str(samples_dir)) == []
