"""`b12stream dead-letters`: what is on the dead-letter topic, one JSON line per dead letter, for the
interface analysts who fix those messages and send them again."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from b12stream.errors import StreamError
from b12stream.stream.dead_letter import read_dead_letter
from b12stream.stream.follow import read_to_end
from b12stream.stream.settings import DEFAULT_CONFIG, load_kafka_settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", help="HOST:PORT[,...] (default: kafka.bootstrap_servers)")
    parser.add_argument("--topic", help="dead-letter topic (default: kafka.topics.dlq, b12stream.dlq)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="b12stream.yaml (kafka: section)")
    parser.add_argument(
        "--save", type=Path, metavar="DIR",
        help="also write each dead-lettered message, byte for byte, to DIR/TOPIC-PARTITION-OFFSET.hl7 "
        "(its input coordinates), to fix and send again with `b12stream produce`",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to read the topic (default 60)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the topic was read to its end; 1 when the broker or the topic could not be read
    (the dead letters read before that are printed)."""
    settings = load_kafka_settings(args.config, args.bootstrap_servers)
    topic = args.topic or settings.topics.dlq
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        for record in read_to_end(settings, topic, args.timeout):
            entry: dict[str, Any] = {"dead_letter": f"{record.topic}/{record.partition}/{record.offset}"}
            entry.update(read_dead_letter(record.headers, record.value))
            if args.save is not None and not entry["value_omitted"]:
                path = args.save / _file_name(entry, record.partition, record.offset)
                path.write_bytes(record.value or b"")
                entry["saved_to"] = str(path)
            print(json.dumps(entry, ensure_ascii=False), flush=True)
            count += 1
    except StreamError as error:
        print(f"b12stream dead-letters: {error}", file=sys.stderr)
        return 1
    saved = f"; their messages are in {args.save}" if args.save is not None else ""
    print(f"b12stream dead-letters: {count} dead letters on {topic}{saved}", file=sys.stderr)
    return 0


def _file_name(entry: dict[str, Any], partition: int, offset: int) -> str:
    """Named by where the message came in (topic names are file-name safe), with its place in a
    batch record; by its dead-letter coordinates when the record names no source."""
    source = entry["source"]
    if source is None:
        return f"dead-letter-{partition}-{offset}.hl7"
    frame = f"-{source['frame']}" if source["frame"] else ""
    return f"{source['topic']}-{source['partition']}-{source['offset']}{frame}.hl7"
