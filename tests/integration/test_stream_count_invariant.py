"""Every input record ends as processed or dead-lettered, never silently skipped (10,000 mixed)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from b12stream.stream.records import SourceRef
from b12stream.stream.repartition import unpack
from b12stream.stream.stages import split_record
from tests.conftest import SAMPLES
from tests.integration.harness import (
    EngineProcess,
    committed_offsets,
    create_topic,
    end_offsets,
    for_patient_copy,
    hl7_messages,
    produce,
    read_to_end,
    read_topic,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

TOTAL = 10_000


def _malformed(rng: random.Random, good: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return b""
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 2:
        return good[: rng.randrange(3, 40)]  # cut inside the MSH segment
    if kind == 3:
        return good.replace(b"ORU^R01", b"ADT^A01", 1)  # not a result message
    if kind == 4:
        return b"\r".join(s for s in good.split(b"\r") if not s.startswith(b"PID"))  # no patient
    return b"PID|1||123^^^X^MR\rOBX|1|NM|777-3^PLT^LN||12|10*9/L"  # no MSH at all


def _workload() -> list[bytes]:
    """Mostly normal results, some alerting scenarios, MLLP-framed ones, and 5 % malformed."""
    rng = random.Random(1234)
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    scenarios = hl7_messages(sorted(SAMPLES.glob("s0[2-5]*.hl7")))
    values: list[bytes] = []
    for n in range(TOTAL):
        roll = rng.random()
        if roll < 0.05:
            values.append(_malformed(rng, normal))
        elif roll < 0.06:
            values.append(for_patient_copy(rng.choice(scenarios), n))
        elif roll < 0.20:
            values.append(b"\x0b" + for_patient_copy(normal, n) + b"\x1c\r")
        else:
            values.append(for_patient_copy(normal, n))
    return values


def _wait_until_consumed(bootstrap: str, group: str, names: dict[str, str], timeout_s: float) -> int:
    """Wait until the group has committed past every input record and every committed repartition
    record; returns how many messages the repartition records hold. (A transactional topic ends with
    a commit marker, so its end offset is one past what a consumer can ever commit: compare with
    records.)"""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        input_done = committed_offsets(bootstrap, group, names["input"]) == end_offsets(
            bootstrap, names["input"]
        )
        if input_done:
            rekeyed = read_to_end(bootstrap, names["repartition"])
            last: dict[int, int] = {}
            for record in rekeyed:
                last[record.partition] = max(last.get(record.partition, -1), record.offset)
            committed = committed_offsets(bootstrap, group, names["repartition"])
            if all((committed.get(p) or 0) > offset for p, offset in last.items()):
                return sum(len(unpack(r.value, SourceRef(r.topic, r.partition, r.offset))) for r in rekeyed)
        time.sleep(1.0)
    raise AssertionError(f"input not consumed within {timeout_s} s")


@pytest.mark.parametrize("in_place", [True, False], ids=["in place", "through the repartition topic"])
def test_processed_plus_dead_lettered_equals_produced(bootstrap: str, tmp_path: Path, in_place: bool) -> None:
    names = topic_names("count")
    create_topic(bootstrap, names["input"], 4)
    group = f"app-{names['input']}"
    config = write_config(
        tmp_path,
        bootstrap,
        names,
        group,
        batch={"max_records": 500, "poll_timeout_ms": 50},
        process_in_place=in_place,
    )
    values = _workload()
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        assert produce(bootstrap, names["input"], values) == TOTAL
        # The repartition topic is written transactionally, so it has control records: its end offsets
        # are reached once its last transaction is committed and consumed.
        rekeyed = _wait_until_consumed(bootstrap, group, names, timeout_s=180)
        assert engine.terminate() == 0
    stopped = [line for line in engine.log_lines() if line.get("event") == "stopped"][-1]
    # A record holds one message or more (a batch, MLLP frames; random bytes holding MLLP block bytes
    # are cut at them), and every message ends processed or dead-lettered.
    messages = sum(len(split_record(value, SourceRef(names["input"], 0, 0))) for value in values)
    assert messages >= TOTAL
    assert stopped["processed"] + stopped["dead_lettered"] == messages
    assert stopped["dead_lettered"] >= 0.04 * TOTAL

    dead = read_topic(bootstrap, names["dlq"], until=lambda rs: len(rs) >= stopped["dead_lettered"])
    assert len(dead) == stopped["dead_lettered"]
    at_ingest = sum(1 for record in dead if dict(record.headers)["b12stream.error.stage"] == b"ingest")
    kept = stopped.get("in_place", 0)
    # The ingest stage re-keyed, kept for the process stage in place, or dead-lettered every record,
    assert rekeyed + kept + at_ingest == messages
    assert stopped["processed"] + (len(dead) - at_ingest) == rekeyed + kept  # and so did the process stage
    # One engine runs every partition: once it has read one to its end, it takes it in place.
    assert (kept > TOTAL / 2) if in_place else (kept == 0)
    for record in dead:
        headers = dict(record.headers)
        assert headers["b12stream.error.reason"]
        assert headers["b12stream.source.topic"] == names["input"].encode()
        source = (int(headers["b12stream.source.partition"]), int(headers["b12stream.source.offset"]))
        assert 0 <= source[1] < TOTAL and 0 <= source[0] < 4
