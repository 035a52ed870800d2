"""An engine starting on topics it has just created joins its consumer group once, not twice."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.harness import EngineProcess, create_topic, topic_names, write_config

pytestmark = pytest.mark.integration

# Engines started side by side, each in its own group: the leader of a group formed before its
# metadata arrived rejoined at once in about a third of starts, so several make a miss unlikely.
_ENGINES = 3
_SETTLE_S = 5.0


def test_an_engine_on_fresh_topics_is_assigned_once_and_keeps_its_partitions(
    bootstrap: str, tmp_path: Path
) -> None:
    engines = []
    for index in range(_ENGINES):
        names = topic_names(f"start{index}")
        create_topic(bootstrap, names["input"], 4)
        folder = tmp_path / f"engine-{index}"
        folder.mkdir()
        config = write_config(folder, bootstrap, names, f"app-{names['input']}")
        engines.append(EngineProcess(config, folder / "state", folder / "engine.log"))
    with ExitStack() as running:
        for engine in engines:
            running.enter_context(engine)
        for engine in engines:
            engine.wait_for_log("partitions assigned")
        time.sleep(_SETTLE_S)  # a second join follows within one metadata refresh
        for engine in engines:
            # kafka-python reports an empty revocation before the first join; that one is no rejoin.
            moves = [
                (line["event"], line["partitions"])
                for line in engine.log_lines()
                if line["event"] in ("partitions assigned", "partitions revoked") and line["partitions"]
            ]
            assert moves == [("partitions assigned", [0, 1, 2, 3])]
