"""Whole-process replay throughput: ``b12stream replay`` on a generated CBC feed, as a user runs it.

Run by hand: ``.venv/bin/python bench/bench_replay.py [--messages 24000] [--patients 2000] [--repeat 1]``.

Generates (seeded, so every run reads the same bytes) one file of complete-blood-count ORU^R01
messages, ~1 KB each with 16 results (WBC, RBC, haemoglobin, haematocrit, MCV, MCH, MCHC, RDW,
platelets, MPV and the differential), for ``--patients`` patients, collection times spread over
``--days`` days and written in collection-time order. Most patients keep normal counts; a minority
run a thrombocytopenia episode (mild and persistent, a fall to 50-100, or a severe fall), so that
the rules really fire. The file goes to a temporary folder (``--keep DIR`` writes it there instead).

Then runs the real command as a child process, stdout to /dev/null, and for each run prints the
wall-clock messages per second (start-up included), the child's CPU seconds, the events it reported
on stderr and its peak resident set size (from ``wait4`` of that child):

* ``temp state``  — ``b12stream replay FILE`` (state in a throw-away SQLite file);
* ``new --state`` — ``b12stream replay --state DIR FILE`` into an empty DIR;
* ``re-run``      — the same command again on the same DIR: the state persisted, so nothing is new.

A run of the command on an empty file gives the start-up cost alone. Target: 20,000 messages/s.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_COMMAND = _ROOT / ".venv" / "bin" / "b12stream"
_START = datetime(2026, 1, 5, tzinfo=UTC)
_TARGET = 20_000


@dataclass(frozen=True, slots=True)
class Analyte:
    """One CBC line: LOINC, name, unit, reference range and a normal mean and spread."""

    code: str
    name: str
    unit: str
    low: float
    high: float
    mean: float
    spread: float
    decimals: int


_CBC = (
    Analyte("6690-2", "WBC # Bld Auto", "10*3/uL", 4.0, 11.0, 7.0, 1.8, 1),
    Analyte("789-8", "RBC # Bld Auto", "10*6/uL", 3.8, 5.2, 4.5, 0.4, 2),
    Analyte("718-7", "Hgb Bld-mCnc", "g/dL", 12.0, 16.0, 13.8, 1.2, 1),
    Analyte("4544-3", "Hct VFr Bld Auto", "%", 36.0, 46.0, 41.0, 3.0, 1),
    Analyte("787-2", "MCV RBC Auto", "fL", 80.0, 100.0, 90.0, 5.0, 1),
    Analyte("785-6", "MCH RBC Qn Auto", "pg", 27.0, 33.0, 30.0, 1.5, 1),
    Analyte("786-4", "MCHC RBC Auto-mCnc", "g/dL", 32.0, 36.0, 33.8, 0.9, 1),
    Analyte("788-0", "RDW RBC Auto-Rto", "%", 11.5, 14.5, 13.1, 0.9, 1),
    Analyte("777-3", "Platelets # Bld Auto", "10*3/uL", 150.0, 400.0, 255.0, 55.0, 0),
    Analyte("32623-1", "PMV Bld Auto", "fL", 7.5, 11.5, 9.6, 0.9, 1),
    Analyte("751-8", "Neutrophils # Bld Auto", "10*3/uL", 1.8, 7.7, 4.3, 1.3, 2),
    Analyte("731-0", "Lymphocytes # Bld Auto", "10*3/uL", 1.0, 4.8, 2.1, 0.6, 2),
    Analyte("742-7", "Monocytes # Bld Auto", "10*3/uL", 0.2, 1.0, 0.5, 0.15, 2),
    Analyte("711-2", "Eosinophils # Bld Auto", "10*3/uL", 0.0, 0.5, 0.15, 0.08, 2),
    Analyte("704-7", "Basophils # Bld Auto", "10*3/uL", 0.0, 0.2, 0.04, 0.02, 2),
    Analyte("770-8", "Neutrophils/leuk NFr Bld Auto", "%", 40.0, 75.0, 60.0, 8.0, 1),
)
_PLATELETS = "777-3"


def _platelet_course(rng: random.Random, draws: int) -> list[float]:
    """One patient's platelet counts: normal for most; a mild persistent, a moderate or a severe
    thrombocytopenia (with recovery toward the end) for a minority."""
    kind = rng.random()
    base = max(160.0, rng.gauss(255, 50))
    if kind < 0.80:
        return [max(150.0, rng.gauss(base, 20)) for _ in range(draws)]
    if kind < 0.87:
        nadir = rng.uniform(110, 148)
    else:
        nadir = rng.uniform(50, 99) if kind < 0.96 else rng.uniform(8, 45)
    onset = rng.randrange(max(1, draws // 3))
    recovery = rng.randrange(onset + 1, draws + 2)
    course = []
    for index in range(draws):
        if onset <= index < recovery:
            course.append(max(3.0, rng.gauss(nadir, nadir * 0.12)))
        else:
            course.append(max(150.0, rng.gauss(base, 20)))
    return course


def _obx(index: int, analyte: Analyte, value: float) -> str:
    text = f"{value:.{analyte.decimals}f}"
    flag = "L" if value < analyte.low else "H" if value > analyte.high else "N"
    reference = f"{analyte.low:g}-{analyte.high:g}"
    return (
        f"OBX|{index}|NM|{analyte.code}^{analyte.name}^LN||{text}|{analyte.unit}|{reference}|{flag}|||F"
    )


def _message(patient: int, draw: int, collected: datetime, platelets: float, rng: random.Random) -> str:
    stamp = collected.strftime("%Y%m%d%H%M")
    reported = (collected + timedelta(minutes=rng.randrange(20, 90))).strftime("%Y%m%d%H%M")
    filler = f"F{patient:05d}{draw:03d}"
    lines = [
        f"MSH|^~\\&|LABSYS|CITYHOSP LAB|B12STREAM|CITYHOSP|{reported}||ORU^R01^ORU_R01|"
        f"C{patient:05d}{draw:03d}|P|2.5.1",
        f"PID|1||MRN{patient:07d}^^^CITYHOSP^MR||PATIENT^TEST^{patient % 26 + 65:c}||19600101|"
        f"{'FM'[patient % 2]}",
        f"PV1|1|{'IO'[patient % 3 == 0]}|4W^{400 + patient % 40}^A^CITYHOSP",
        f"ORC|RE|P{patient:05d}{draw:03d}^CPOE|{filler}^LAB||CM",
        f"OBR|1|P{patient:05d}{draw:03d}^CPOE|{filler}^LAB|58410-2^CBC panel - Blood by Automated count^LN"
        f"|||{stamp}|||||||||1234^ATTEND^ANNA^^^^MD||||||{reported}|||F",
    ]
    for index, analyte in enumerate(_CBC, start=1):
        normal = max(0.0, rng.gauss(analyte.mean, analyte.spread))
        lines.append(_obx(index, analyte, platelets if analyte.code == _PLATELETS else normal))
    return "\r".join(lines) + "\r"


def generate(messages: int, patients: int, span_days: int, seed: int) -> tuple[bytes, float]:
    """The feed's bytes, in collection-time order, and the share of thrombocytopenic platelet counts."""
    rng = random.Random(seed)
    draws_each = [1] * patients
    for _ in range(messages - patients):
        draws_each[rng.randrange(patients)] += 1
    planned: list[tuple[datetime, int, int, float]] = []
    for patient, draws in enumerate(draws_each):
        course = _platelet_course(rng, draws)
        first = rng.uniform(0, span_days * 0.3)
        gaps = sorted(rng.uniform(first, span_days) for _ in range(draws))
        for draw, day in enumerate(gaps):
            collected = _START + timedelta(days=day)
            planned.append((collected.replace(second=0, microsecond=0), patient, draw, course[draw]))
    planned.sort()
    low = sum(1 for item in planned if item[3] < 150)
    text = "".join(_message(patient, draw, at, plt, rng) for at, patient, draw, plt in planned)
    return text.encode("ascii"), low / len(planned)


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    cpu: float
    peak_rss_mb: float
    events: str
    code: int


