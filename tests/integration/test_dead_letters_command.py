"""`b12stream dead-letters` shows each message on the dead-letter topic with why and where it came in,
and saves its bytes, unchanged, for an analyst to fix and send again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.integration.harness import (
    ROOT,
    EngineProcess,
    create_topic,
    hl7_messages,
    produce,
    read_topic,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

NOT_HL7 = b"lab feed heartbeat 2026-11-25T04:00"


def _obx_before_obr(message: bytes) -> bytes:
    """The message with its first OBX moved in front of its OBR: readable up to the OBX, then wrong."""
    segments = message.rstrip(b"\r").split(b"\r")
    obx = next(i for i, s in enumerate(segments) if s.startswith(b"OBX"))
    obr = next(i for i, s in enumerate(segments) if s.startswith(b"OBR"))
    segments.insert(obr, segments.pop(obx))
    return b"\r".join(segments) + b"\r"


def _dead_letters(config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b12stream.cli", "dead-letters", "--config", str(config), *options],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )


def test_each_dead_letter_is_shown_with_its_reason_and_source_and_saved_as_it_came_in(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("dead-letters")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    good = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    batch = b"\x0b" + good[0] + b"\x1c\r" + b"\x0b" + NOT_HL7 + b"\x1c\r"
    values = [*good, NOT_HL7, _obx_before_obr(good[0]), batch]
    first_bad = len(good)

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        engine.wait_for_log("partitions assigned")
        produce(bootstrap, names["input"], values)
        read_topic(bootstrap, names["dlq"], until=lambda records: len(records) >= 3, settle_s=0.5)

    shown = _dead_letters(config, "--save", str(tmp_path / "saved"))
    assert shown.returncode == 0, shown.stderr
    entries = [json.loads(line) for line in shown.stdout.splitlines()]
    assert f"3 dead letters on {names['dlq']}" in shown.stderr

    by_offset = {(e["source"]["offset"], e["source"]["frame"]): e for e in entries}
    assert set(by_offset) == {(first_bad, 0), (first_bad + 1, 0), (first_bad + 2, 1)}
    assert by_offset[(first_bad + 1, 0)]["location"]["segment"] == "OBX"
    assert by_offset[(first_bad + 1, 0)]["stage"] == "process"
    for (offset, _), entry in by_offset.items():
        assert entry["reason"] and entry["source"]["topic"] == names["input"]
        assert entry["dead_letter"].startswith(f"{names['dlq']}/")
        saved = Path(entry["saved_to"]).read_bytes()
        assert entry["bytes"] == len(saved)
        start = entry["source"]["frame_offset"]
        assert values[offset][start : start + len(saved)] == saved  # byte for byte, as it came in
    assert Path(by_offset[(first_bad + 2, 1)]["saved_to"]).name == f"{names['input']}-0-{first_bad + 2}-1.hl7"
    assert Path(by_offset[(first_bad, 0)]["saved_to"]).read_bytes() == NOT_HL7
    # the MLLP frame before the unusable one in the same record was a good message: processed, not here
    assert Path(by_offset[(first_bad + 2, 1)]["saved_to"]).read_bytes() == NOT_HL7


def test_a_topic_that_does_not_exist_is_named(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("dead-letters-missing")
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    shown = _dead_letters(config)
    assert shown.returncode == 1
    assert f"topic {names['dlq']} does not exist on {bootstrap}" in shown.stderr
    assert shown.stdout == ""
