"""`b12stream run`: consume ORU^R01 from Kafka, publish alerts, reflex orders, pages and dead letters."""

from __future__ import annotations

import argparse
from pathlib import Path

from b12stream.engine.engine import Engine
from b12stream.log import PATIENT_HASH_KEY_VARIABLE, get_logger, patient_tokens_keyed
from b12stream.stream.settings import DEFAULT_CONFIG, load_kafka_settings, load_observability_settings
from b12stream.stream.workers import run_engine, supervise

__all__ = ["add_arguments", "run"]

_log = get_logger("run")


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
    parser.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="port of the /metrics and /health endpoint (default: observability.http_port, 9464; "
        "0 for any free port, which the 'observability listening' log line names)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="engine processes, one core each (default: kafka.processes). With N > 1 this process "
        "supervises N workers with state in STATE/process-1..N and exits 1 as soon as one of them "
        "exits on its own, so that the service manager restarts the whole instance",
    )


def run(args: argparse.Namespace) -> int:
    """Runs until SIGTERM/SIGINT (exit 0 after committing the batch in flight); exit 1 when the broker
    stays unreachable past the retry budget or the state folder cannot be used.

    With ``--processes N`` (or ``kafka.processes``) above 1, this process becomes a supervisor of N
    worker processes, each a full engine in the same consumer group with its own state folder
    ``STATE/process-<k>`` and its own HTTP endpoint on ``observability.http_port`` + k - 1.
    SIGTERM/SIGINT are forwarded and the exit is 0 when every worker stopped cleanly. A worker that
    crashes or exits on its own is logged (worker index and exit code); the others are then stopped
    cleanly and the exit is 1: fail fast, so that systemd or Kubernetes restarts the instance instead
    of leaving it running with part of its capacity. Exit 2 for a configuration error, such as an
    endpoint port already in use.
    """
    settings = load_kafka_settings(args.config, args.bootstrap_servers, args.processes)
    observability = load_observability_settings(args.config, settings.processes, args.http_port)
    engine = Engine.load(args.config)
    # Alerts carry it too: a lab team can tell which alerts came before or after a threshold change.
    _log.info("rules loaded", rules_version=engine.rules_version)
    if not patient_tokens_keyed():  # a demo or a test runs so; a site must not
        _log.warning(
            "patient tokens in log lines are not keyed: anyone holding the logs can find a patient's "
            "token by hashing candidate MRNs; set the variable to a site secret",
            variable=PATIENT_HASH_KEY_VARIABLE,
        )
    if settings.processes == 1:
        return run_engine(settings, engine, args.state, observability)
    return supervise(settings, engine, args.state, args.log_level, observability)
