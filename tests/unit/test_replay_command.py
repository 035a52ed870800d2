"""`b12stream replay` on small files: exit codes, output formats, summary, framing, rejections."""

from __future__ import annotations

import json

import pytest

from b12stream.cli import main
from b12stream.engine.engine import Engine
from b12stream.engine.schemas import validation_errors
from b12stream.paths import CONFIG_DIR
from tests.unit.engine.builders import oru

ADT = "MSH|^~\\&|ADT|HOSP|B12STREAM|CDS|20260302090000||ADT^A01|ADT-1|P|2.5.1\rPID|1||X1^^^HOSP^MR\r"


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_a_thrombocytopenia_file_gives_one_valid_alert_and_a_summary(tmp_path, capsys):
    path = tmp_path / "one.hl7"
    path.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert code == 0
    (event,) = events(out)
    assert (event["type"], event["rule"], event["severity"]) == (
        "alert",
        "B12-UNKNOWN-THROMBOCYTOPENIA",
        "medium",
    )
    assert validation_errors(event) == []
    assert "messages read: 1 (accepted 1, rejected 0)" in err
    assert "observations used: 1" in err
    assert "B12-UNKNOWN-THROMBOCYTOPENIA 1" in err


def test_rejected_messages_are_events_and_still_exit_zero(tmp_path, capsys):
    path = tmp_path / "mixed.hl7"
    path.write_text(ADT + oru("M1", "20260302080000", "245"), encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert code == 0
    (event,) = events(out)
    assert event["type"] == "rejected"
    assert event["source"] == f"{path}@0"
    assert validation_errors(event) == []
    assert "messages read: 2 (accepted 1, rejected 1)" in err


def test_mllp_framing_and_batches_give_the_same_events_as_plain_files(tmp_path, capsys):
    first, second = oru("M1", "20260302080000", "82"), oru("M2", "20260303080000", "40", filler="FIL-2")
    plain = tmp_path / "plain.hl7"
    plain.write_text(first + second, encoding="ascii")
    framed = tmp_path / "framed.mllp"
    framed.write_bytes(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in (first, second)))
    batch = tmp_path / "batch.hl7"
    batch.write_text("FHS|^~\\&\rBHS|^~\\&\r" + first + second + "BTS|2\rFTS|1\r", encoding="ascii")
    outputs = [replay(capsys, str(p))[1] for p in (plain, framed, batch)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert [e["type"] for e in events(outputs[0])] == ["alert", "alert_update"]


def test_a_directory_is_read_in_name_order_without_its_notes(tmp_path, capsys):
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "b.hl7").write_text(oru("M2", "20260303080000", "40", filler="FIL-2"), encoding="ascii")
    (folder / "a.hl7").write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    (folder / ".hidden.hl7").write_text(ADT, encoding="ascii")
    (folder / "README.md").write_text("# Feed\nMessages from the test feed.\n", encoding="ascii")
    code, out, _ = replay(capsys, str(folder))
    assert code == 0
    assert [e["type"] for e in events(out)] == ["alert", "alert_update"]


def test_text_format_prints_readable_lines(tmp_path, capsys):
    path = tmp_path / "one.hl7"
    path.write_text(ADT + oru("M1", "20260302080000", "82"), encoding="ascii")
    code, out, _ = replay(capsys, "--format", "text", str(path))
    assert code == 0
    rejected, alert = out.splitlines()
    assert rejected.startswith("REJECTED")
    assert alert.startswith("ALERT") and "medium" in alert and "B12-UNKNOWN-THROMBOCYTOPENIA" in alert
    assert "2132-9" in alert


def test_text_format_says_where_a_rejected_message_is_wrong(tmp_path, capsys):
    """The text line locates a rejection as the JSON event does: segment and field, segment index,
    and byte offset in the message (the one at file@offset), not "OBX-?" or "?-?"."""
    no_obr = ADT.replace("ADT^A01", "ORU^R01") + "OBX|1|NM|777-3||82\r"
    bad_id = no_obr.replace("\rOBX|", "\rOBR|1\rX|\rOBX|")
    path = tmp_path / "bad.hl7"
    path.write_text(ADT + no_obr + bad_id, encoding="ascii")
    _, out, _ = replay(capsys, "--format", "text", str(path))
    adt, no_obr_line, bad_id_line = out.splitlines()
    at = len(ADT) + len(no_obr)
    msh_9 = ADT.index("ADT^")
    assert adt == f"REJECTED  {path}@0: message type ADT^A01 is not ORU^R01 (MSH-9, segment 1, byte {msh_9})"
    assert no_obr_line == (
        f"REJECTED  {path}@{len(ADT)}: OBX before any OBR (OBX, segment 3, byte {no_obr.index('OBX')})"
    )
    assert bad_id_line.startswith(f"REJECTED  {path}@{at}: malformed segment id (1 character, ")
    assert bad_id_line.endswith(f" (segment 4, byte {bad_id.index(chr(13) + 'X|') + 1})")


