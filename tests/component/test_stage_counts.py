"""What the process stage counts for the engine's metrics is what its records publish, and the text
built from those counts names no patient, MRN or message."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from b12stream.clinical.model import Severity
from b12stream.clinical.rules.common import RULE_ORDER
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.state import SqlitePatientStore
from b12stream.stream.metrics import exposition
from b12stream.stream.records import SourceRef
from b12stream.stream.settings import TopicNames
from b12stream.stream.stages import StageResult, Stages, split_record
from b12stream.stream.status import EngineStatus
from tests.conftest import SAMPLES
from tests.integration.harness import hl7_messages
from tests.prometheus_text import parse

_TOPICS = TopicNames()
_VALUES = hl7_messages(sorted(SAMPLES.glob("*.hl7")))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _process(engine: Engine, path: Path, max_state_bytes: int = 1 << 20) -> StageResult:
    stages = Stages(engine, _TOPICS, 1_000_000, max_state_bytes=max_state_bytes)
    messages = [m for n, value in enumerate(_VALUES) for m in split_record(value, SourceRef("in", 0, n))]
    with SqlitePatientStore.open(path) as store:
        return stages.process(messages, store.begin(), 0, len(messages))


def test_the_counts_are_those_of_the_records_published(engine: Engine, tmp_path: Path) -> None:
    result = _process(engine, tmp_path / "state.sqlite")
    events = [json.loads(r.value) for r in result.records if r.topic == _TOPICS.alerts]
    said = Counter((e["type"], e["rule"], e["severity"]) for e in events if e["type"] != "rejected")
    pages = Counter(json.loads(r.value)["event_action"] for r in result.records if r.topic == _TOPICS.pager)
    assert said and pages, "the samples should alert and page"
    assert result.alerts == said
    assert result.pages == pages
    assert result.orders == sum(1 for r in result.records if r.topic == _TOPICS.orders) > 0
    assert result.dead_lettered == sum(1 for e in events if e["type"] == "rejected")


def test_what_a_refused_state_drops_is_not_counted(engine: Engine, tmp_path: Path) -> None:
    """No state fits in 1 byte: every message is dead-lettered, and nothing it would have said counts."""
    result = _process(engine, tmp_path / "state.sqlite", max_state_bytes=1)
    assert result.processed == 0 and result.dead_lettered == len(_VALUES)
    assert (result.alerts, result.pages, result.orders) == (Counter(), Counter(), 0)
    assert {r.topic for r in result.records} == {_TOPICS.dlq, _TOPICS.alerts}


def test_the_metrics_of_the_samples_carry_no_identifier_of_a_message(engine: Engine, tmp_path: Path) -> None:
    status = EngineStatus()
    status.committed([_process(engine, tmp_path / "state.sqlite")], {"process": len(_VALUES)}, 0.5)
    text = exposition(status.snapshot(), 0.0)
    found = parse(text)
    labels = {(label, value) for _, pairs in found.samples for label, value in pairs}
    assert {value for label, value in labels if label == "rule"} <= set(RULE_ORDER)
    assert {value for label, value in labels if label == "severity"} <= {s.label for s in Severity}
    assert {label for label, _ in labels} == {"stage", "type", "rule", "severity", "action", "le"}
    identifiers = set()
    for value in _VALUES:
        accepted = ingest(value, engine)
        if isinstance(accepted, Accepted):
            identifiers |= {accepted.patient.id, accepted.message.header.control_id}
    assert identifiers and not any(identifier in text for identifier in identifiers)
