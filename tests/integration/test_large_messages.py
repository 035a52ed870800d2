"""A message larger than the engine's outputs may carry (an ORU with an embedded report, say) never
stops the stream: within ``kafka.max_message_bytes`` it is processed like any other; over it, it is
dead-lettered by reference, and the messages after it are processed. `b12stream produce` names such
a message and still sends the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.integration.harness import (
    EngineProcess,
    create_topic,
    events,
    for_patient_copy,
    hl7_messages,
    produce,
    produce_files,
    read_to_end,
    read_topic,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

_REPORT_BYTES = 1_500_000  # over the broker's default record limit (1 MB)


def _with_report(message: bytes) -> bytes:
    """``message`` with an NTE segment holding a report as large as a base64 PDF."""
    return message.rstrip(b"\r") + b"\rNTE|1|L|" + b"QUJD" * (_REPORT_BYTES // 4)


@pytest.mark.parametrize("limit", [None, 4_000_000], ids=["default limit", "raised limit"])
def test_a_message_over_the_record_limit_does_not_stop_the_stream(
    bootstrap: str, tmp_path: Path, limit: int | None
) -> None:
    names = topic_names("large")
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    alerting = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])[0]
    large = _with_report(for_patient_copy(normal, 1))
    extra = {"max_message_bytes": limit} if limit else {}
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", **extra)
    create_topic(bootstrap, names["input"], 1, configs={"max.message.bytes": "4194304"})
    produce(bootstrap, names["input"], [large, for_patient_copy(alerting, 2)], max_request_size=4_194_304)
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= 1, timeout_s=90)
        assert events(alerts), "the message after the large one raised no alert"
        assert engine.terminate() == 0
    stopped = [line for line in engine.log_lines() if line.get("event") == "stopped"][-1]
    assert stopped["processed"] + stopped["dead_lettered"] == 2
    if limit:
        assert stopped["dead_lettered"] == 0
        return
    [dead] = read_topic(bootstrap, names["dlq"], until=lambda rs: len(rs) >= 1)
    headers = dict(dead.headers)
    assert b"kafka.max_message_bytes" in headers["b12stream.error.reason"]
    assert headers["b12stream.error.value-omitted"] == str(len(large)).encode()
    assert dead.value == b""
    assert (headers["b12stream.source.topic"], headers["b12stream.source.offset"]) == (
        names["input"].encode(),
        b"0",
    )
    rejected = [json.loads(r.value) for r in alerts if json.loads(r.value)["type"] == "rejected"]
    assert len(rejected) == 1


@pytest.mark.parametrize(
    ("topic_limit", "size"),
    [(None, _REPORT_BYTES), (100_000, 300_000)],
    ids=["over the producer's limit", "over the topic's limit"],
)
def test_produce_names_a_message_too_large_and_sends_the_others(
    bootstrap: str, tmp_path: Path, topic_limit: int | None, size: int
) -> None:
    names = topic_names("produce-large")
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    alerting = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])[0]
    large = normal.rstrip(b"\r") + b"\rNTE|1|L|" + b"QUJD" * (size // 4)
    first, second = tmp_path / "first.hl7", tmp_path / "second.hl7"
    first.write_bytes(normal)
    second.write_bytes(b"\r".join([large, alerting]))
    configs = {"max.message.bytes": str(topic_limit)} if topic_limit else None
    create_topic(bootstrap, names["input"], 1, configs=configs)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")

    done = produce_files(config, [first, second])

    assert done.returncode == 1, done.stderr
    assert f"{second}: message 1 (byte 0): not sent: {len(large):,} bytes" in done.stderr
    assert "sent 2 messages from 2 files" in done.stderr and "1 refused" in done.stderr
    assert [r.value for r in read_to_end(bootstrap, names["input"])] == [normal, alerting]


def _with_platelet_counts(message: bytes, count: int) -> bytes:
    """``message`` with ``count`` more platelet counts under its order (OBX-4 sub-ids 1…count), as a
    long stay's results would be: each becomes a record of the patient's stored history."""
    counts = [
        b"OBX|%d|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN|%d|245|10*3/uL|150-400|N|||F|||"
        b"20260302083000-0500" % (n, n)
        for n in range(1, count + 1)
    ]
    return b"\r".join([message.rstrip(b"\r"), *counts])


def test_a_patient_history_larger_than_the_brokers_default_record_limit_is_stored_and_restored(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("large-state")
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    alerting = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])[0]
    long_stay = _with_platelet_counts(for_patient_copy(normal, 1), 4000)
    assert len(long_stay) < 1_000_000  # the message itself is an ordinary one
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    produce(bootstrap, names["input"], [long_stay, for_patient_copy(alerting, 2)])
    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= 1, timeout_s=90)
        assert events(alerts), "the message after the long stay raised no alert"
        assert engine.terminate() == 0
    stopped = [line for line in engine.log_lines() if line.get("event") == "stopped"][-1]
    assert (stopped["processed"], stopped["dead_lettered"]) == (2, 0)
    first_states = read_topic(bootstrap, names["changelog"], until=lambda rs: len(rs) >= 2)
    stored = max(first_states, key=lambda record: len(record.value))  # the long stay's
    assert len(stored.value) > 1_048_588  # the broker's default max.message.bytes

    # Another instance, with an empty state folder, restores the long stay from the changelog.
    later = for_patient_copy(normal.replace(b"26061HM000101", b"26061HM000102"), 1)
    produce(bootstrap, names["input"], [later, for_patient_copy(alerting, 3)])
    with EngineProcess(config, tmp_path / "other-state", tmp_path / "other.log") as engine:
        read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= 2, timeout_s=90)
        assert engine.terminate() == 0
    states = read_topic(bootstrap, names["changelog"], until=lambda rs: len(rs) >= 4)
    long_stay_states = [record.value for record in states if record.key == stored.key]
    assert len(long_stay_states) == 2
    assert len(long_stay_states[1]) > len(stored.value)  # the day's results added to what was restored
