"""A dead letter reads back as what the engine wrote on it; a record another writer put on the
dead-letter topic still reads, with what it lacks as None."""

from __future__ import annotations

from b12stream.hl7.model import Location, Rejection
from b12stream.stream.dead_letter import dead_letter, read_dead_letter
from b12stream.stream.records import Message, SourceRef

_SOURCE = SourceRef("hl7.oru", 2, 41, frame=1, frame_offset=730)
_REJECTION = Rejection("OBX before any OBR", Location("OBX", 5, None, 249), control_id="MSG-7")


def test_a_dead_letter_reads_back_as_written() -> None:
    record = dead_letter(Message(b"MSH|^~\\&|...", _SOURCE), _REJECTION, "process", "b12stream.dlq", 1_000)
    assert read_dead_letter(list(record.headers), record.value) == {
        "reason": "OBX before any OBR",
        "location": {"segment": "OBX", "segment_index": 5, "field": None, "byte_offset": 249},
        "control_id": "MSG-7",
        "stage": "process",
        "source": {"topic": "hl7.oru", "partition": 2, "offset": 41, "frame": 1, "frame_offset": 730},
        "bytes": 12,
        "value_omitted": False,
    }


def test_a_message_too_large_to_carry_reads_with_its_size() -> None:
    record = dead_letter(Message(b"x" * 2_000, _SOURCE), _REJECTION, "ingest", "b12stream.dlq", 1_000)
    shown = read_dead_letter(list(record.headers), record.value)
    assert (record.value, shown["bytes"], shown["value_omitted"]) == (b"", 2_000, True)


def test_a_foreign_record_reads_with_what_it_lacks_as_none() -> None:
    headers = [("b12stream.error.location", b"{not json"), ("b12stream.source.offset", b"x")]
    shown = read_dead_letter(headers, b"?")
    assert shown == {
        "reason": None,
        "location": None,
        "control_id": None,
        "stage": None,
        "source": None,
        "bytes": 1,
        "value_omitted": False,
    }
