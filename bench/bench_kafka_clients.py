"""What a Kafka client costs per message here: kafka-python (the engine's client) against
confluent-kafka (librdkafka), in the same consume→produce passthrough on the same broker and bytes.

    .venv/bin/python bench/bench_kafka_clients.py [--bootstrap-servers HOST:PORT] [--messages 20000]

confluent-kafka is not a b12stream dependency; install it into the virtualenv first
(`.venv/bin/pip install confluent-kafka`) or only the kafka-python line is printed. For each client:
messages/s and the CPU per message of the client process and of the broker (when the script started
it), as `bench_stream.py` reports them. confluent-kafka also runs transactionally (one transaction per
polled batch of up to 1,000 records, offsets in the transaction), as the engine commits.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench_stream import CpuMeter, _cpu_line, broker, create, passthrough, produce, topics, workload


def confluent_passthrough(
    bootstrap: str, broker_pid: int | None, values: list[bytes], transactional: bool
) -> tuple[float, dict[str, float]]:
    """Messages/s and CPU seconds of the same loop as ``bench_stream.passthrough`` with confluent-kafka."""
    from confluent_kafka import Consumer, Producer

    names = topics("clients")
    create(bootstrap, names["input"])
    create(bootstrap, names["alerts"])
    produce(bootstrap, names["input"], values)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": names["input"],
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    options = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True}
    if transactional:
        options["transactional.id"] = f"bench-{names['input']}"
    producer = Producer(options)
    if transactional:
        producer.init_transactions()
    consumer.subscribe([names["input"]])
    moved, started, meter = 0, None, CpuMeter(broker_pid)
    while moved < len(values):
        batch = consumer.consume(num_messages=1000, timeout=0.2)
        if not batch:
            continue
        if started is None:
            started = time.monotonic()
            meter.start()
        if transactional:
            producer.begin_transaction()
        for message in batch:
            if message.error() is None:
                producer.produce(names["alerts"], message.value(), message.key())
                moved += 1
        if transactional:
            offsets = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata())
            producer.commit_transaction()
        else:
            producer.flush()
            consumer.commit(asynchronous=False)
    elapsed = time.monotonic() - (started or time.monotonic())
    cpu = meter.stop()
    consumer.close()
    return moved / elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    values = workload(args.messages, 0.01)
    try:
        import confluent_kafka
    except ImportError:
        confluent_kafka = None
    with broker(args.bootstrap_servers) as (bootstrap, broker_pid):
        rate, cpu = passthrough(bootstrap, broker_pid, values)
        print(f"kafka-python passthrough:              {rate:8.0f} messages/s; {_cpu_line(cpu, len(values))}")
        if confluent_kafka is None:
            print("confluent-kafka is not installed; its lines are left out")
            return 0
        version = f"confluent-kafka {confluent_kafka.version()}, librdkafka {confluent_kafka.libversion()[0]}"
        for transactional in (False, True):
            rate, cpu = confluent_passthrough(bootstrap, broker_pid, values, transactional)
            kind = "transactional" if transactional else "plain"
            print(f"{version} {kind}: {rate:8.0f} messages/s; {_cpu_line(cpu, len(values))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
