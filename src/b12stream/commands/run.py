"""`b12stream run`: consume ORU^R01 from Kafka, publish alerts, reflex orders, pages and dead letters."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from b12stream.engine.engine import Engine
from b12stream.errors import StateError, StreamError
from b12stream.log import get_logger
from b12stream.stream.app import StreamApp
from b12stream.stream.settings import DEFAULT_CONFIG, load_kafka_settings
from b12stream.stream.signals import stop_on_signals

__all__ = ["add_arguments", "run"]

_log = get_logger("commands.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", help="HOST:PORT[,...] (default: kafka.bootstrap_servers)")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="b12stream.yaml (engine:, kafka:)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(".b12stream-state"),
        help="folder of the embedded patient-state store (default .b12stream-state)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs until SIGTERM/SIGINT (exit 0 after committing the batch in flight); exit 1 when the broker
    stays unreachable past the retry budget or the state folder cannot be used."""
    settings = load_kafka_settings(args.config, args.bootstrap_servers)
    engine = Engine.load(args.config)
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        return StreamApp(settings, engine, args.state, stop).run()
    except (StreamError, StateError) as error:
        _log.error("stream stopped", error=str(error))
        return 1
