"""Helpers for the integration tier: topic names per test, engine processes, committed reads."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from b12stream.engine.engine import Engine
from b12stream.stream import follow
from b12stream.stream.app import StreamApp
from b12stream.stream.settings import load_kafka_settings
from b12stream.stream.stages import changelog_stamp

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"

Record = Any  # kafka-python ConsumerRecord


def topic_names(prefix: str) -> dict[str, str]:
    """A fresh set of topic names for one test, so tests share one broker without meeting."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return {
        "input": f"{tag}.hl7.oru",
        "alerts": f"{tag}.alerts",
        "orders": f"{tag}.orders",
        "pager": f"{tag}.pager",
        "dlq": f"{tag}.dlq",
        "changelog": f"{tag}.changelog",
        "repartition": f"{tag}.repartition",
    }


def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    spec: dict[str, Any] = {"num_partitions": partitions, "replication_factor": 1}
    if configs:
        spec["configs"] = configs
    try:
        admin.create_topics({name: spec}, wait_for_metadata=True)
    finally:
        admin.close()


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes],
    key: Callable[[int], bytes | None] | None = None,
    **options: Any,
) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **options)
    count = 0
    for index, value in enumerate(values):
        producer.send(topic, value=value, key=key(index) if key else None)
        count += 1
    producer.flush()
    producer.close()
    return count


def changelog_states(
    bootstrap: str,
    changelog: str,
    states: Iterable[tuple[str, bytes, int | None]],
    source_id: str | None = None,
) -> None:
    """Patient states (key, state, stamp) written to partition 0 of ``changelog`` in this order, each
    stamped with the stateful offset its batch read up to (None: without the stamp headers) and the
    stateful topic's id ``source_id`` (None: without it)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, state, stamp in states:
        headers = list(changelog_stamp(stamp, source_id))
        producer.send(changelog, state, key=key.encode(), partition=0, headers=headers)
    producer.flush()
    producer.close()


def restored_app(config: Path, state: Path) -> StreamApp:
    """An engine instance assigned partition 0 that restored it (or failed to: raised). It never
    polls, so it takes no part in the group; its ``_connect`` creates missing topics, as a start does."""
    app = StreamApp(load_kafka_settings(config), Engine.load(config), state, threading.Event())
    try:
        app._connect()
        app.assign([0])
        app._restore_assigned()
    except BaseException:
        app._close()
        raise
    return app


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    timeout_s: float = 60.0,
    settle_s: float = 1.5,
    isolation_level: str = "read_committed",
) -> list[Record]:
    """Every record of ``topic`` from the start, read until ``until(records)`` holds, then for
    ``settle_s`` more seconds so that duplicates arriving late are seen too."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, isolation_level=isolation_level, enable_auto_commit=False
    )
    partitions = _partitions(consumer, topic, timeout_s)
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if settled_at is None and until(records):
                settled_at = time.monotonic() + settle_s
            if settled_at is not None and time.monotonic() >= settled_at:
                break
    finally:
        consumer.close()
    return records


