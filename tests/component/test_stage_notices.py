"""The log lines about one message the stages keep as notices are said once its batch commits: an
abandoned batch, read again, says them once. Those about normal processing (an order message v2.5.1
cannot carry, a result the numeric rules cannot use) are not said for a message dead-lettered
afterwards in its batch; those that explain a dead letter are said with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from b12stream.engine.engine import Engine
from b12stream.engine.state import PatientState
from b12stream.log import patient_hash
from b12stream.state import SqlitePatientStore
from b12stream.stream import stages as stages_module
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.settings import TopicNames
from b12stream.stream.stages import StageResult, Stages, log_committed_notices, split_record
from tests.conftest import SAMPLES
from tests.integration.harness import hl7_messages

_TOPICS = TopicNames()
_NOTICES = ("observation not usable for numeric rules", "order message not written")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _batch() -> list[Message]:
    """One message that gives both notices: an alert whose order message cannot be written (an
    assigning authority over PID-3.4's 20 characters that is no OID) and a haemoglobin in a unit
    no terminology maps."""
    [alerting] = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    both = alerting.replace(b"^^^RIVERSIDE^MR", b"^^^RIVERSIDE-GENERAL-HOSPITAL^MR").replace(
        b"||13.8|g/dL|", b"||13.8|bananas|"
    )
    return split_record(both, SourceRef("in", 0, 0))


def test_a_batch_abandoned_then_committed_says_each_notice_once(engine: Engine, tmp_path: Path) -> None:
    stages = Stages(engine, _TOPICS, 1_000_000)
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store, capture_logs() as logs:
        stages.process(_batch(), store.begin(), 0, 1)  # abandoned: its transaction is never flushed
        said_while_processing = [line["event"] for line in logs if line["event"] in _NOTICES]
        result = stages.process(_batch(), store.begin(), 0, 1)
        log_committed_notices([result])
    assert said_while_processing == []
    said = [line for line in logs if line["event"] in _NOTICES]
    assert [(line["event"], line["log_level"]) for line in said] == [
        ("observation not usable for numeric rules", "warning"),
        ("order message not written", "error"),
    ]
    assert {(line["control_id"], line["patient_hash"]) for line in said} == {
        ("RVS0302093100417", patient_hash("RIVERSIDE-GENERAL-HOSPITAL|RV200002"))
    }


@pytest.mark.parametrize(
    ("max_message_bytes", "max_state_bytes"),
    [(1_000_000, 1), (1_000, 1 << 20)],
    ids=["state-refused", "record-oversized"],
)
def test_a_message_dead_lettered_in_its_batch_says_no_notice(
    engine: Engine, tmp_path: Path, max_message_bytes: int, max_state_bytes: int
) -> None:
    stages = Stages(engine, _TOPICS, max_message_bytes, max_state_bytes=max_state_bytes)
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store, capture_logs() as logs:
        result = stages.process(_batch(), store.begin(), 0, 1)
        log_committed_notices([result])
    assert (result.processed, result.dead_lettered) == (0, 1)
    assert [line["event"] for line in logs if line["event"] in _NOTICES] == []


_DEAD_LETTERED = ("message dead-lettered", "info")
# The fields each line had when the stages logged it as they ran: ids and sizes, never PHI.
_FIELDS = {
    "message dead-lettered": {"stage", "reason", "control_id", "source"},
    "reading failed": {"error"},
    "processing failed": {"error", "control_id", "patient_hash"},
    "patient state over kafka.max_state_bytes": {"patient_hash", "state_bytes", "max_state_bytes"},
    "patient state not encodable": {"error", "patient_hash"},
}


def _said_once_committed(attempt: Callable[[], list[StageResult]]) -> list[tuple[str, str]]:
    """The (event, level) of each line said by ``attempt`` run as a batch abandoned, then as one
    read again and committed: none while either runs, then once each, as the engine says them."""
    with capture_logs() as logs:
        attempt()  # abandoned: its transaction is never flushed and its results never logged
        results = attempt()
        said_while_processing = list(logs)
        log_committed_notices(results)
    assert said_while_processing == []
    assert _PATIENT_ID not in json.dumps(logs)
    for line in logs:
        assert line.keys() - {"event", "log_level", "component"} == _FIELDS[line["event"]]
        assert line["component"] == "stream.stages"
    return [(line["event"], line["log_level"]) for line in logs]


_PATIENT_ID = "RV200002"


def _normal() -> bytes:
    [value] = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    assert _PATIENT_ID.encode() in value
    return value


def _processing(stages: Stages, store: SqlitePatientStore, value: bytes) -> Callable[[], list[StageResult]]:
    return lambda: [stages.process(split_record(value, SourceRef("in", 0, 0)), store.begin(), 0, 1)]


def test_a_message_that_cannot_be_read_is_said_dead_lettered_once(engine: Engine, tmp_path: Path) -> None:
    stages = Stages(engine, _TOPICS, 1_000_000)
    unreadable = [Message(b"no HL7 at all", SourceRef("in", 0, 0))]
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        read_again = _said_once_committed(lambda: [stages.rekey(unreadable, partitions=4)])
        processed_again = _said_once_committed(lambda: [stages.process(unreadable, store.begin(), 0, 1)])
    assert read_again == processed_again == [_DEAD_LETTERED]


@pytest.mark.parametrize("stage", ["ingest", "process", "ingest-in-place"])
def test_a_message_a_reader_raises_on_is_said_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """Whichever stage reads the message: taken in place, the ingest stage's whole read fails while
    its key is read, and the process stage dead-letters it, in the same batch."""

    def raising(data: bytes, engine: Engine) -> None:
        raise RuntimeError("a reader defect")

    monkeypatch.setattr(stages_module, "ingest", raising)
    if stage == "ingest":
        monkeypatch.setattr(stages_module, "patient_of", raising)
    stages = Stages(engine, _TOPICS, 1_000_000)
    messages = [Message(_normal(), SourceRef("in", 0, 0))]
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:

        def attempt() -> list[StageResult]:
            if stage == "process":
                return [stages.process(messages, store.begin(), 0, 1)]
            in_place = frozenset({0} if stage == "ingest-in-place" else ())
            routed = stages.rekey(messages, partitions=1, in_place=in_place)
            taken = [stages.process(kept, store.begin(), 0, 1) for kept in routed.in_place.values()]
            return [routed, *taken]

        said = _said_once_committed(attempt)
    assert said == [("reading failed", "error"), _DEAD_LETTERED]


def test_a_message_processing_fails_on_is_said_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def raising(*_: object) -> None:
        raise RuntimeError("a processing defect")

    monkeypatch.setattr(stages_module, "process", raising)
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        said = _said_once_committed(_processing(Stages(engine, _TOPICS, 1_000_000), store, _normal()))
    assert said == [("processing failed", "error"), _DEAD_LETTERED]


def test_a_state_over_max_state_bytes_is_said_once(engine: Engine, tmp_path: Path) -> None:
    stages = Stages(engine, _TOPICS, 1_000_000, max_state_bytes=1)
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        said = _said_once_committed(_processing(stages, store, _normal()))
    assert said == [("patient state over kafka.max_state_bytes", "warning"), _DEAD_LETTERED]


def test_a_state_that_cannot_be_encoded_is_said_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def raising(self: PatientState) -> bytes:
        raise RuntimeError("an encoding defect")

    monkeypatch.setattr(PatientState, "to_bytes", raising)
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        said = _said_once_committed(_processing(Stages(engine, _TOPICS, 1_000_000), store, _normal()))
    assert said == [("patient state not encodable", "error"), _DEAD_LETTERED]
