"""kafka-local's cluster ids: kafka-storage refuses one starting with "-" (it reads it as an option),
which made one fresh broker start in 64 fail to format its storage."""

from __future__ import annotations

import base64
import runpy
from pathlib import Path

KAFKA_LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local-kafka" / "kafka-local"


def test_cluster_ids_are_kafka_uuids_that_never_start_with_a_dash() -> None:
    cluster_id = runpy.run_path(str(KAFKA_LOCAL))["_cluster_id"]
    ids = [cluster_id() for _ in range(3000)]  # without the guard, about 47 of them would start with "-"
    assert not [text for text in ids if text.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(text + "==")) == 16 for text in ids)
    assert len(set(ids)) == len(ids)
