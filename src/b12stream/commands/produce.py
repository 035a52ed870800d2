"""`b12stream produce`: send the messages in HL7 files to a Kafka topic, one record per message."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from b12stream.commands.inputs import input_files
from b12stream.errors import StreamError
from b12stream.hl7.framing import split_messages
from b12stream.stream.publish import Outgoing, send_messages
from b12stream.stream.settings import DEFAULT_CONFIG, load_kafka_settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE", help="HL7 files or folders")
    parser.add_argument("--bootstrap-servers", help="HOST:PORT[,...] (default: kafka.bootstrap_servers)")
    parser.add_argument("--topic", help="destination topic (default: kafka.topics.input, hl7.oru)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="b12stream.yaml (kafka: section)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second (default: no pacing)")


def _messages(files: Sequence[Path]) -> Iterator[Outgoing]:
    """Each file split exactly as ``replay`` splits it, in file order."""
    for path in files:
        for number, frame in enumerate(split_messages(path.read_bytes()), 1):
            yield Outgoing(f"{path}: message {number} (byte {frame.offset})", frame.data)


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be opened for reading (``Permission denied``), or None."""
    try:
        path.open("rb").close()
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every message was delivered; 1 when the broker could not be used or refused a
    message (each refused one is named, the others are sent); 2 for a missing or unreadable path."""
    files, missing = input_files(args.paths)
    for path in missing:
        print(f"b12stream produce: no such file or directory: {path}", file=sys.stderr)
    unreadable = [(path, why) for path in files if (why := _unreadable(path))]
    for path, why in unreadable:
        print(f"b12stream produce: cannot read {path}: {why}", file=sys.stderr)
    if missing or unreadable:
        return 2  # before anything is sent: half a folder sent is harder to put right than none
    settings = load_kafka_settings(args.config, args.bootstrap_servers)
    topic = args.topic or settings.topics.input
    try:
        delivery = send_messages(settings, topic, _messages(files), args.rate)
    except StreamError as error:
        print(f"b12stream produce: {error}", file=sys.stderr)
        return 1
    for refused in delivery.refused:
        print(f"b12stream produce: {refused.where}: not sent: {refused.reason}", file=sys.stderr)
    summary = f"sent {delivery.sent} messages from {len(files)} files to {topic}"
    if delivery.refused:
        summary += f"; {len(delivery.refused)} refused"
    print(f"b12stream produce: {summary}", file=sys.stderr)
    return 1 if delivery.refused else 0
