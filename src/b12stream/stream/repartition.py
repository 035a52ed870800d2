"""The repartition record: the messages of one ingest batch bound for one partition, in one record.

The ingest stage sends each message to the partition its patient key hashes to, with the hash the
Kafka producer uses for keys (murmur2), so one patient's results always meet in one partition, in
input order. It packs the messages a batch sends to one partition into as few records as fit
``ENVELOPE_BYTES``: a record per message cost about 100 µs more engine CPU per message (a
kafka-python send, a fetched record to decode; docs/benchmarks.md), more than parsing it does.

Layout: ``B12R`` and a format byte, then per message a 6-byte head (source length, 2 bytes; message
length, 4 bytes; big-endian), the source as ``topic/partition/offset/frame/frame-offset`` text, and the
message's bytes exactly as they were in the input.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from b12stream.hl7.model import Location, Rejection
from b12stream.stream.records import Message, OutRecord, SourceRef

__all__ = ["ENVELOPE_BYTES", "envelopes", "murmur2", "partition_of", "unpack"]

_MAGIC = b"B12R\x01"
_HEAD = struct.Struct(">HI")
# Well under the broker's default record limit (1 MB), so that a batch never makes a record the
# broker refuses; one message larger than this still travels, alone.
ENVELOPE_BYTES = 256 * 1024


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the Kafka producer's default partitioner gives a record keyed ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 with the Kafka producer's seed, as an unsigned 32-bit number. Reads the key a
    32-bit word at a time: kafka-python's byte-at-a-time version took 4 % of the engine's cycle."""
    whole = len(data) // 4 * 4
    h = 0x9747B28C ^ len(data)
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def envelopes(routed: Iterable[tuple[int, Message]], topic: str) -> list[OutRecord]:
    """Records for ``topic`` holding each (partition, message) in that partition, in the given order."""
    packs: dict[int, list[bytearray]] = {}
    for partition, message in routed:
        item = _item(message)
        chunks = packs.setdefault(partition, [bytearray(_MAGIC)])
        if len(chunks[-1]) > len(_MAGIC) and len(chunks[-1]) + len(item) > ENVELOPE_BYTES:
            chunks.append(bytearray(_MAGIC))
        chunks[-1] += item
    return [
        OutRecord(topic, None, bytes(chunk), partition=partition)
        for partition, chunks in sorted(packs.items())
        for chunk in chunks
    ]


def unpack(value: bytes | None, record: SourceRef) -> list[Message]:
    """The messages in one repartition record, with the sources they came from. A record that is not
    a readable envelope gives one message holding its bytes, marked unusable with the reason and the
    byte offset where reading failed, so that it is dead-lettered, never skipped."""
    data = value or b""
    if not data.startswith(_MAGIC):
        return [_unusable(data, record, "it does not start with the b12stream batch marker", 0)]
    messages: list[Message] = []
    at = len(_MAGIC)
    while at < len(data):
        if at + _HEAD.size > len(data):
            return [_unusable(data, record, "it ends inside a message head", at)]
        source_length, message_length = _HEAD.unpack_from(data, at)
        start = at + _HEAD.size
        end = start + source_length + message_length
        if end > len(data):
            return [_unusable(data, record, "a message runs past its end", at)]
        source = _source(data[start : start + source_length])
        if source is None:
            return [_unusable(data, record, "a message's source is unreadable", start)]
        messages.append(Message(data[start + source_length : end], source))
        at = end
    return messages


def _item(message: Message) -> bytes:
    source = message.source
    text = f"{source.topic}/{source.partition}/{source.offset}/{source.frame}/{source.frame_offset}"
    encoded = text.encode()
    return _HEAD.pack(len(encoded), len(message.data)) + encoded + message.data


def _source(text: bytes) -> SourceRef | None:
    """Topic names never hold a slash, so the last four parts are the numbers."""
    parts = text.decode("utf-8", errors="replace").rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or not all(n.isdigit() for n in parts[1:]):
        return None
    return SourceRef(parts[0], int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]))


def _unusable(data: bytes, record: SourceRef, why: str, at: int) -> Message:
    rejection = Rejection(
        reason=f"repartition record unreadable: {why}", location=Location(byte_offset=at)
    )
    return Message(data, record, rejection)