def _run(arguments: list[str]) -> Run:
    """One child process; its own resource usage via wait4 (not the sum over earlier children)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen([str(_COMMAND), *arguments], stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    found = re.search(r"events: (.*)", stderr)
    return Run(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        events=found.group(1) if found else stderr.strip()[-300:],
        code=child.returncode,
    )


def _report(label: str, runs: list[Run], messages: int) -> None:
    best = min(runs, key=lambda run: run.wall)
    rate = messages / best.wall if messages else 0.0
    walls = ", ".join(f"{run.wall:.2f}" for run in runs)
    print(
        f"{label:<12} {rate:>9,.0f} msg/s  wall {best.wall:6.2f} s (runs: {walls})  cpu {best.cpu:6.2f} s  "
        f"peak RSS {best.peak_rss_mb:6.1f} MB  exit {best.code}  events: {best.events}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=24_000)
    parser.add_argument("--patients", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=42, help="collection times spread over this many days")
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command (best wall time shown)")
    parser.add_argument("--keep", type=Path, help="write the generated feed into this folder and keep it")
    args = parser.parse_args()
    if args.patients < 1 or args.messages < args.patients:
        parser.error("--messages must be at least --patients (>= 1)")
    with tempfile.TemporaryDirectory(prefix="b12stream-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        feed = folder / f"cbc-{args.messages}-{args.patients}-{args.seed}.hl7"
        data, low_share = generate(args.messages, args.patients, args.days, args.seed)
        feed.write_bytes(data)
        empty = Path(scratch) / "empty.hl7"
        empty.write_bytes(b"")
        print(
            f"feed: {feed} — {args.messages:,} messages, {len(data) / args.messages:,.0f} bytes each, "
            f"{args.patients:,} patients over {args.days} days, {low_share:.1%} of platelet counts < 150"
        )
        print(f"command: {_COMMAND} replay [--state DIR] FILE > /dev/null")
        _report("start-up", [_run(["replay", str(empty)]) for _ in range(args.repeat)], 0)
        _report("temp state", [_run(["replay", str(feed)]) for _ in range(args.repeat)], args.messages)
        fresh: list[Run] = []
        again: list[Run] = []
        for attempt in range(args.repeat):
            state = Path(scratch) / f"state-{attempt}"
            fresh.append(_run(["replay", "--state", str(state), str(feed)]))
            again.append(_run(["replay", "--state", str(state), str(feed)]))
        _report("new --state", fresh, args.messages)
        _report("re-run", again, args.messages)
        rate = args.messages / min(run.wall for run in fresh)
        verdict = "meets" if rate >= _TARGET else "misses"
        print(f"target {_TARGET:,} msg/s (new --state, wall clock): {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
