"""The stream stages alone, without Kafka: CPU per message of ``Stages.rekey`` and ``Stages.process``
over the stream benchmark's workload, with every partition taken in place (one engine process),
state written to SQLite in a temporary folder.

Run by hand: ``.venv/bin/python bench/bench_stages.py [--messages 20000] [--runs 3]``. Prints CPU
microseconds per message for each run. The difference from ``bench_stream.py``'s engine figure is
what the Kafka clients and the commit cost.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from b12stream import collector
from b12stream.engine.engine import Engine
from b12stream.state.store import PartitionedStore
from b12stream.stream.records import SourceRef
from b12stream.stream.settings import TopicNames
from b12stream.stream.stages import Stages, split_record
from bench_stream import workload

PARTITIONS = 4
BATCH = 1000  # the shipped kafka.batch.max_records


def run(values: list[bytes], engine: Engine) -> float:
    """CPU microseconds per message of both stages over ``values``, batch by batch."""
    stages = Stages(engine, TopicNames(), 1_000_000, state_cache_bytes=128 << 20)
    with tempfile.TemporaryDirectory() as folder:
        stores = PartitionedStore(Path(folder))
        started = time.process_time()
        for start in range(0, len(values), BATCH):
            batch = enumerate(values[start : start + BATCH], start)
            messages = [m for n, value in batch for m in split_record(value, SourceRef("in", 0, n))]
            routed = stages.rekey(messages, PARTITIONS, frozenset(range(PARTITIONS)))
            for partition, kept in sorted(routed.in_place.items()):
                transaction = stores.open(partition).begin()
                stages.process(kept, transaction, partition, start + BATCH)
                transaction.prepare({("in", partition): start + BATCH}, start + BATCH)
                transaction.flush()
        spent = time.process_time() - started
        stores.close()
    return 1e6 * spent / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    values = workload(args.messages, 0.01)
    collector.settle_for_streaming()  # as `b12stream run` does
    engine = Engine.load()
    for n in range(args.runs):
        print(f"run {n + 1}: {run(values, engine):.0f} µs/message (CPU, both stages)", flush=True)


if __name__ == "__main__":
    main()
