"""`b12stream replay --state DIR`: patient state persists in SQLite across runs."""

from __future__ import annotations

import json

import pytest

from b12stream.cli import main
from b12stream.engine.state import PatientState
from b12stream.state.store import SqlitePatientStore
from tests.unit.engine.builders import oru


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_state_persists_across_runs_and_a_resent_file_adds_nothing(tmp_path, capsys):
    state = tmp_path / "state"
    day0 = tmp_path / "day0.hl7"
    day0.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    correction = tmp_path / "correction.hl7"
    correction.write_text(
        oru("M2", "20260302080000", "240", status="C", sent="20260302110000"), encoding="ascii"
    )

    code, first, _ = replay(capsys, "--state", str(state), str(day0))
    assert code == 0
    assert [e["type"] for e in first] == ["alert"]

    code, again, err = replay(capsys, "--state", str(state), str(day0))
    assert (code, again) == (0, [])
    assert "messages read: 1" in err

    code, later, _ = replay(capsys, "--state", str(state), str(correction))
    assert code == 0
    assert [(e["type"], e["alert_id"]) for e in later] == [("retraction", first[0]["id"])]

    with SqlitePatientStore.open(state / "replay.sqlite") as store:
        (key,) = store.keys()
        stored = PatientState.from_bytes(store.get(key))
    assert key == "HOSP|RP0001"
    assert [record.is_open for record in stored.memory.alerts] == [False]


def test_without_state_every_run_starts_afresh(tmp_path, capsys):
    day0 = tmp_path / "day0.hl7"
    day0.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    first = replay(capsys, str(day0))[1]
    second = replay(capsys, str(day0))[1]
    assert first == second and len(first) == 1


def test_an_unusable_state_store_exits_2(tmp_path, capsys):
    day0 = tmp_path / "day0.hl7"
    day0.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    state = tmp_path / "state"
    state.mkdir()
    (state / "replay.sqlite").write_bytes(b"this is not a database" * 100)
    code, events, err = replay(capsys, "--state", str(state), str(day0))
    assert (code, events) == (2, [])
    assert "state store" in err
