"""`b12stream replay`: the whole engine on HL7 files, no broker; one JSON event per line on stdout.

Files are read in the order given; a directory is read in file-name order (not recursively,
dot-files and Markdown/reStructuredText notes skipped). Each file may hold one message, concatenated
messages, MLLP frames or FHS/BHS batches. Messages go through exactly the ``ingest`` and ``process``
steps the Kafka stream uses, with patient state in an SQLite file: under ``--state DIR`` it persists
across runs (a re-sent file then adds nothing), otherwise it lives in a temporary folder. A summary
goes to stderr. Exit 0 when the input was read (even if messages were rejected), 2 for a missing or
unreadable path, an unusable configuration or an unusable state store.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from b12stream.collector import settle_for_streaming
from b12stream.commands.inputs import input_files
from b12stream.engine.engine import DEFAULT_CONFIG_PATH, Engine
from b12stream.engine.events import encode_event, rejected_event
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState
from b12stream.errors import StateError
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import Rejection
from b12stream.log import get_logger
from b12stream.notices import say
from b12stream.state.store import SqlitePatientStore
from b12stream.unusable_results import unusable_notices

__all__ = ["Replay", "ReplaySummary", "add_arguments", "run", "text_line"]

_log = get_logger("commands.replay")
_STATE_FILE = "replay.sqlite"
# A folder of messages often carries its own notes (README.md, SOURCES.md); those are not input.
# Patient states stay in memory while a replay runs; changed ones go to SQLite in batches of this many
# rows (one transaction each). A patient seen many times in a batch is serialised once per batch.
_FLUSH_EVERY = 5000
# States kept in memory after a flush (least recently used beyond this are dropped): with the changed
# ones between flushes, at most 15,000 states, some 25 KB each for a patient with 50 results.
_CACHE_LIMIT = 10000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="HL7 files or folders")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="configuration file (engine: section)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help=f"keep patient state in DIR/{_STATE_FILE} across runs (default: a temporary folder)",
    )
    parser.add_argument(
        "--format", choices=("json", "text"), default="json", help="events as JSON lines or readable text"
    )


@dataclass
class ReplaySummary:
    """Counts for the stderr summary."""

    messages: int = 0
    rejected: int = 0
    observations: int = 0
    events: Counter[str] = field(default_factory=Counter)
    alerts_by_rule: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        accepted = self.messages - self.rejected
        rules = ", ".join(f"{rule} {count}" for rule, count in sorted(self.alerts_by_rule.items()))
        kinds = ("alert", "alert_update", "retraction", "rejected")
        return [
            f"messages read: {self.messages} (accepted {accepted}, rejected {self.rejected})",
            f"observations used: {self.observations}",
            "events: " + ", ".join(f"{kind} {self.events[kind]}" for kind in kinds),
            f"alerts by rule: {rules or 'none'}",
        ]


class Replay:
    """Runs messages through ``ingest`` and ``process`` against an SQLite patient-state store.

    Patient states are kept in memory (least recently used first out) and changed ones are written
    in batches; ``flush`` (also on ``close``) writes what is pending.
    """

    def __init__(self, engine: Engine, store: SqlitePatientStore) -> None:
        self._engine = engine
        self._store = store
        self._states: dict[str, PatientState] = {}
        self._dirty: set[str] = set()
        self.summary = ReplaySummary()

    def feed(self, data: bytes, source: str) -> Iterator[dict[str, Any]]:
        """Every event for the messages in ``data`` (one file's bytes), in order."""
        for frame in split_messages(data):
            self.summary.messages += 1
            accepted = ingest(frame.data, self._engine)
            if isinstance(accepted, Rejection):
                yield self._rejected(accepted, f"{source}@{frame.offset}")
                continue
            key = accepted.patient.as_text()
            state = self._state(key, accepted)
            try:
                outcome = process(state, accepted, self._engine)
            except Exception as error:  # as in the stream: a defect rejects the message, not the run
                reason = f"processing failed: {type(error).__name__}"
                control_id = accepted.message.header.control_id
                yield self._rejected(Rejection(reason, control_id=control_id), f"{source}@{frame.offset}")
                continue
            say(_log, unusable_notices(accepted, key))  # as the stream does: not for a rejected message
            self.summary.observations += len(accepted.observations)
            if outcome.state is not state:
                self._states[key] = outcome.state
                self._dirty.add(key)
                if len(self._dirty) >= _FLUSH_EVERY:
                    self.flush()
            for event in outcome.events:
                self._count(event)
                yield event

    def flush(self) -> None:
        """Write every changed state in one transaction, then trim the in-memory states to the limit."""
        if self._dirty:
            self._store.put_many({key: self._states[key].to_bytes() for key in self._dirty})
            self._dirty = set()
        surplus = len(self._states) - _CACHE_LIMIT
        if surplus > 0:
            for key in list(itertools.islice(self._states, surplus)):
                del self._states[key]

    def _state(self, key: str, accepted: Accepted) -> PatientState:
        """The patient's state, most recently used last in the cache (an unknown patient starts empty)."""
        state = self._states.pop(key, None)
        if state is None:
            stored = self._store.get(key)
            state = PatientState.from_bytes(stored) if stored else PatientState.empty(accepted.patient)
        self._states[key] = state
        return state

    def _rejected(self, rejection: Rejection, where: str) -> dict[str, Any]:
        self.summary.rejected += 1
        event = rejected_event(rejection, where)
        self._count(event)
        return event

    def _count(self, event: dict[str, Any]) -> None:
        self.summary.events[event["type"]] += 1
        if event["type"] == "alert":
            self.summary.alerts_by_rule[event["rule"]] += 1


def run(args: argparse.Namespace) -> int:
    files, missing = input_files(args.paths)
    for path in missing:
        print(f"b12stream replay: no such file or directory: {path}", file=sys.stderr)
    if missing:
        return 2
    engine = Engine.load(args.config)
    settle_for_streaming()
    try:
        if args.state is not None:
            return _replay(engine, files, args.state, args.format)
        with tempfile.TemporaryDirectory(prefix="b12stream-replay-") as folder:
            return _replay(engine, files, Path(folder), args.format)
    except StateError as error:
        print(f"b12stream replay: unusable state store: {error}", file=sys.stderr)
        return 2


def _replay(engine: Engine, files: Sequence[Path], state_dir: Path, output: str) -> int:
    with SqlitePatientStore.open(state_dir / _STATE_FILE) as store:
        replay = Replay(engine, store)
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as error:
                print(f"b12stream replay: cannot read {path}: {error.strerror}", file=sys.stderr)
                replay.flush()
                return 2
            for event in replay.feed(data, str(path)):
                _write(sys.stdout, event, output)
        replay.flush()
    for line in replay.summary.lines():
        print(f"b12stream replay: {line}", file=sys.stderr)
    return 0


def _write(stream: TextIO, event: dict[str, Any], output: str) -> None:
    if output == "json":
        stream.write(encode_event(event).decode("utf-8") + "\n")
    else:
        stream.write(text_line(event) + "\n")


def _place(location: dict[str, Any]) -> str:
    """Where a rejection locates the message's fault, as much as it says: ``MSH-9, segment 1, byte
    60`` (the byte offset counts from the message's start, the offset its source names)."""
    segment, field = location["segment"], location["field"]
    parts = [segment if field is None else f"{segment}-{field}"] if segment else []
    if location["segment_index"] is not None:
        parts.append(f"segment {location['segment_index']}")
    if location["byte_offset"] is not None:
        parts.append(f"byte {location['byte_offset']}")
    return ", ".join(parts) or "no location"


def text_line(event: dict[str, Any]) -> str:
    """One readable line per event: kind, severity, rule, summary, suggested orders."""
    kind = event["type"]
    if kind == "rejected":
        return f"REJECTED  {event['source']}: {event['reason']} ({_place(event['location'])})"
    if kind == "retraction":
        return (
            f"RETRACT   {event['severity']:<8} {event['rule']}  alert {event['alert_id'][:12]} "
            f"({event['reason']})"
        )
    label = "ALERT" if kind == "alert" else "UPDATE"
    orders = ", ".join(
        order["loinc"]
        + (" STAT" if order["priority"] == "stat" else "")
        + (" (previously suggested)" if "previously_suggested_at" in order else "")
        for order in event["suggested_orders"]
    )
    line = f"{label:<9} {event['severity']:<8} {event['rule']}  {event['observed_at']}  {event['summary']}"
    return line + (f"  | suggest: {orders}" if orders else "")
