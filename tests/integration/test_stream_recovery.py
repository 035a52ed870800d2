"""Crash safety, failover and broker restart: nothing lost, nothing published twice."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.integration.conftest import Broker
from tests.integration.harness import (
    EngineProcess,
    copies,
    create_topic,
    events,
    hl7_messages,
    owned_partitions,
    produce,
    read_topic,
    reference_outputs,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration

SAMPLE_FILES = sorted(SAMPLES.glob("*.hl7"))


def _keyed_by_copy(files: list[Path]) -> tuple[list[bytes], list[bytes]]:
    """Each file's messages keyed by the file's name: an arbitrary key that keeps one patient's
    results in order (as one interface-engine channel would), but is not the patient key."""
    values: list[bytes] = []
    keys: list[bytes] = []
    for path in files:
        for message in hl7_messages([path]):
            values.append(message)
            keys.append(path.name.encode())
    return values, keys


def _canonical(found: list[dict]) -> Counter[str]:
    return Counter(json.dumps(event, sort_keys=True) for event in found)


def _assert_exactly_once(bootstrap: str, alerts_topic: str, expected: list[dict]) -> None:
    records = read_topic(
        bootstrap, alerts_topic, until=lambda rs: len(events(rs)) >= len(expected), timeout_s=90
    )
    got = events(records)
    ids = Counter(event["id"] for event in got if "id" in event)
    assert [i for i, n in ids.items() if n > 1] == []
    assert _canonical(got) == _canonical(expected)


def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("crash")
    create_topic(bootstrap, names["input"], 4)
    files = copies(SAMPLE_FILES, 5, tmp_path)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", batch={"max_records": 10})
    expected, _, _ = reference_outputs(files, config)
    values, keys = _keyed_by_copy(files)
    produce(bootstrap, names["input"], values, key=lambda n: keys[n])

    chooser = random.Random(20260302)
    engine = EngineProcess(config, tmp_path / "state", tmp_path / "engine.log")
    try:
        for _ in range(3):
            seen = len(engine.log_lines()) if engine.log.exists() else 0
            engine.start()
            engine.wait_for_log("partitions assigned", after=seen)
            time.sleep(chooser.uniform(0.5, 3.0))
            engine.kill()
    finally:
        engine.kill()
    with engine:
        _assert_exactly_once(bootstrap, names["alerts"], expected)
        assert engine.terminate() == 0


def test_a_surviving_instance_takes_over_restores_patients_and_later_findings_still_fire(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("failover")
    create_topic(bootstrap, names["input"], 4)
    files = copies(SAMPLE_FILES, 3, tmp_path)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    expected, _, _ = reference_outputs(files, config)
    values, keys = _keyed_by_copy(files)
    # Each patient's first message first; the results that complete the picture later.
    first = [i for i in range(len(values)) if i == 0 or keys[i] != keys[i - 1]]
    rest = [i for i in range(len(values)) if i not in set(first)]

    first_engine = EngineProcess(config, tmp_path / "state-a", tmp_path / "a.log")
    with first_engine, EngineProcess(config, tmp_path / "state-b", tmp_path / "b.log") as survivor:
        first_engine.wait_for_log("partitions assigned")
        survivor.wait_for_log("partitions assigned")
        produce(bootstrap, names["input"], [values[i] for i in first], key=lambda n: keys[first[n]])
        # The instance to be killed must have committed patients of its own, or there is no failover.
        changelog = read_topic(
            bootstrap,
            names["changelog"],
            until=lambda rs: len(rs) >= len(first) and any(r.partition in _owned(first_engine) for r in rs),
        )
        held = _owned(first_engine)
        assert any(r.partition in held for r in changelog)
        time.sleep(0.5)
        first_engine.kill()
        produce(bootstrap, names["input"], [values[i] for i in rest], key=lambda n: keys[rest[n]])
        _assert_exactly_once(bootstrap, names["alerts"], expected)
        restored = [
            line
            for line in survivor.log_lines()
            if line.get("event") == "partition restored" and line["partition"] in held
        ]
        assert sum(line["records"] for line in restored) > 0
        assert survivor.terminate() == 0


def _owned(engine: EngineProcess) -> set[int]:
    """The partitions a (single-process) engine holds now, from its assignment log lines."""
    return owned_partitions(engine.log_lines()).get(None, set())


def test_the_engine_rides_out_a_broker_restart(kafka_broker: Broker, tmp_path: Path) -> None:
    if not kafka_broker.can_restart:
        pytest.skip("restarting the broker needs the local broker script, not a container")
    bootstrap = kafka_broker.bootstrap
    names = topic_names("restart")
    create_topic(bootstrap, names["input"], 2)
    files = copies(SAMPLE_FILES, 4, tmp_path)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}")
    expected, _, _ = reference_outputs(files, config)
    values, keys = _keyed_by_copy(files)
    half = len(values) // 2

    with EngineProcess(config, tmp_path / "state", tmp_path / "engine.log") as engine:
        engine.wait_for_log("partitions assigned")
        produce(bootstrap, names["input"], values[:half], key=lambda n: keys[n])
        restart = threading.Thread(target=lambda: (kafka_broker.stop(), kafka_broker.start()))
        restart.start()
        restart.join(timeout=120)
        produce(bootstrap, names["input"], values[half:], key=lambda n: keys[half + n])
        _assert_exactly_once(bootstrap, names["alerts"], expected)
        assert engine.process is not None and engine.process.poll() is None
        assert engine.terminate() == 0


def test_at_least_once_after_a_kill_repeats_at_most_and_readers_can_deduplicate_by_id(
    bootstrap: str, tmp_path: Path
) -> None:
    names = topic_names("alos")
    create_topic(bootstrap, names["input"], 2)
    files = copies(SAMPLE_FILES, 3, tmp_path)
    config = write_config(
        tmp_path,
        bootstrap,
        names,
        f"app-{names['input']}",
        processing_guarantee="at_least_once",
        batch={"max_records": 10},
    )
    expected, _, _ = reference_outputs(files, config)
    values, keys = _keyed_by_copy(files)
    produce(bootstrap, names["input"], values, key=lambda n: keys[n])

    engine = EngineProcess(config, tmp_path / "state", tmp_path / "engine.log")
    try:
        engine.start()
        engine.wait_for_log("partitions assigned")
        time.sleep(1.5)
    finally:
        engine.kill()
    with engine:
        records = read_topic(
            bootstrap,
            names["alerts"],
            until=lambda rs: len({e["id"] for e in events(rs) if "id" in e}) >= len(expected),
            timeout_s=90,
        )
        assert engine.terminate() == 0
    unique = {json.dumps(event, sort_keys=True) for event in events(records)}
    assert unique == {json.dumps(event, sort_keys=True) for event in expected}
