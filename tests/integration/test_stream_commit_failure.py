"""A commit that fails after the batch's records were sent: nothing of it survives, then it is redone."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from b12stream.engine.engine import Engine
from b12stream.state.store import PartitionedStore
from b12stream.stream.app import StreamApp
from b12stream.stream.checkpoint import Checkpoint
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import load_kafka_settings
from tests.conftest import SAMPLES
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


def test_failed_commit_is_aborted_restored_from_and_redone_exactly_once(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = topic_names("commitfail")
    create_topic(bootstrap, names["input"], 1)
    files = copies(sorted(SAMPLES.glob("*.hl7")), 2, tmp_path)
    config = write_config(tmp_path, bootstrap, names, f"app-{names['input']}", partitions=2)
    expected, _, _ = reference_outputs(files, config)

    failures: list[int] = []
    commit = Checkpoint.commit_offsets

    def fail_first_stateful_commit(self: Checkpoint, offsets: dict) -> None:
        if not failures and any(tp.topic == names["repartition"] for tp in offsets):
            failures.append(len(offsets))
            raise TransientBrokerError("injected: commit failed after the batch was sent")
        commit(self, offsets)

    monkeypatch.setattr(Checkpoint, "commit_offsets", fail_first_stateful_commit)
    stop = threading.Event()
    app = StreamApp(load_kafka_settings(config), Engine.load(config), tmp_path / "state", stop)
    runner = threading.Thread(target=app.run)
    runner.start()
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
        stop.set()
        runner.join(timeout=30)
    assert expected, "the reference run produced no events to compare with"
    assert failures, "the injected failure never happened"
    got = events(records)
    assert Counter(json.dumps(e, sort_keys=True) for e in got) == Counter(
        json.dumps(e, sort_keys=True) for e in expected
    )

    # The aborted batch's changelog records are in the log but never visible to committed readers, and
    # the local store holds exactly the committed changelog: restore excluded what was never committed.
    committed = read_to_end(bootstrap, names["changelog"])
    everything = read_topic(
        bootstrap,
        names["changelog"],
        until=lambda rs: len(rs) > len(committed),
        isolation_level="read_uncommitted",
    )
    assert len(everything) > len(committed)
    latest: dict[tuple[int, bytes], bytes] = {}
    for record in committed:
        latest[(record.partition, record.key)] = record.value
    stores = PartitionedStore(tmp_path / "state")
    for (partition, key), value in latest.items():
        assert stores.open(partition).get(key.decode()) == value
    stores.close()