def _partitions(consumer: KafkaConsumer, topic: str, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return sorted(partitions)
        time.sleep(0.2)
    raise AssertionError(f"topic {topic} never appeared")


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = _partitions(consumer, topic, 30)
        return {p: consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        consumer.close(autocommit=False)


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in _partitions(consumer, topic, 30)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def events(
    records: Sequence[Record], kinds: Iterable[str] = ("alert", "alert_update", "retraction")
) -> list[dict]:
    wanted = set(kinds)
    decoded = (json.loads(record.value) for record in records)
    return [event for event in decoded if event["type"] in wanted]


# Consumer settings of every test config: short sessions, so that failover tests take seconds.
TEST_CONSUMER = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "max_poll_interval_ms": 60000}


def write_config(
    folder: Path,
    bootstrap: str,
    topics: dict[str, str],
    group: str,
    *,
    http_port: int | None = 0,
    **kafka: Any,
) -> Path:
    """A copy of the shipped config/ folder whose kafka: section points at this test's topics, and
    whose engine processes serve their HTTP endpoint on ``http_port`` (by default any free port, so
    that the engines of one test, or of tests run side by side, never meet on the shipped one)."""
    target = folder / "config"
    shutil.copytree(CONFIG_DIR, target, dirs_exist_ok=True)
    path = target / "b12stream.yaml"
    document = yaml.safe_load(path.read_text())
    section = dict(document.get("kafka") or {})
    section.update(
        bootstrap_servers=bootstrap,
        application_id=group,
        topics=topics,
        batch={"max_records": 200, "poll_timeout_ms": 50},
        consumer=TEST_CONSUMER,
        producer={"linger_ms": 2, "transaction_timeout_ms": 8000},
        retry={"attempts": 30, "initial_backoff_s": 0.2, "max_backoff_s": 2.0},
    )
    section.update(kafka)
    document["kafka"] = section
    document["observability"] = {"http_host": "127.0.0.1", "http_port": http_port}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class EngineProcess:
    """`b12stream run` in a subprocess; its log (JSON lines on stderr) goes to a file."""

    def __init__(self, config: Path, state: Path, log: Path) -> None:
        self.config, self.state, self.log = config, state, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EngineProcess:
        command = [
            sys.executable,
            "-m",
            "b12stream.cli",
            "run",
            "--config",
            str(self.config),
            "--state",
            str(self.state),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=ROOT)
        return self

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def wait_for_log(self, event: str, timeout_s: float = 60.0, after: int = 0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(line.get("event") == event for line in self.log_lines()[after:]):
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"engine exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(f"engine never logged {event!r}:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 10.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def owned_partitions(lines: Iterable[dict]) -> dict[int | None, set[int]]:
    """The stateful partitions each engine process holds after these log lines, by the ``process``
    field of its lines (None for a single-process engine); a process that was only revoked maps to
    an empty set."""
    owned: dict[int | None, set[int]] = {}
    for line in lines:
        event = line.get("event")
        if event == "partitions assigned":
            owned.setdefault(line.get("process"), set()).update(line["partitions"])
        elif event == "partitions revoked":
            owned.setdefault(line.get("process"), set()).difference_update(line["partitions"])
    return owned


def reference_outputs(
    files: Sequence[Path], config: Path
) -> tuple[list[dict], list[tuple[str, bytes]], list[dict]]:
    """What the engine API gives for ``files`` without Kafka (as `replay` runs it): events (alert,
    alert_update, retraction), order messages (key, ER7) and pages, in input order."""
    from b12stream.engine.ingest import ingest
    from b12stream.engine.process import process
    from b12stream.engine.state import PatientState
    from b12stream.hl7.framing import split_messages
    from b12stream.hl7.model import Rejection

    engine = Engine.load(config)
    states: dict[str, PatientState] = {}
    found: tuple[list[dict], list[tuple[str, bytes]], list[dict]] = ([], [], [])
    for path in files:
        for frame in split_messages(path.read_bytes()):
            accepted = ingest(frame.data, engine)
            if isinstance(accepted, Rejection):
                continue
            key = accepted.patient.as_text()
            outcome = process(states.get(key) or PatientState.empty(accepted.patient), accepted, engine)
            states[key] = outcome.state
            found[0].extend(outcome.events)
            found[1].extend((order.key, order.er7) for order in outcome.orders)
            found[2].extend(outcome.pages)
    return found


SAMPLES = sorted(p for p in (ROOT / "samples").iterdir() if p.is_file() and not p.name.startswith("."))


def replay_events(config: Path, files: Sequence[Path] = SAMPLES) -> list[dict]:
    """The events `b12stream replay` prints for ``files`` (rejections left out), in output order."""
    result = subprocess.run(
        [sys.executable, "-m", "b12stream.cli", "replay", "--config", str(config), *map(str, files)],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    decoded = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [e for e in decoded if e["type"] != "rejected"]


def produce_files(config: Path, files: Sequence[Path] = SAMPLES) -> subprocess.CompletedProcess[str]:
    """`b12stream produce --config CONFIG FILE...`, as an interface analyst runs it; the caller checks
    the exit code (a refused login is a test case too)."""
    return subprocess.run(
        [sys.executable, "-m", "b12stream.cli", "produce", "--config", str(config), *map(str, files)],
        capture_output=True,
        cwd=ROOT,
        text=True,
        timeout=120,
    )


def events_by_patient(found: list[dict]) -> dict[str, list[str]]:
    """Events grouped by patient key, each as canonical JSON, in their order: the order that must
    hold across a stream (one patient's events are ordered; different patients' are not)."""
    grouped: dict[str, list[str]] = {}
    for event in found:
        patient = event["patient"]
        key = f"{patient['assigning_authority']}|{patient['id']}"
        grouped.setdefault(key, []).append(json.dumps(event, sort_keys=True))
    return grouped


def assert_same_events_and_orders(
    alerts: Sequence[Any], orders: Sequence[Any], expected_events: list[dict], expected_orders: list
) -> list[dict]:
    """The events read from the alerts topic are the expected ones (each patient's in their order, and
    as a whole, duplicates counted), and so are the (key, ER7) order messages. Returns the events."""
    got = events(alerts)
    assert events_by_patient(got) == events_by_patient(expected_events)
    assert Counter(json.dumps(e, sort_keys=True) for e in got) == Counter(
        json.dumps(e, sort_keys=True) for e in expected_events
    )
    assert Counter((r.key.decode(), r.value) for r in orders) == Counter(expected_orders)
    return got


def hl7_messages(files: Sequence[Path]) -> list[bytes]:
    from b12stream.hl7.framing import split_messages

    return [frame.data for path in files for frame in split_messages(path.read_bytes())]


def for_patient_copy(message: bytes, copy: int) -> bytes:
    """``message`` as if it were about another patient: PID-3 ids and MSH-10 get a ``C<copy>`` suffix.

    Lets a test multiply the sample scenarios into many independent patients with the same findings.
    """
    suffix = f"C{copy}".encode()
    segments = message.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    rewritten = []
    for segment in segments:
        fields = segment.split(b"|")
        if segment.startswith(b"MSH") and len(fields) > 9:
            fields[9] += suffix
        elif segment.startswith(b"PID") and len(fields) > 3:
            fields[3] = b"~".join(_suffix_id(rep, suffix) for rep in fields[3].split(b"~"))
        rewritten.append(b"|".join(fields))
    return b"\r".join(rewritten)


def _suffix_id(repetition: bytes, suffix: bytes) -> bytes:
    components = repetition.split(b"^")
    if components[0]:
        components[0] += suffix
    return b"^".join(components)


def copies(files: Sequence[Path], count: int, folder: Path) -> list[Path]:
    """``count`` copies of ``files``, each copy about other patients: one file per copy and input file,
    in copy order, so each file holds one patient's results in their original order."""
    written = []
    for copy in range(count):
        for source in files:
            path = folder / f"copy-{copy:04d}-{source.name}"
            messages = hl7_messages([source])
            path.write_bytes(b"\r\n".join(for_patient_copy(m, copy) + b"\r" for m in messages))
            written.append(path)
    return written


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Record]:
    """Every committed record of ``topic`` up to its current end (last stable offset), exactly: the
    reader `b12stream dead-letters` uses."""
    return list(follow.read_to_end(load_kafka_settings(None, bootstrap), topic, timeout_s))
