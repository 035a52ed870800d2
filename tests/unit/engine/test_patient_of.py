"""The ingest stage routes a message by ``patient_of`` (MSH and PID alone) and the process stage reads
it with ``ingest``: the two must never disagree about a patient, or one patient's state would be split
between partitions. Checked over every sample and every message of the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, Keyed, ingest, patient_of
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import Rejection
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _frames(folder: Path) -> list[bytes]:
    files = sorted(folder.glob("*.hl7"))
    return [frame.data for path in files for frame in split_messages(path.read_bytes())]


def _disagreement(data: bytes, engine: Engine) -> str | None:
    """Why ``patient_of`` misroutes ``data`` (a key other than ingest's, or none where ingest has
    one), or None."""
    keyed, accepted = patient_of(data, engine), ingest(data, engine)
    if isinstance(accepted, Accepted):
        if not isinstance(keyed, Keyed) or keyed.patient != accepted.patient:
            return f"ingest keys {accepted.patient}, patient_of gives {keyed}"
        if keyed.control_id != accepted.message.header.control_id:
            return "control ids differ"
    return None  # rejected by ingest: the process stage dead-letters it, wherever it was routed


@pytest.mark.timeout(120)
def test_patient_of_agrees_with_ingest_on_every_sample_and_corpus_message(
    engine: Engine, corpus_dir: Path
) -> None:
    frames = _frames(SAMPLES) + _frames(corpus_dir)
    assert len(frames) > 100
    problems = [(i, found) for i, data in enumerate(frames) if (found := _disagreement(data, engine))]
    assert problems == []
    keyed_only = [data for data in frames if isinstance(patient_of(data, engine), Keyed)
                  and isinstance(ingest(data, engine), Rejection)]
    assert keyed_only, "some corpus messages are keyed here and rejected later, by the process stage"


_SEGMENT = st.sampled_from([
    "PID|1||MRN7^^^HOSP^MR~NHS9^^^NHS^NH||DOE^JANE||19700101|F",
    "PID|1||\"\"^^^HOSP^MR",
    "PID",
    "PV1|1|I",
    "ORC|RE|P1|F1",
    "OBR|1|P1|F1|58410-2^CBC^LN|||20240301071500",
    "OBX|1|NM|777-3^Platelets^LN||85|10*9/L|150-400|L|||F",
    "NTE|1||comment",
    "ZLR|1|x",
    "bad line",
])


@given(st.lists(_SEGMENT, max_size=8))
def test_patient_of_agrees_with_ingest_on_any_segment_order(engine: Engine, segments: list[str]) -> None:
    msh = "MSH|^~\\&|LIS|LAB|B12STREAM|HOSP|20240301083000||ORU^R01|CTL-1|P|2.5.1"
    data = "\r".join([msh, *segments]).encode()
    assert _disagreement(data, engine) is None


@pytest.mark.parametrize(("prefix", "suffix"), [(b"", b""), (b"\x0b", b"\x1c\r"), ("\ufeff".encode(), b"")])
def test_a_message_without_a_patient_key_is_rejected_at_its_pid3(
    engine: Engine, prefix: bytes, suffix: bytes
) -> None:
    # MSH-4 is not ASCII: the offset counts bytes, not characters.
    text = "\r".join([
        "MSH|^~\\&|LIS|Hôpital Saint-Éloi|B12STREAM|HOSP|20240301083000||ORU^R01|CTL-1|P|2.5.1",
        "PV1|1|I",
        "PID|1||^^^HOSP^MR||TEST^PATIENT",
        "OBR|1|P1|F1|58410-2^CBC^LN|||20240301071500",
        "OBX|1|NM|777-3^Platelets^LN||85|10*9/L|150-400|L|||F",
    ])
    data = prefix + text.encode() + suffix
    pid3 = len(prefix) + len(text[: text.index("^^^HOSP^MR")].encode())
    for rejection in (ingest(data, engine), patient_of(data, engine)):
        assert isinstance(rejection, Rejection)
        assert rejection.reason == "no PID-3 identifier satisfies the patient key rule"
        assert (rejection.location.segment, rejection.location.segment_index, rejection.location.field) == (
            "PID", 3, 3)
        assert rejection.location.byte_offset == pid3
        assert (rejection.control_id, rejection.message_type) == ("CTL-1", "ORU^R01")
