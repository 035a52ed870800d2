"""A batch that fails after its records were sent (the commit fails, or the flush never finishes):
nothing of it survives, then it is redone."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from structlog.testing import capture_logs

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.errors import StateError
from b12stream.state.store import PartitionedStore
from b12stream.stream.app import StreamApp
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.clients import PRODUCER_CLOSE_WAIT_S
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import load_kafka_settings
from tests.conftest import SAMPLES, producer_threads
from tests.integration.conftest import Broker
from tests.integration.harness import (
    copies,
    create_topic,
    events,
    hl7_messages,
    produce,
    read_to_end,
    read_topic,
    reference_outputs,
    topic_names,
    write_config,
)

pytestmark = pytest.mark.integration


def _failing_commit(repartition: str, failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    commit = Checkpoint.commit_offsets

    def fail_first_stateful_commit(self: Checkpoint, offsets: dict) -> None:
        if not failures and any(tp.topic == repartition for tp in offsets):
            failures.append("commit")
            raise TransientBrokerError("injected: commit failed after the batch was sent")
        commit(self, offsets)

    monkeypatch.setattr(Checkpoint, "commit_offsets", fail_first_stateful_commit)


def _stuck_flush(repartition: str, failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The first flush of a batch that updates patient state behaves as kafka-python's did after a
    broker restart: it delivers nothing, and returns only when its timeout runs out."""
    flush = Checkpoint.flush

    def first_stateful_flush_stuck(self: Checkpoint) -> None:
        if not failures and self._stores:
            failures.append("flush")
            producer = self._producer

            def stuck(timeout: float | None = None) -> None:
                del producer.flush  # once: closing the dropped producer flushes for real
                if timeout is None:
                    failures.append("unbounded flush")  # the engine would wait for ever
                    timeout = 30.0
                time.sleep(timeout)
                raise KafkaTimeoutError("injected: flush did not finish")

            producer.flush = stuck
        flush(self)

    monkeypatch.setattr(Checkpoint, "flush", first_stateful_flush_stuck)


@pytest.mark.parametrize("inject", [_failing_commit, _stuck_flush], ids=["commit fails", "flush stuck"])
def test_failed_batch_is_aborted_restored_from_and_redone_exactly_once(
    bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inject: Callable[[str, list[str], pytest.MonkeyPatch], None],
) -> None:
    names = topic_names("commitfail")
    create_topic(bootstrap, names["input"], 1)
    files = copies(sorted(SAMPLES.glob("*.hl7")), 2, tmp_path)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=2)
    expected, _, _ = reference_outputs(files, config)
    unusable = _unusable_results(files, config)

    failures: list[str] = []
    inject(names["repartition"], failures, monkeypatch)
    with capture_logs() as logs:
        engine = _Running(config, tmp_path)
        try:
            produce(bootstrap, names["input"], hl7_messages(files))
            # The injected failure must have happened before the redone batch can complete the events;
            # on a busy machine the group join alone can take a while, hence the generous timeout.
            records = read_topic(
                bootstrap,
                names["alerts"],
                until=lambda rs: bool(failures) and len(events(rs)) >= len(expected),
                timeout_s=180.0,
            )
        finally:
            engine.finish()
    assert expected, "the reference run produced no events to compare with"
    assert failures, "the injected failure never happened"
    assert "unbounded flush" not in failures
    _assert_same_events(records, expected)
    # Said once the batch commits: once each, however often its batch was abandoned and read again.
    said = [(line["control_id"], line["code"]) for line in logs if line["event"] == _UNUSABLE]
    assert unusable and Counter(said) == Counter(unusable)

    # The aborted batch's changelog records are in the log but never visible to committed readers, and
    # the local store holds exactly the committed changelog: restore excluded what was never committed.
    _assert_store_holds_committed_changelog(bootstrap, names["changelog"], tmp_path / "state", aborted=True)


