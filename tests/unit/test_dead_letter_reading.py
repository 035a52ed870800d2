"""A dead letter reads back as what the engine wrote on it; a record another writer put on the
dead-letter topic still reads, with what it lacks as None; no text of its message makes its headers
long."""

from __future__ import annotations

from b12stream.hl7.model import SHOWN_LIMIT, Location, Rejection, shown
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


def test_the_texts_a_message_gives_are_cut_to_a_fixed_length_that_names_theirs() -> None:
    long = "ADT^" + "A" * 600_000
    assert shown("ORU^R01") == "ORU^R01"
    assert len(shown(long)) == SHOWN_LIMIT
    assert shown(long).startswith("ADT^AAA")
    assert shown(long).endswith("… (600,004 characters)")
    assert shown(shown(long)) == shown(long)


def test_a_dead_letter_of_a_message_with_a_long_field_carries_the_message_and_short_headers() -> None:
    field = "C" * 600_000
    data = b"MSH|^~\\&|||||||ADT^A01|" + field.encode()
    rejection = Rejection(f"message type {field} is not ORU^R01", Location("MSH", 1, 9, 0), field, field)
    for size, max_bytes in ((len(data), 1_000_000), (0, 1_000)):
        record = dead_letter(Message(data, _SOURCE), rejection, "ingest", "b12stream.dlq", max_bytes)
        assert len(record.value) == size
        assert sum(len(name) + len(value) for name, value in record.headers) < 2_000
        read = read_dead_letter(list(record.headers), record.value)
        assert read["control_id"] == shown(field)
        assert read["reason"].startswith("message type CCC")
        assert read["reason"].endswith(f"… ({len(rejection.reason):,} characters)")


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
