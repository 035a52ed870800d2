"""Repartition records: messages and their sources survive the trip; an unreadable record is named."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_murmur2

from b12stream.hl7.model import Rejection
from b12stream.stream import repartition
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.repartition import envelopes, murmur2, partition_of, unpack

_RECORD = SourceRef("b12stream.repartition", 2, 99)
# Kafka topic names: letters, digits, '.', '_' and '-'.
_TOPICS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", min_size=1)
_NUMBERS = st.integers(min_value=0, max_value=2**63 - 1)
_SOURCES = st.builds(SourceRef, _TOPICS, _NUMBERS, _NUMBERS, _NUMBERS, _NUMBERS)
_MESSAGES = st.builds(Message, st.binary(max_size=300), _SOURCES)


@given(st.lists(st.tuples(st.integers(0, 3), _MESSAGES), max_size=40))
def test_each_partition_gets_its_messages_in_order(routed):
    records = envelopes(routed, "b12stream.repartition")
    for partition in range(4):
        unpacked = [m for r in records if r.partition == partition for m in unpack(r.value, _RECORD)]
        assert unpacked == [m for p, m in routed if p == partition]
    assert all(r.topic == "b12stream.repartition" and r.key is None for r in records)


def test_a_batch_is_split_into_records_under_the_size_limit(monkeypatch):
    monkeypatch.setattr(repartition, "ENVELOPE_BYTES", 1000)
    messages = [Message(bytes([n]) * 300, SourceRef("hl7.oru", 0, n)) for n in range(10)]
    records = envelopes([(1, m) for m in messages], "r")
    assert len(records) == 4 and all(len(r.value) <= 1000 for r in records)  # 3 + 3 + 3 + 1
    assert [m for r in records for m in unpack(r.value, _RECORD)] == messages


def test_a_message_larger_than_the_limit_travels_alone(monkeypatch):
    monkeypatch.setattr(repartition, "ENVELOPE_BYTES", 100)
    big = Message(b"x" * 500, SourceRef("hl7.oru", 0, 1))
    small = Message(b"y", SourceRef("hl7.oru", 0, 2))
    records = envelopes([(0, small), (0, big), (0, small)], "r")
    assert [len(unpack(r.value, _RECORD)) for r in records] == [1, 1, 1]


def test_partition_of_matches_the_kafka_producer_for_keys():
    # Values of Kafka's Java Utils.murmur2, the default partitioner's hash.
    assert partition_of(b"21", 4) == (-973932308 & 0x7FFFFFFF) % 4
    assert partition_of(b"foobar", 4) == (-790332482 & 0x7FFFFFFF) % 4
    assert all(0 <= partition_of(str(n).encode(), 7) < 7 for n in range(200))


def _one_record() -> bytes:
    return envelopes([(0, Message(b"MSH|^~\\&|X", SourceRef("hl7.oru", 0, 5, 1, 12)))], "r")[0].value


def test_an_unreadable_record_is_one_unusable_message_with_the_reason_and_byte_offset():
    good = _one_record()
    cases = {
        b"MSH|^~\\&|an old per-message record": ("does not start with the b12stream batch marker", 0),
        good[:8]: ("ends inside a message head", 5),
        good[:-1]: ("runs past its end", 5),
        good.replace(b"hl7.oru/0/5/1/12", b"hl7.oru/0/x/1/12"): ("source is unreadable", 11),
    }
    for value, (why, at) in cases.items():
        [message] = unpack(value, _RECORD)
        assert message.data == value and message.source == _RECORD
        assert isinstance(message.read, Rejection) and why in message.read.reason
        assert message.read.location.byte_offset == at


def test_an_empty_record_is_unusable_not_skipped():
    [message] = unpack(None, _RECORD)
    assert message.data == b"" and isinstance(message.read, Rejection)


@given(st.binary(max_size=80))
def test_the_partition_hash_is_the_kafka_producers(key):
    assert murmur2(key) == kafka_murmur2(key)
