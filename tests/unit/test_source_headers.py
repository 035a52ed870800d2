"""The source of a message survives the repartition topic's single header, and a garbled one falls back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from b12stream.stream.records import SourceRef, repartition_headers, source_from_headers

_FALLBACK = SourceRef("b12stream.repartition", 2, 99)
# Kafka topic names: letters, digits, '.', '_' and '-'.
_TOPICS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", min_size=1)
_NUMBERS = st.integers(min_value=0, max_value=2**63 - 1)


@given(_TOPICS, _NUMBERS, _NUMBERS, _NUMBERS, _NUMBERS)
def test_source_round_trips_through_the_header(topic, partition, offset, frame, frame_offset):
    source = SourceRef(topic, partition, offset, frame, frame_offset)
    assert source_from_headers(list(repartition_headers(source)), _FALLBACK) == source


def test_other_headers_are_ignored():
    source = SourceRef("hl7.oru", 0, 12, 1, 340)
    headers = [("traceparent", b"00-abc"), *repartition_headers(source)]
    assert source_from_headers(headers, _FALLBACK) == source


def test_missing_or_garbled_header_gives_the_fallback():
    assert source_from_headers(None, _FALLBACK) == _FALLBACK
    assert source_from_headers([], _FALLBACK) == _FALLBACK
    for garbled in (b"hl7.oru/0/12/1", b"/0/12/1/3", b"hl7.oru/0/x/1/3", b"hl7.oru/0/-1/1/3"):
        assert source_from_headers([("b12stream.source", garbled)], _FALLBACK) == _FALLBACK
