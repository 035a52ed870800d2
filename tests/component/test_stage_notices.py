"""The log lines about one message the process stage keeps as notices (an order message v2.5.1 cannot
carry, a result the numeric rules cannot use) are said once its batch commits: an abandoned batch,
read again, says them once, and a message dead-lettered afterwards in its batch says none."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from b12stream.engine.engine import Engine
from b12stream.log import patient_hash
from b12stream.state import SqlitePatientStore
from b12stream.stream.records import Message, SourceRef
from b12stream.stream.settings import TopicNames
from b12stream.stream.stages import Stages, log_committed_notices, split_record
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