def _commit_fails(names: dict[str, str], failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_commit(names["repartition"], failures, monkeypatch)


def _commit_answer_lost(names: dict[str, str], failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _commit_lands_then_fails(failures, monkeypatch)


@pytest.mark.parametrize(
    ("guarantee", "inject"),
    [
        pytest.param("at_least_once", _commit_fails, id="at-least-once, commit fails"),
        pytest.param("exactly_once", _commit_answer_lost, id="exactly-once, commit answer lost"),
        pytest.param("at_least_once", _commit_answer_lost, id="at-least-once, commit answer lost"),
    ],
)
def test_a_batch_whose_commit_seemed_to_fail_says_its_notices_once(
    bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    guarantee: str,
    inject: Callable[[dict[str, str], list[str], pytest.MonkeyPatch], None],
) -> None:
    """A result the numeric rules cannot use (S18) is logged once its batch commits: not by the
    attempt whose commit failed, once by the one that read it again; and once, all the same, when
    that commit reached the broker and only its answer was lost, which leaves nothing to read again.
    The batch is counted in the metrics at the same point, once: every message processed or
    dead-lettered, and every event published; as abandoned only when it is read again."""
    names = topic_names("noticefail")
    create_topic(bootstrap, names["input"], 1)
    files = copies([SAMPLES / "s18-non-standard-platelet-unit.hl7"], 2, tmp_path)
    settings = {"processing_guarantee": guarantee, "partitions": 2}
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", **settings)
    unusable = _unusable_results(files, config)
    expected, _, pages = reference_outputs(files, config)
    failures: list[str] = []
    inject(names, failures, monkeypatch)
    produce(bootstrap, names["input"], hl7_messages(files))
    with capture_logs() as logs:
        engine = _Running(config, tmp_path)
        try:
            deadline = time.monotonic() + 120
            while len(_said_after_an_abandoned_batch(logs)) < len(unusable):
                assert time.monotonic() < deadline, "the batch's notices were never said once it committed"
                time.sleep(0.05)
        finally:
            engine.finish()
    assert failures and unusable
    said = [(line["control_id"], line["code"]) for line in logs if line["event"] == _UNUSABLE]
    assert Counter(said) == Counter(unusable)
    # Every batch is committed once its notices are said: the counts are final, each message once.
    counted = engine.app.status.snapshot()
    assert counted.processed + sum(counted.dead_lettered.values()) == len(hl7_messages(files))
    assert sum(counted.alerts.values()) == len(expected)
    assert counted.pages == Counter(page["event_action"] for page in pages)
    # Abandoned counts batches read again: not the one whose commit landed, counted as committed.
    abandoned = [line for line in logs if line["event"] == "batch abandoned"]
    assert counted.abandoned == len(abandoned) - failures.count("commit answer lost")


def _said_after_an_abandoned_batch(logs: list[dict]) -> list[dict]:
    said = [line["event"] for line in logs]
    if "batch abandoned" not in said:
        return []
    return [line for line in logs[said.index("batch abandoned") :] if line["event"] == _UNUSABLE]


_UNUSABLE = "observation not usable for numeric rules"


def _unusable_results(files: list[Path], config: Path) -> list[tuple[str, str]]:
    """The control id and code of each result in ``files`` the numeric rules cannot use (S18)."""
    engine = Engine.load(config)
    read = [ingest(message, engine) for message in hl7_messages(files)]
    return [
        (accepted.message.header.control_id, observation.code)
        for accepted in read
        if isinstance(accepted, Accepted)
        for observation in accepted.observations
        if observation.unusable_reason
    ]


def _assert_store_holds_committed_changelog(
    bootstrap: str, changelog: str, state: Path, aborted: bool
) -> None:
    committed = read_to_end(bootstrap, changelog)
    if aborted:
        everything = read_topic(
            bootstrap,
            changelog,
            until=lambda rs: len(rs) > len(committed),
            isolation_level="read_uncommitted",
        )
        assert len(everything) > len(committed)
    latest: dict[tuple[int, bytes], bytes] = {}
    for record in committed:
        latest[(record.partition, record.key)] = record.value
    stores = PartitionedStore(state)
    for (partition, key), value in latest.items():
        assert stores.open(partition).get(key.decode()) == value
    stores.close()


def _commit_lands_then_fails(failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The first commit of a batch that changes patient state reaches the broker, and then the
    engine is told it failed (a lost answer): Kafka has the batch, the state files do not."""
    commit = Checkpoint.commit_offsets

    def first_stateful_commit_lost(self: Checkpoint, offsets: dict) -> None:
        commit(self, offsets)
        if not failures and self.partitions():
            failures.append("commit answer lost")
            raise TransientBrokerError("injected: commit answer lost")

    monkeypatch.setattr(Checkpoint, "commit_offsets", first_stateful_commit_lost)


def _state_flush_fails(failures: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The state files refuse the first batch that changes patient state (a full disk), after Kafka
    committed it."""
    flush_stores = Checkpoint.flush_stores

    def first_stateful_flush_refused(self: Checkpoint) -> None:
        if not failures and self.partitions():
            failures.append("state flush refused")
            for transaction, _ in self._stores.values():
                transaction.fail()
            raise StateError("injected: the state file refused the batch")
        flush_stores(self)

    monkeypatch.setattr(Checkpoint, "flush_stores", first_stateful_flush_refused)


# Scenarios whose later outputs depend on what the first message left in the patient's state: a
# correction of an alerted count (S11), and recovery read against the episode's nadir (S14).
DEPENDENT = [
    SAMPLES / "s11-corrected-platelet-clumping.hl7",
    SAMPLES / "s14-recovery-after-b12-deficiency.hl7",
]


@pytest.mark.parametrize(
    "inject", [_commit_lands_then_fails, _state_flush_fails], ids=["commit answer lost", "state flush fails"]
)
def test_state_files_behind_kafka_are_restored_before_their_partitions_run_again(
    bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inject: Callable[[list[str], pytest.MonkeyPatch], None],
) -> None:
    """Kafka committed the batch but the state files lack it. Every partition whose state the batch
    changed is restored from the changelog before it runs again, including those whose messages were
    taken in place (and so were never read from the repartition topic in that batch): one message a
    batch here, so the first batch of each patient is one of those."""
    names = topic_names("behind")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(
        tmp_path, bootstrap, names, f"app-{names['input']}", partitions=2,
        batch={"max_records": 1, "poll_timeout_ms": 50},
    )
    expected, _, _ = reference_outputs(DEPENDENT, config)

    failures: list[str] = []
    inject(failures, monkeypatch)
    engine = _Running(config, tmp_path)
    try:
        produce(bootstrap, names["input"], hl7_messages(DEPENDENT))
        records = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected), timeout_s=120.0
        )
        # Any more (a wrongly repeated or changed event) would come with the last messages.
        records = read_to_end(bootstrap, names["alerts"])
    finally:
        engine.finish()
    assert failures, "the injected failure never happened"
    assert expected, "the reference run produced no events to compare with"
    _assert_same_events(records, expected)
    _assert_store_holds_committed_changelog(bootstrap, names["changelog"], tmp_path / "state", aborted=False)


def test_a_commit_the_broker_never_answers_does_not_hold_a_stopping_engine(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kafka-python waits for a commit's answer without limit. With no answer (a coordinator gone),
    a stop still ends ``run`` within SIGTERM's 10 s, cleanly; the batch's outcome is unknown, and the
    next start settles it: every alert once."""
    names = topic_names("noanswer")
    create_topic(bootstrap, names["input"], 1)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=2)
    expected, _, _ = reference_outputs(DEPENDENT, config)
    released = threading.Event()
    held: list[str] = []
    commit = KafkaProducer.commit_transaction

    def first_commit_unanswered(self: KafkaProducer) -> None:
        if not held:
            held.append("commit")
            released.wait(60)  # the coordinator never answers while the engine waits
            raise KafkaTimeoutError("injected: no answer")
        commit(self)

    monkeypatch.setattr(KafkaProducer, "commit_transaction", first_commit_unanswered)
    produce(bootstrap, names["input"], hl7_messages(DEPENDENT))
    try:
        first = _Running(config, tmp_path)
        deadline = time.monotonic() + 60
        while not held:
            assert time.monotonic() < deadline, "the engine never committed"
            time.sleep(0.05)
        asked = time.monotonic()
        first.stop.set()
        first.runner.join(timeout=10)
        assert not first.runner.is_alive(), "the engine went on waiting for the commit's answer"
        assert first.returned == [0] and time.monotonic() - asked < 10
    finally:
        released.set()
    second = _Running(config, tmp_path)
    try:
        records = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected), timeout_s=120.0
        )
        records = read_to_end(bootstrap, names["alerts"])
    finally:
        second.finish()
    _assert_same_events(records, expected)


@pytest.mark.parametrize(
    "paused_at", ["send", "commit_offsets"], ids=["records unanswered", "commit unanswered"]
)
def test_a_producer_dropped_in_an_outage_is_stopped_for_good(
    kafka_broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paused_at: str
) -> None:
    """The broker stops answering while a batch changing patient state is on its way: its records are
    not acknowledged in time, or its commit is not answered. The batch is abandoned and its producer
    dropped, within a bounded time, and stopped for good while the broker is still silent: no sender
    thread of it is left retrying (whose late requests could fence its successor), nor a thread
    waiting for its commit. kafka-python's close gives up at its flush before it stops the sender
    when records are unsent. Once the broker answers again, every alert is published once."""
    if not kafka_broker.can_restart:
        pytest.skip("pausing the broker needs the local broker script, not a container")
    bootstrap = kafka_broker.bootstrap
    names = topic_names("dropped")
    group = f"app-{names['input']}"
    create_topic(bootstrap, names["input"], 1)
    # A 3 s transaction timeout bounds the flush and the wait for the commit's answer
    # (KafkaSettings.flush_timeout_s): the pause stays short, well inside the group's session timeout.
    config = write_config(
        tmp_path, bootstrap, names, group, partitions=2,
        producer={"linger_ms": 2, "transaction_timeout_ms": 3000},
    )
    expected, _, _ = reference_outputs(DEPENDENT, config)
    paused = threading.Event()
    dropping_took: list[float] = []
    step, drop = getattr(Checkpoint, paused_at), StreamApp._drop_producer

    def pause_first_stateful(self: Checkpoint, *arguments: object) -> None:
        if self._stores and not paused.is_set():
            paused.set()
            kafka_broker.pause()
        step(self, *arguments)

    def timed_drop(self: StreamApp) -> None:
        started = time.monotonic()
        drop(self)
        dropping_took.append(time.monotonic() - started)

    monkeypatch.setattr(Checkpoint, paused_at, pause_first_stateful)
    monkeypatch.setattr(StreamApp, "_drop_producer", timed_drop)
    produce(bootstrap, names["input"], hl7_messages(DEPENDENT))
    engine = _Running(config, tmp_path)
    try:
        try:
            deadline = time.monotonic() + 60
            while not dropping_took:
                assert time.monotonic() < deadline, "the batch sent to the paused broker was never abandoned"
                time.sleep(0.05)
            deadline = time.monotonic() + 3.0
            while _dropped_producer_threads(group) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = _dropped_producer_threads(group)
        finally:
            kafka_broker.resume()
        assert not left, "the dropped producer is still running"
        assert dropping_took[0] < PRODUCER_CLOSE_WAIT_S + 1.0
        records = read_topic(
            bootstrap, names["alerts"], until=lambda rs: len(events(rs)) >= len(expected), timeout_s=120.0
        )
        records = read_to_end(bootstrap, names["alerts"])
    finally:
        engine.finish()
    assert engine.returned == [0]
    _assert_same_events(records, expected)


def _dropped_producer_threads(group: str) -> list[threading.Thread]:
    """While no producer can be built (the broker is paused): the sender threads of the producers of
    ``group``'s engine, and the engine's threads waiting for a transaction's answer (checkpoint.py)."""
    waiting = [t for t in threading.enumerate() if t.name in ("b12stream-commit", "b12stream-abort")]
    return producer_threads(group) + waiting


class _Running:
    """An engine running in this process, in a thread, with its stop event and what ``run`` returned."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.stop = threading.Event()
        self.returned: list[int] = []
        self.app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", self.stop)
        self.runner = threading.Thread(target=lambda: self.returned.append(self.app.run()))
        self.runner.start()

    def finish(self) -> None:
        self.stop.set()
        self.runner.join(timeout=30)


def _assert_same_events(records: list, expected: list[dict]) -> None:
    """The committed events are exactly the reference run's: none missing, none twice."""
    assert Counter(json.dumps(e, sort_keys=True) for e in events(records)) == Counter(
        json.dumps(e, sort_keys=True) for e in expected
    )
