"""Real messages, mutated as feeds and interface engines mangle them, through the whole ingest path
(split, read, key, recognise, process): each message ends accepted, with the state and events it
gives, or rejected with a reason and the byte it is located at; no exception ever escapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b12stream.engine.engine import Engine
from b12stream.engine.events import encode_event
from b12stream.engine.ingest import ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import Rejection
from tests.conftest import CORPUS, SAMPLES

# Every sample, and every corpus message that reads as an ORU^R01 (those that do not are rejected
# before their body is read; mutating them would mostly test the MSH checks again).
_FRAMES = [
    frame.data
    for folder in (SAMPLES, CORPUS)
    for path in sorted(folder.glob("*.hl7"))
    for frame in split_messages(path.read_bytes())
    if b"ORU^R01" in frame.data[:300] or b"ORU~R01" in frame.data[:300]
]
# What ends up in real feeds: delimiters, line ends, MLLP and byte-order bytes, NUL padding, bytes of
# another character set, escapes, odd numbers, units, dates and statuses, and whole segment starts.
_WORDS = (
    rb'| ^ ~ \ & # "" \X0D\ \E\ \.br\ \H\ < >= - + .5 1e400 0 ^<^10 10^9/L x10^3/uL 20240230 1899'
    b" 202403010715-0500 F C D X P 777-3 53622-7 LN ORU^R01 8859/1 OBX|1|NM| OBR|1| PID|1|| NTE|1|| ZZZ|"
)
_BYTES = (b"\r", b"\n", b"\r\n", b"\x00", b"\x0b", b"\x1c", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xb5")
_TOKENS = st.sampled_from([*_WORDS.split(), *_BYTES, b"9" * 40, b"UNICODE UTF-8", b"MSH|^~\\&|"])


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A real message with one to four of its byte spans (up to 12 bytes, maybe none) replaced by a
    token from a feed or by arbitrary bytes."""
    data = bytearray(draw(st.sampled_from(_FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        end = min(len(data), at + draw(st.integers(0, 12)))
        data[at:end] = draw(_TOKENS | st.binary(min_size=1, max_size=4))
    return bytes(data)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def test_real_messages_are_here() -> None:
    assert len(_FRAMES) > 60


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_a_mutated_message_is_accepted_or_rejected_with_a_location(engine: Engine, data: bytes) -> None:
    for frame in split_messages(data):
        accepted = ingest(frame.data, engine)
        if isinstance(accepted, Rejection):
            assert accepted.reason and "internal" not in accepted.reason
            offset = accepted.location.byte_offset
            assert offset is not None and 0 <= offset <= len(frame.data), accepted
            continue
        outcome = process(PatientState.empty(accepted.patient), accepted, engine)
        for event in outcome.events:
            encode_event(event)
        outcome.state.to_bytes()
