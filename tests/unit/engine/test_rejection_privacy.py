"""A rejection's reason and location are logged and published in the ``rejected`` event: whatever the
message holds, they never copy a patient's name, birth date, identifier or free text from it."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.events import encode_event, rejected_event
from b12stream.engine.ingest import ingest
from b12stream.hl7.model import Rejection
from b12stream.hl7.oru import read_oru, read_patient
from tests.unit.engine.builders import oru

PHI = ["SMITH", "MARY", "Jane", "JANE", "Doe", "DOE", "1961", "19610402", "4471", "RP0001", "Spoke"]
MESSAGE = oru("CTL-PHI", "20260302080000", "82")
PID = "PID|1||RP0001^^^HOSP^MR||TEST^REPLAY"
SPLIT_NAME = "PID|1||RP0001^^^HOSP^MR||DOE^JANE\rSMITH-JONES^MARY||19610402|F"

CASES = {
    # A line break inside PID-5 makes the rest of the name look like a segment.
    "stray CR in PID-5": MESSAGE.replace(PID, SPLIT_NAME),
    "stray CR before PID-5": MESSAGE.replace(PID, "PID|1||RP0001^^^HOSP^MR||\rDOE^JANE||19610402|F"),
    # ... and one inside a comment, the comment's free text.
    "stray CR in NTE-3": MESSAGE + "NTE|1||Spoke to patient\rJane Doe DOB 1961-04-02, MRN 4471 re results\r",
    "free text where MSH belongs": "Jane Doe DOB 1961-04-02, MRN 4471\r" + MESSAGE,
    "a name where MSH belongs": "DOE^JANE^^^^|19610402\r" + MESSAGE,
    "text in MSH-2": MESSAGE.replace("MSH|^~\\&|", "MSH|Jane Doe 19610402 MRN 4471|"),
    "a short text in MSH-2": MESSAGE.replace("MSH|^~\\&|", "MSH|DOE|"),
    "a four-letter text in MSH-2": MESSAGE.replace("MSH|^~\\&|", "MSH|MARY|"),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_rejections_copy_no_phi_into_reason_or_location(engine: Engine, text: str) -> None:
    data = text.encode()
    readings = (read_oru(data), read_patient(data), ingest(data, engine))
    rejections = [reading for reading in readings if isinstance(reading, Rejection)]
    assert rejections, "each case is a message the engine cannot use"
    for rejection in rejections:
        published = encode_event(rejected_event(rejection, "hl7.oru/0/1")).decode()
        assert not [word for word in PHI if word in published], published
        # Still located: by segment index and byte offset, since the text itself is not told.
        assert rejection.location.byte_offset is not None


def test_a_split_segment_is_located_by_index_and_offset() -> None:
    text = CASES["stray CR in PID-5"]
    rejection = read_oru(text.encode())
    assert isinstance(rejection, Rejection)
    assert rejection.reason == (
        "malformed segment id (16 characters, not 3 upper-case letters or digits starting with a letter)")
    assert (rejection.location.segment, rejection.location.segment_index) == (None, 3)
    assert rejection.location.byte_offset == text.index("SMITH-JONES")


def test_a_segment_where_msh_belongs_is_still_named() -> None:
    rejection = read_oru(MESSAGE[MESSAGE.index("PID|"):].encode())
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "first segment is PID, not MSH"
    assert (rejection.location.segment, rejection.location.segment_index, rejection.location.byte_offset) == (
        "PID", 1, 0)


def test_delimiters_in_a_malformed_msh2_are_still_shown() -> None:
    rejection = read_oru(MESSAGE.replace("MSH|^~\\&|", "MSH|^~\\|").encode())
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "MSH-2 declares 3 encoding characters '^~\\\\'; expected 4 (5 with truncation)"