def test_missing_path_exits_2(tmp_path, capsys):
    code, out, err = replay(capsys, str(tmp_path / "absent.hl7"))
    assert (code, out) == (2, "")
    assert "no such file" in err


def test_unusable_configuration_exits_2(tmp_path, capsys):
    path = tmp_path / "one.hl7"
    path.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    config = tmp_path / "b12stream.yaml"
    config.write_text(f"engine:\n  terminology: [{CONFIG_DIR / 'terminology.yaml'}]\n  colour: blue\n")
    code, out, err = replay(capsys, "--config", str(config), str(path))
    assert (code, out) == (2, "")
    assert "engine.colour" in err


def test_replays_of_the_same_input_are_byte_identical(tmp_path, capsys):
    path = tmp_path / "two.hl7"
    path.write_text(
        oru("M1", "20260302080000", "82")
        + oru("M2", "20260302080000", "240", status="C", sent="20260302110000"),
        encoding="ascii",
    )
    first, second = replay(capsys, str(path))[1], replay(capsys, str(path))[1]
    assert first == second
    assert [e["type"] for e in events(first)] == ["alert", "retraction"]


def test_an_unusable_unit_is_logged_with_ids_only(tmp_path, capsys):
    path = tmp_path / "odd-unit.hl7"
    path.write_text(oru("M1", "20260302080000", "82").replace("10*3/uL", "bananas"), encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert (code, out) == (0, "")
    (line,) = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert (line["control_id"], line["analyte"]) == ("M1", "platelets")
    assert "bananas" in line["reason"]
    assert "RP0001" not in err


def test_a_message_rejected_when_processing_fails_logs_no_unusable_result(tmp_path, capsys, monkeypatch):
    """As in the stream, where such a message is dead-lettered: its results are not reported as unusable."""
    from b12stream.commands import replay as replay_module

    def failing(*_):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected")

    monkeypatch.setattr(replay_module, "process", failing)
    path = tmp_path / "odd-unit.hl7"
    path.write_text(oru("M1", "20260302080000", "82").replace("10*3/uL", "bananas"), encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert (code, [e["type"] for e in events(out)]) == (0, ["rejected"])
    assert "observation not usable for numeric rules" not in err


def test_a_repeated_platelet_count_raises_nothing_and_is_logged_as_unusable(tmp_path, capsys):
    """Which of 40 and 90 is the count is unknown: neither is evidence, and the log says why."""
    path = tmp_path / "repeated.hl7"
    unflagged = oru("M1", "20260302080000", "40~90").replace("|150-400|L|", "|150-400||")
    path.write_text(unflagged, encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert (code, out) == (0, "")
    (line,) = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert (line["event"], line["control_id"], line["analyte"]) == (
        "observation not usable for numeric rules", "M1", "platelets")
    assert "OBX-5 repeats (2 values) for a numeric result (NM)" in line["reason"]
    assert "40" not in line["reason"] and "RP0001" not in err


def test_an_untimed_cancellation_in_a_message_without_msh_7_costs_only_itself(tmp_path, capsys):
    """The count has its own time and raises its alert; the cancelled B12 order beside it has no time
    at all (no OBR-7, no MSH-7), so it is left out and logged as unusable, not the whole message."""
    path = tmp_path / "untimed-cancellation.hl7"
    count = oru("M1", "20260302080000", "40").replace("|CDS|20260302080000||", "|CDS|||")
    path.write_text(count + "OBR|2|P-2|F-2|2132-9^B12^LN|||||||||||||||||||||X\r", encoding="ascii")
    code, out, err = replay(capsys, str(path))
    assert code == 0
    (event,) = events(out)
    assert (event["type"], event["rule"]) == ("alert", "B12-UNKNOWN-THROMBOCYTOPENIA")
    assert "messages read: 1 (accepted 1, rejected 0)" in err
    (line,) = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert (line["control_id"], line["analyte"], line["code"]) == ("M1", "b12_total", "2132-9")
    assert line["reason"].startswith("b12_total: a cancellation (X) with no time")


def test_alerts_name_the_rules_version_and_keep_their_ids_when_a_threshold_changes(tmp_path, capsys):
    """A lab team tells alerts from before and after a threshold change by ``rules_version``; the
    same input history keeps its alert ids, so a replay under new thresholds still de-duplicates."""
    path = tmp_path / "one.hl7"
    path.write_text(oru("M1", "20260302080000", "82"), encoding="ascii")
    (tmp_path / "rules.yaml").write_text("r02: {high_below_10e9_l: 40}  # not this alert's rule\n")
    config = tmp_path / "b12stream.yaml"
    config.write_text(f"engine:\n  terminology: [{CONFIG_DIR / 'terminology.yaml'}]\n  rules: rules.yaml\n")
    (before,) = events(replay(capsys, str(path))[1])
    (after,) = events(replay(capsys, "--config", str(config), str(path))[1])
    assert before["rules_version"] == Engine.load().rules_version
    assert after["rules_version"] == Engine.load(config).rules_version != before["rules_version"]
    assert {**after, "rules_version": before["rules_version"]} == before
