"""The spec's scenarios through Kafka on unkeyed input give exactly what `replay` gives."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from tests.integration.harness import (
    ROOT,
    SAMPLES,
    EngineProcess,
    assert_same_events_and_orders,
    create_topic,
    events,
    events_by_patient,
    hl7_messages,
    produce,
    produce_files,
    read_topic,
    reference_outputs,
    replay_events,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration


def test_samples_through_kafka_equal_replay(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("scenarios")
    create_topic(bootstrap, names["input"], 1)  # an ordered, unkeyed feed as interface engines send it
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    expected_events = replay_events(config)
    reference_events, expected_orders, expected_pages = reference_outputs(SAMPLES, config)
    assert expected_events == reference_events  # replay and the engine API agree: the oracle is sound
    assert expected_events, "the samples should raise alerts"

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produced = produce_files(config)
        assert produced.returncode == 0, produced.stderr[-3000:]
        assert "sent" in produced.stderr
        alerts = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected_events)
        )
        orders = read_topic(bootstrap, names["orders"], until=lambda rs: len(rs) >= len(expected_orders))
        pages = read_topic(bootstrap, names["pager"], until=lambda rs: len(rs) >= len(expected_pages))
        assert engine.terminate() == 0

    assert_same_events_and_orders(alerts, orders, expected_events, expected_orders)
    assert Counter(r.value for r in pages) == Counter(
        json.dumps(p, ensure_ascii=False, separators=(",", ":")).encode() for p in expected_pages
    )
    for record in alerts:
        if json.loads(record.value)["type"] != "rejected":
            patient = json.loads(record.value)["patient"]
            assert record.key.decode() == f"{patient['assigning_authority']}|{patient['id']}"


def test_input_keyed_by_patient_skips_the_repartition_stage_and_gives_the_same_alerts(
    bootstrap: str, tmp_path: Path
) -> None:
    from b12stream.engine.engine import Engine
    from b12stream.engine.ingest import Accepted, ingest

    names = topic_names("keyed")
    create_topic(bootstrap, names["input"], 4)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", input_keyed_by_patient=True)
    expected, _, _ = reference_outputs(SAMPLES, config)
    engine_api = Engine.load(config)
    messages = [m for m in hl7_messages(SAMPLES) if isinstance(ingest(m, engine_api), Accepted)]
    keys = [ingest(m, engine_api).patient.as_text().encode() for m in messages]  # type: ignore[union-attr]

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produce(bootstrap, names["input"], messages, key=lambda n: keys[n])
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected))
        assert engine.terminate() == 0

    assert events_by_patient(events(alerts)) == events_by_patient(expected)
    admin_topics = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        assert names["repartition"] not in admin_topics.list_topics()
    finally:
        admin_topics.close()


def _batch(messages: list[bytes]) -> bytes:
    """The messages as one FHS/BHS batch, each message MLLP-framed inside: the awkward case."""
    body = b"".join(b"\x0b" + m.rstrip(b"\r") + b"\r\x1c\r" for m in messages)
    return b"FHS|^~\\&|LAB\rBHS|^~\\&|LAB\r" + body + b"BTS|%d\rFTS|1\r" % len(messages)


def test_batched_and_framed_records_give_the_same_alerts(bootstrap: str, tmp_path: Path) -> None:
    names = topic_names("batched")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    files = sorted((ROOT / "samples").glob("*.hl7"))
    expected, _, _ = reference_outputs(files, config)
    records = [_batch(hl7_messages([path])) for path in files]

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        produce(bootstrap, names["input"], records)
        alerts = read_topic(bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected))
        assert engine.terminate() == 0

    assert events_by_patient(events(alerts)) == events_by_patient(expected)
    rejected = [json.loads(r.value) for r in alerts if json.loads(r.value)["type"] == "rejected"]
    assert rejected == []
