"""`b12stream inspect` end to end on small files: one JSON line per message, no identifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b12stream.cli import main
from b12stream.clinical.model import PatientKey
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import ingest
from b12stream.hl7.model import Rejection
from b12stream.log import patient_hash

ORU = (
    "\r".join(
        [
            "MSH|^~\\&|LAB|HOSP|B12|HOSP|20260301090000||ORU^R01^ORU_R01|MSG0001|P|2.5.1",
            "PID|1||123456^^^HOSP^MR~999^^^NHS^NH||DOE^JANE||19700101|F",
            "ORC|RE|P1|F1",
            "OBR|1|P1|F1|58410-2^CBC^LN|||20260301080000|||||||||||||||20260301085000||HM|F",
            "OBX|1|NM|777-3^Platelets^LN|1|82|10*3/uL|150-400|L|||F|||20260301080000",
            "OBX|2|NM|16695-9^Cobalamins blood^LN|1|300|pg/mL|||||F|||20260301080000",
            "OBX|3|NM|6690-2^WBC^LN|1|7.0|10*9/L|||||F|||20260301080000",
            "OBX|4|NM|plt^Platelets^L|1|82|cells/hpf|||||F|||20260301080000",
            "OBR|2|P2|F2|53622-7^ADAMTS13 activity^LN|||20260301080000||||||||||||||||||I",
        ]
    )
    + "\r"
)
ADT = "MSH|^~\\&|ADT|HOSP|B12|HOSP|20260301090000||ADT^A01|ADT0001|P|2.5.1\rPID|1||123456^^^HOSP^MR\r"


def run_inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["inspect", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_accepted_and_rejected_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feed.hl7"
    path.write_bytes((ORU + ADT).encode("ascii"))
    code, lines, err = run_inspect(capsys, str(path))
    assert code == 0
    assert "1 accepted, 1 rejected" in err
    accepted, rejected = lines
    assert accepted["outcome"] == "accepted"
    assert (accepted["file"], accepted["offset"]) == (str(path), 0)
    assert (accepted["control_id"], accepted["message_type"], accepted["version"]) == (
        "MSG0001",
        "ORU^R01",
        "2.5.1",
    )
    assert accepted["charset"]["codec"]
    assert accepted["patient"] == patient_hash(PatientKey("123456", "HOSP").as_text())
    platelets, adamts13 = accepted["observations"]
    assert platelets["analyte"] == "platelets"
    assert (platelets["value"], platelets["unit"], platelets["flags"]) == (82, "10*9/L", ["L"])
    assert platelets["observed_at"] == "2026-03-01T08:00:00+00:00"
    assert platelets["reference"] == [150, 400]
    assert (adamts13["analyte"], adamts13["status"], adamts13["value"]) == ("adamts13_activity", "I", None)
    assert accepted["unmapped"] == ["6690-2^WBC^LN", "plt^Platelets^L"]
    assert accepted["excluded"][0].startswith("16695-9")
    assert rejected["outcome"] == "rejected"
    assert rejected["offset"] == len(ORU)
    assert "ADT^A01" in rejected["reason"]
    assert rejected["location"]["segment"] == "MSH"


def test_identifiers_never_appear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feed.hl7"
    path.write_bytes(ORU.encode("ascii"))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "123456" not in out and "DOE" not in out and "19700101" not in out


def test_site_terminology_maps_local_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feed.hl7"
    path.write_bytes(ORU.encode("ascii"))
    site = tmp_path / "site.yaml"
    site.write_text('local_codes:\n  - {system: "L", code: "plt", analyte: platelets}\n', encoding="utf-8")
    _, lines, _ = run_inspect(capsys, str(path), "--terminology", str(site))
    local = [o for o in lines[0]["observations"] if o["code"] == "plt"]
    assert len(local) == 1
    assert local[0]["value"] is None
    assert "cells/hpf" in local[0]["unusable_reason"]


def test_a_repeated_numeric_value_shows_as_unusable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repeated.hl7"
    path.write_bytes(ORU.replace("|1|82|10*3/uL|", "|1|82~90|10*3/uL|").encode("ascii"))
    _, lines, _ = run_inspect(capsys, str(path))
    platelets = lines[0]["observations"][0]
    assert (platelets["value"], platelets["text"]) == (None, "82, 90")
    assert platelets["unusable_reason"] == (
        "platelets: OBX-5 repeats (2 values) for a numeric result (NM): which one is the result is unknown")


def test_a_result_outside_any_order_is_shown_as_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """From v2.7 an OBX before any ORC/OBR is the patient's, not an order's: not read as a result,
    and said so, with where it is."""
    platelets = "OBX|1|NM|777-3^Platelets^LN|1|82|10*3/uL|150-400|L|||F|||20260301080000"
    outside = f"{platelets}\rOBX|2|ST|X1^Note^L||n\rORC|RE|P1|F1"
    text = ORU.replace("|P|2.5.1", "|P|2.7").replace("ORC|RE|P1|F1", outside)
    path = tmp_path / "patient-obx.hl7"
    path.write_bytes(text.encode("ascii"))
    _, (line,), _ = run_inspect(capsys, str(path))
    assert line["outcome"] == "accepted"
    assert line["outside_orders"] == ["777-3 (segment 3)"]


def test_directory_in_name_order_and_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.hl7").write_bytes(ADT.encode("ascii"))
    (folder / "a.hl7").write_bytes(ORU.encode("ascii"))
    (folder / ".hidden").write_bytes(b"not hl7")
    (folder / "README.md").write_bytes(b"# where the samples came from")
    code, lines, err = run_inspect(capsys, str(folder), str(tmp_path / "absent.hl7"))
    assert code == 2
    assert [Path(line["file"]).name for line in lines] == ["a.hl7", "b.hl7"]
    assert "absent.hl7" in err


@pytest.mark.parametrize("pid_3", ["", '""^^^NHS^NH'])
def test_a_message_the_engine_cannot_key_is_rejected_as_the_engine_rejects_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pid_3: str
) -> None:
    """The engine dead-letters a message with no PID-3 identifier its key rule takes: inspect, which
    an analyst runs to see why, says so, where the engine says it, rather than "accepted"."""
    data = ORU.replace("123456^^^HOSP^MR~999^^^NHS^NH", pid_3).encode("ascii")
    path = tmp_path / "unkeyed.hl7"
    path.write_bytes(data)
    engine_says = ingest(data, Engine.load())
    assert isinstance(engine_says, Rejection)
    _, lines, err = run_inspect(capsys, str(path))
    assert "0 accepted, 1 rejected" in err
    (line,) = lines
    assert line["outcome"] == "rejected"
    assert (line["reason"], line["location"]) == (engine_says.reason, engine_says.location.as_dict())
    assert line["location"]["segment"] == "PID" and line["location"]["field"] == 3
    assert "PID-3" in line["patient_note"]


def test_empty_file_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.hl7"
    path.write_bytes(b"")
    assert run_inspect(capsys, str(path)) == (0, [], "b12stream inspect: 1 file(s), 0 accepted, 0 rejected\n")
