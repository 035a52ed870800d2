"""Stream benchmark through a real broker: engine throughput (exactly-once, at-least-once), produce-to-
alert latency at a fixed offered load, and the kafka-python consume->produce passthrough ceiling.

    .venv/bin/python bench/bench_stream.py [--bootstrap-servers HOST:PORT] [--messages 20000]
        [--rate 500 [200 ...]] [--latency-seconds 20] [--alerting 0.01] [--processes 1] [--visits 1]

Without --bootstrap-servers it starts deploy/local-kafka/kafka-local on a free port in a temporary
folder and stops it at the end. The workload is made from samples/: normal blood counts (one new
patient each) with a fraction ``--alerting`` of thrombocytopenia results that raise an alert and a
reflex order. ``--visits N`` gives the throughput runs N daily blood counts per patient instead, so
that the engine reads and writes stored histories that grow as inpatients' do (the latency runs keep
one message per patient). Figures go to stdout as a small table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

ROOT = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = ROOT / "deploy" / "local-kafka" / "kafka-local"
PARTITIONS = 4
TARGET_RATE = 5_000  # messages/s, exactly-once, on the 2-core machine
_B12STREAM = [sys.executable, "-m", "b12stream.cli"]


# -- workload ---------------------------------------------------------------------------------------
def _message(path: Path) -> bytes:
    text = path.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    return b"\r".join(s for s in text.split(b"\r") if s and not s.startswith(b"#"))


def _with_suffix(message: bytes, suffix: bytes, places: tuple[tuple[bytes, int], ...]) -> bytes:
    """``suffix`` appended to the first component of each (segment id, field index) in ``places``."""
    segments = []
    for segment in message.split(b"\r"):
        fields = segment.split(b"|")
        for name, index in places:
            if fields[0] == name:
                components = fields[index].split(b"^")
                components[0] += suffix
                fields[index] = b"^".join(components)
        segments.append(b"|".join(fields))
    return b"\r".join(segments)


def _for_patient(message: bytes, n: int) -> bytes:
    """The message about patient number ``n``: PID-3 id and MSH-10 control id get a suffix."""
    return _with_suffix(message, b"N%d" % n, ((b"MSH", 9), (b"PID", 3)))


_SAMPLE_DAY = date(2026, 3, 2)  # the collection date in both sample messages the workload uses


def _on_day(message: bytes, day: int) -> bytes:
    """The same results collected ``day`` days later, as a new order: the dates move, and the MSH-10
    control id and the ORC-3 / OBR-3 filler order numbers get a suffix."""
    if day == 0:
        return message
    later = (_SAMPLE_DAY + timedelta(days=day)).strftime("%Y%m%d").encode()
    moved = message.replace(_SAMPLE_DAY.strftime("%Y%m%d").encode(), later)
    return _with_suffix(moved, b"D%d" % day, ((b"MSH", 9), (b"ORC", 3), (b"OBR", 3)))


def workload(count: int, alerting: float, seed: int = 7, visits: int = 1) -> list[bytes]:
    """``count`` messages for ``count // visits`` patients, each with a blood count on ``visits``
    consecutive days (a fraction ``alerting`` of the patients thrombocytopenic), in collection order:
    every patient's first day, then every patient's second day, and so on. With ``visits`` 1 every
    message is a new patient's; with more, each patient's stored history grows by a day's results at
    each visit, as an inpatient's does."""
    normal = _message(ROOT / "samples" / "s01-normal-platelets.hl7")
    alert = _message(ROOT / "samples" / "s02-isolated-thrombocytopenia-b12-unknown.hl7")
    rng = random.Random(seed)
    tag = uuid.uuid4().int % 100_000
    patients = [
        _for_patient(alert if rng.random() < alerting else normal, tag * 1_000_000 + n)
        for n in range(max(1, count // visits))
    ]
    return [_on_day(message, day) for day in range(visits) for message in patients]


# -- broker and topics ------------------------------------------------------------------------------
@contextmanager
def broker(bootstrap: str | None) -> Iterator[tuple[str, int | None]]:
    """The bootstrap address and, for a broker started here, its pid (for its CPU time)."""
    if bootstrap:
        yield bootstrap, None
        return
    folder = Path(tempfile.mkdtemp(prefix="b12stream-bench-kafka-"))
    started = subprocess.run(
        [str(KAFKA_LOCAL), "start", "--port", "0", "--dir", str(folder)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield started.stdout.splitlines()[0], int((folder / "broker.pid").read_text())
    finally:
        subprocess.run([str(KAFKA_LOCAL), "stop", "--dir", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


# -- CPU time ---------------------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _with_descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (the engine's spawned workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


class CpuMeter:
    """CPU seconds spent by the broker, the engine's processes and this script between ``start`` and
    ``stop``; the machine's cores are shared by all three."""

    def __init__(self, broker_pid: int | None, engine_pid: int | None = None) -> None:
        self._pids = {"broker": [broker_pid] if broker_pid else [], "bench": [os.getpid()]}
        self._engine_pid = engine_pid
        self._start: dict[str, dict[int, float]] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        engine = _with_descendants(self._engine_pid) if self._engine_pid is not None else []
        pids = {**self._pids, "engine": engine} if engine else self._pids
        return {role: {pid: _cpu_seconds(pid) for pid in found} for role, found in pids.items()}

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds by role since ``start`` (a process started since then counts from zero)."""
        end = self._sample()
        return {
            role: sum(seconds - self._start.get(role, {}).get(pid, 0.0) for pid, seconds in found.items())
            for role, found in end.items()
        }


def topics(prefix: str) -> dict[str, str]:
    tag = f"bench-{prefix}-{uuid.uuid4().hex[:6]}"
    names = ("input", "alerts", "orders", "pager", "dlq", "changelog", "repartition")
    return {name: f"{tag}.{name}" for name in names}


def create(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics(
        {name: {"num_partitions": PARTITIONS, "replication_factor": 1}}, wait_for_metadata=True
    )
    admin.close()


def produce(bootstrap: str, topic: str, values: list[bytes], keyed: bool = False) -> None:
    """Send ``values`` unkeyed, or keyed by patient key as an interface engine keyed by patient would."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)
    for value in values:
        producer.send(topic, value, key=_patient_key(value).encode() if keyed else None)
    producer.flush()
    producer.close()


# -- passthrough ceiling ----------------------------------------------------------------------------
def _engine_producer_options() -> dict[str, object]:
    """acks=all plus the shipped config's producer options (batch size, linger), so that the ceiling
    and the engine send with the same client settings."""
    document = yaml.safe_load((ROOT / "config" / "b12stream.yaml").read_text())
    options = dict(document["kafka"]["producer"])
    options.pop("transaction_timeout_ms", None)
    return {"acks": "all", **options}


def passthrough(
    bootstrap: str, broker_pid: int | None, values: list[bytes]
) -> tuple[float, dict[str, float]]:
    """Messages/s of a plain kafka-python loop: poll a batch, send each record on, flush, commit; and
    the CPU seconds the broker and the loop spent meanwhile."""
    names = topics("pass")
    create(bootstrap, names["input"])
    create(bootstrap, names["alerts"])
    produce(bootstrap, names["input"], values)
    consumer = KafkaConsumer(
        names["input"],
        bootstrap_servers=bootstrap,
        group_id=names["input"],
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
    )
    producer = KafkaProducer(**_engine_producer_options(), bootstrap_servers=bootstrap)
    moved, started = 0, None
    meter = CpuMeter(broker_pid)
    while moved < len(values):
        batch = consumer.poll(timeout_ms=200)
        if batch and started is None:
            started = time.monotonic()
            meter.start()
        for records in batch.values():
            for record in records:
                producer.send(names["alerts"], record.value, key=record.key)
                moved += 1
        if batch:
            producer.flush()
            consumer.commit()
    elapsed = time.monotonic() - (started or time.monotonic())
    cpu = meter.stop()
    consumer.close()
    producer.close()
    return moved / elapsed, cpu


def _ceiling(bootstrap: str, broker_pid: int | None, values: list[bytes], when: str) -> float:
    """One passthrough pass, printed. Passes of the same bytes on one broker differ by a third or
    more here, so the run measures one before and one after the engine's runs and compares with both."""
    ceiling, cpu = passthrough(bootstrap, broker_pid, values)
    print(
        f"passthrough ceiling (kafka-python consume->produce), {when}: {ceiling:8.0f} messages/s; "
        + _cpu_line(cpu, len(values)),
        flush=True,
    )
    return ceiling


# -- the engine -------------------------------------------------------------------------------------
def engine_config(
    folder: Path,
    bootstrap: str,
    names: dict[str, str],
    guarantee: str,
    keyed: bool = False,
    in_place: bool = True,
) -> Path:
    target = folder / "config"
    shutil.copytree(ROOT / "config", target, dirs_exist_ok=True)
    path = target / "b12stream.yaml"
    document = yaml.safe_load(path.read_text())
    document["kafka"].update(
        bootstrap_servers=bootstrap,
        application_id=names["input"],
        topics=names,
        processing_guarantee=guarantee,
        partitions=PARTITIONS,
        input_keyed_by_patient=keyed,
        process_in_place=in_place,
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@contextmanager
def engine(folder: Path, config: Path, processes: int = 1) -> Iterator[tuple[Path, int]]:
    """`b12stream run --processes N` (N engine processes in one group); yields its log and pid."""
    log = folder / "engine.log"
    command = [*_B12STREAM, "run", "--config", str(config), "--state", str(folder / "state")]
    with open(log, "wb") as sink:
        running = subprocess.Popen(
            [*command, "--processes", str(processes)], stdout=sink, stderr=sink, cwd=ROOT
        )
    try:
        yield log, running.pid
    finally:
        running.terminate()
        running.wait(timeout=30)


def _log_events(log: Path) -> list[dict]:
    lines = log.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _assigned(event: dict) -> bool:
    return event.get("event") == "partitions assigned" and bool(event["partitions"])


def _committed_reader(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, isolation_level="read_committed", fetch_max_wait_ms=20
    )


def _wait_until_settled(log: Path, processes: int, timeout_s: float = 120.0) -> None:
    """Until each of the engine's ``processes`` holds stateful partitions, so that the rebalance of a
    process joining late does not fall inside a timed window; then a second for the restores."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len({e.get("process", 1) for e in _log_events(log) if _assigned(e)}) >= processes:
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise RuntimeError(f"the engine's {processes} processes did not all get partitions in {timeout_s} s")


def _paused(pid: int) -> list[int]:
    """SIGSTOP the engine's processes (the command and its workers); returns them for ``_resumed``."""
    found = _with_descendants(pid)
    for each in found:
        os.kill(each, signal.SIGSTOP)
    return found


def _resumed(pids: list[int]) -> None:
    for each in pids:
        os.kill(each, signal.SIGCONT)


class GroupProgress:
    """Whether the engine's group has committed every input record and every record of the
    repartition topic. The latter is transactional: its commit markers take offsets after the last
    record, as many as there were producers, so its last records are read (a batch is one record).

    It runs on the engine's two cores during the timed window, so each check is one request: the
    input's end offsets are read once (the backlog is written before the clock starts), and the
    repartition topic's last records only once the input is all committed. By then every record of
    the re-keying stage is committed, so those offsets are final, and a short tail holds them."""

    _TAIL = 64  # offsets read back from each repartition partition's end; the whole log if no record

    def __init__(self, bootstrap: str, group: str, names: dict[str, str], keyed: bool):
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self._group = group
        self._input = [TopicPartition(names["input"], p) for p in range(PARTITIONS)]
        self._rekeyed = [] if keyed else [TopicPartition(names["repartition"], p) for p in range(PARTITIONS)]
        self._reader = _committed_reader(bootstrap)
        self._input_ends: dict[TopicPartition, int] | None = None
        self._last: dict[TopicPartition, int] | None = None

    def done(self) -> bool:
        if self._input_ends is None:
            self._input_ends = self._reader.end_offsets(self._input)
        committed = self._admin.list_group_offsets({self._group: self._input + self._rekeyed})
        offsets = {tp: meta.offset for tp, meta in committed.get(self._group, {}).items()}
        if any(offsets.get(tp, -1) < self._input_ends[tp] for tp in self._input):
            return False
        if self._last is None:
            self._last = self._last_records()
        return all(offsets.get(tp, -1) > last for tp, last in self._last.items())

    def _last_records(self) -> dict[TopicPartition, int]:
        """The offset of each repartition partition's last committed record (none: no entry)."""
        if not self._rekeyed:
            return {}
        ends = self._reader.end_offsets(self._rekeyed)
        last = self._read_tail(ends, self._TAIL)
        missed = {tp: end for tp, end in ends.items() if tp not in last and end > self._TAIL}
        return {**last, **self._read_tail(missed, None)} if missed else last

    def _read_tail(self, ends: dict[TopicPartition, int], tail: int | None) -> dict[TopicPartition, int]:
        wanted = [tp for tp, end in ends.items() if end > 0]
        self._reader.assign(wanted)
        for tp in wanted:
            self._reader.seek(tp, 0 if tail is None else max(0, ends[tp] - tail))
        last: dict[TopicPartition, int] = {}
        while any(self._reader.position(tp) < ends[tp] for tp in wanted):
            for tp, records in self._reader.poll(timeout_ms=100).items():
                last[tp] = records[-1].offset
        return last

    def close(self) -> None:
        self._admin.close()
        self._reader.close()


def throughput(
    bootstrap: str,
    broker_pid: int | None,
    values: list[bytes],
    guarantee: str,
    processes: int = 1,
    keyed: bool = False,
    in_place: bool = True,
) -> tuple[float, dict[str, float]]:
    """Messages/s of `b12stream run` working off a backlog, as the passthrough ceiling does: the
    engine's processes join their group on the empty input, are paused (SIGSTOP) while ``values`` are
    written, and the clock runs from their resumption until the group has committed every offset of
    the input (and of the repartition topic); also the CPU seconds the broker, the engine and this
    script spent in that window. ``keyed``: the input is keyed by patient key and the engine told so
    (``input_keyed_by_patient``), so there is no repartition hop. ``in_place`` False: every unkeyed
    message passes through the repartition topic (``process_in_place: false``)."""
    names = topics(guarantee)
    create(bootstrap, names["input"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = engine_config(folder, bootstrap, names, guarantee, keyed, in_place)
        with engine(folder, config, processes) as (log, pid):
            _wait_until_settled(log, processes)
            progress = GroupProgress(bootstrap, names["input"], names, keyed)
            paused = _paused(pid)
            try:
                produce(bootstrap, names["input"], values, keyed)
            finally:
                meter = CpuMeter(broker_pid, pid)
                meter.start()
                started = time.monotonic()
                _resumed(paused)
            while not progress.done():
                if time.monotonic() > started + 600:
                    raise RuntimeError(f"the engine did not work off {len(values)} messages in 600 s")
                time.sleep(0.05)  # the end is seen at most this late: the rate errs low, never high
            finished = time.monotonic()
            cpu = meter.stop()
            progress.close()
    return len(values) / (finished - started), cpu


def _patient_key(message: bytes) -> str:
    """authority|id from PID-3 (first repetition), as the shipped key rule reads these samples."""
    pid = next(s for s in message.split(b"\r") if s.startswith(b"PID"))
    components = pid.split(b"|")[3].split(b"~")[0].split(b"^")
    return f"{components[3].split(b'&')[0].decode()}|{components[0].decode()}"


def _percentiles(name: str, seen: list[float]) -> dict[str, float]:
    seen = sorted(seen)
    if not seen:
        return {f"{name}_count": 0.0}
    return {
        f"{name}_count": float(len(seen)),
        f"{name}_p50_ms": 1000 * statistics.median(seen),
        f"{name}_p99_ms": 1000 * seen[min(len(seen) - 1, int(0.99 * len(seen)))],
    }


def latency(
    bootstrap: str,
    rate: float,
    seconds: float,
    alerting: float,
    warmup: float,
    processes: int = 1,
    keyed: bool = False,
) -> dict[str, float]:
    """Offer ``rate`` messages/s for ``warmup`` + ``seconds`` to a running exactly-once engine and
    measure, for the messages sent after the warm-up, from each message's send (a) its alert becoming
    readable (read_committed), for the alerting messages, and (b) its patient's changelog record
    becoming readable, for every message (same transaction). The warm-up messages are sent at the same
    rate but not counted: they pay for the first fetch positions, connections and transactions.
    ``keyed``: sent keyed by patient to an engine told so (one transaction hop instead of two)."""
    names = topics("latency")
    create(bootstrap, names["input"])
    values = workload(int(rate * (warmup + seconds)), alerting, seed=11)
    counted_from = int(rate * warmup)
    sent_by_control: dict[str, float] = {}
    sent_by_patient: dict[str, float] = {}
    alert_seen: list[float] = []
    state_seen: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = engine_config(folder, bootstrap, names, "exactly_once", keyed)
        with engine(folder, config, processes) as (log, _):
            _wait_until_settled(log, processes)
            reader = _committed_reader(bootstrap)
            while not reader.partitions_for_topic(names["alerts"]):
                time.sleep(0.2)
            tps = [
                TopicPartition(topic, p)
                for topic in (names["alerts"], names["changelog"])
                for p in range(PARTITIONS)
            ]
            reader.assign(tps)
            reader.seek_to_end(*tps)
            for tp in tps:
                reader.position(tp)  # resolve the end offsets before the clock starts
            stop = threading.Event()

            def read() -> None:
                while not stop.is_set():
                    for tp, records in reader.poll(timeout_ms=20).items():
                        now = time.time()
                        for record in records:
                            if tp.topic == names["changelog"]:
                                sent = sent_by_patient.get(record.key.decode())
                                if sent is not None:
                                    state_seen.append(now - sent)
                                continue
                            for item in json.loads(record.value).get("evidence", [])[:1]:
                                if item["source_message_id"] in sent_by_control:
                                    alert_seen.append(now - sent_by_control[item["source_message_id"]])

            thread = threading.Thread(target=read)
            thread.start()
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
            producer.partitions_for(names["input"])
            started = time.monotonic()
            for n, value in enumerate(values):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if n >= counted_from:
                    control_id = value.split(b"\r", 1)[0].split(b"|")[9].decode()
                    sent_by_control[control_id] = sent_by_patient[_patient_key(value)] = time.time()
                producer.send(names["input"], value, key=_patient_key(value).encode() if keyed else None)
            producer.flush()
            time.sleep(5)
            stop.set()
            thread.join()
            reader.close()
            producer.close()
    return {**_percentiles("alert", alert_seen), **_percentiles("state", state_seen)}


def _cpu_line(cpu: dict[str, float], messages: int) -> str:
    """CPU per message by role, and the cores all of them together would need at the target rate."""
    per_message = {role: seconds / messages for role, seconds in cpu.items()}
    cores = sum(per_message.values()) * TARGET_RATE
    shares = ", ".join(f"{role} {1e6 * each:.0f}" for role, each in per_message.items())
    return f"CPU µs/message: {shares}; all together at {TARGET_RATE:,} messages/s: {cores:.1f} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, nargs="+", default=[500.0], help="offered loads (messages/s)")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0, help="offered but not counted")
    parser.add_argument("--processes", type=int, default=1, help="b12stream run --processes N")
    parser.add_argument("--alerting", type=float, default=0.01, help="fraction of messages raising an alert")
    parser.add_argument(
        "--visits",
        type=int,
        default=1,
        help="throughput workload: a blood count per patient on this many days (1: a new patient each)",
    )
    args = parser.parse_args()
    values = workload(args.messages, args.alerting, visits=args.visits)
    with broker(args.bootstrap_servers) as (bootstrap, broker_pid):
        ceiling = _ceiling(bootstrap, broker_pid, values, "before the engine runs")
        runs = (
            ("exactly_once", False, True, "unkeyed input"),
            ("exactly_once", False, False, "unkeyed input, all through the repartition topic"),
            ("at_least_once", False, True, "unkeyed input"),
            ("exactly_once", True, True, "keyed input"),
        )
        rates = []
        for guarantee, keyed, in_place, input_kind in runs:
            rate, cpu = throughput(bootstrap, broker_pid, values, guarantee, args.processes, keyed, in_place)
            rates.append((f"engine x{args.processes} {guarantee:>13}, {input_kind}", rate))
            print(
                f"{rates[-1][0]}: {rate:8.0f} messages/s"
                f" ({100 * rate / ceiling:.0f} % of the first ceiling); {_cpu_line(cpu, len(values))}",
                flush=True,
            )
        again = _ceiling(bootstrap, broker_pid, values, "after the engine runs")
        mean = (ceiling + again) / 2
        for label, rate in rates:
            print(f"{label}: {100 * rate / mean:.0f} % of the mean ceiling ({mean:.0f})", flush=True)
        for rate in args.rate:
            for keyed in (False, True):
                figures = latency(
                    bootstrap,
                    rate,
                    args.latency_seconds,
                    args.alerting,
                    args.warmup_seconds,
                    args.processes,
                    keyed,
                )
                print(
                    f"send->output latency at {rate:.0f} messages/s, exactly-once, "
                    f"{'keyed' if keyed else 'unkeyed'} input: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
