"""Running the engine: in this process, or as N worker processes under a fail-fast supervisor."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import MutableMapping
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog

from b12stream.collector import settle_for_streaming
from b12stream.engine.engine import Engine
from b12stream.errors import ConfigError, StateError, StreamError
from b12stream.log import configure_logging, get_logger
from b12stream.stream.app import StreamApp
from b12stream.stream.health import stall_limit_s
from b12stream.stream.health_server import HealthServer
from b12stream.stream.settings import KafkaSettings, ObservabilitySettings
from b12stream.stream.signals import stop_on_signals

__all__ = ["run_engine", "supervise", "worker_state_dir"]

_log = get_logger("stream.workers")

# A stopping worker finishes its cycle, commits and closes its clients (a few seconds at most). One
# still running after this grace is killed (exactly-once output stays safe: its successor's
# transactional id fences it), so the instance exits within the 10 s an orchestrator allows.
_STOP_GRACE_S = 8.0
_KILL_WAIT_S = 1.0
_TICK_S = 0.2
# A worker handles SIGTERM once its interpreter has started and installed its handler (spawn resets
# the signal mask, so nothing holds the signal back before that); a worker ended by the forwarded
# SIGTERM in that window had begun no work, so that counts as a clean stop too.
_CLEAN_EXITS = (0, -signal.SIGTERM)


def worker_state_dir(state_dir: Path, index: int) -> Path:
    """Worker ``index``'s own state folder (own stores, own instance id, so own transactional id)."""
    return state_dir / f"process-{index}"


def run_engine(
    settings: KafkaSettings,
    engine: Engine,
    state_dir: Path,
    observability: ObservabilitySettings,
    stop: threading.Event | None = None,
) -> int:
    """One StreamApp in this process until SIGTERM/SIGINT (or ``stop``), with its HTTP endpoint
    (/metrics, /health/live, /health/ready) unless ``observability.http_port`` is None. Call from
    the main thread.

    Returns 0 after a requested stop (the batch in flight committed), 1 when the broker stays
    unreachable past the retry budget or the state folder cannot be used. Raises ConfigError, before
    the engine starts, when the endpoint cannot listen on its host and port.
    """
    stop = stop or threading.Event()
    stop_on_signals(stop)
    settle_for_streaming()
    try:
        app = StreamApp(settings, engine, state_dir, stop)
        with (
            contextlib.nullcontext()
            if observability.http_port is None
            else HealthServer(observability, app.status, stall_limit_s(settings))
        ):
            return app.run()
    except (StreamError, StateError) as error:
        _log.error("stream stopped", error=str(error))
        return 1


def supervise(
    settings: KafkaSettings,
    engine: Engine,
    state_dir: Path,
    log_level: str,
    observability: ObservabilitySettings,
) -> int:
    """Run ``settings.processes`` workers, each a full StreamApp in the same consumer group with its
    state in ``worker_state_dir(state_dir, k)`` and its HTTP endpoint on
    ``observability.for_worker(k)``, k = 1..N; return when they have all exited.

    SIGTERM/SIGINT are forwarded; 0 when every worker then stops cleanly. A worker that exits on its own,
    whatever its exit code, stops the others cleanly and makes this return 1: the orchestrator restarts
    the whole instance rather than leave it running with part of its capacity.
    """
    stop = threading.Event()
    stop_on_signals(stop)
    # "spawn", not fork: a forked child would inherit the parent's threads and locks half-held; a
    # spawned one is a fresh interpreter that gets the settings and engine already checked and loaded
    # here, exits with the worker's code, and can see through its parent sentinel that the supervisor
    # is gone (re-executing the command would need a hidden flag and a pipe for the same things).
    context = multiprocessing.get_context("spawn")
    workers: dict[int, BaseProcess] = {}
    crashed: int | None = None
    try:
        for index in range(1, settings.processes + 1):
            if stop.is_set():
                break
            worker = context.Process(
                target=_worker_main,
                args=(
                    index,
                    settings,
                    engine,
                    worker_state_dir(state_dir, index),
                    observability.for_worker(index),
                    log_level,
                ),
                name=f"b12stream-process-{index}",
            )
            worker.start()
            workers[index] = worker
            _log.info("worker started", worker=index, pid=worker.pid)
        crashed = _first_unrequested_exit(workers, stop)
        if crashed is not None:
            workers[crashed].join(_KILL_WAIT_S)  # its sentinel can be ready just before its exit code
            _log.error("worker exited; stopping the instance", worker=crashed, **_exit(workers[crashed]))
    finally:
        _stop_all(workers)
    failed = {index: w for index, w in workers.items() if w.exitcode not in _CLEAN_EXITS}
    for index, worker in failed.items():
        if index != crashed:
            _log.error("worker stopped with an error", worker=index, **_exit(worker))
    _log.info("stopped", workers=len(workers), failed=sorted(failed))
    return 1 if crashed is not None or failed else 0


def _first_unrequested_exit(workers: dict[int, BaseProcess], stop: threading.Event) -> int | None:
    """Wait until a stop is requested (None) or a worker exits (its index)."""
    by_sentinel = {worker.sentinel: index for index, worker in workers.items()}
    while not stop.is_set():
        ready = wait(list(by_sentinel), timeout=_TICK_S)
        if ready:
            return by_sentinel[ready[0]]
    return None


def _stop_all(workers: dict[int, BaseProcess]) -> None:
    """SIGTERM every running worker, wait out the grace, then kill the ones still running."""
    for worker in workers.values():
        if worker.exitcode is None:
            worker.terminate()
    deadline = time.monotonic() + _STOP_GRACE_S
    for worker in workers.values():
        worker.join(max(0.0, deadline - time.monotonic()))
    for index, worker in workers.items():
        if worker.exitcode is None:
            _log.error("worker did not stop in time; killing it", worker=index)
            worker.kill()
            worker.join(_KILL_WAIT_S)


def _exit(worker: BaseProcess) -> dict[str, object]:
    code = worker.exitcode
    if code is not None and code < 0:
        return {"exit_code": code, "signal": signal.Signals(-code).name}
    return {"exit_code": code}


def _worker_main(
    index: int,
    settings: KafkaSettings,
    engine: Engine,
    state_dir: Path,
    observability: ObservabilitySettings,
    log_level: str,
) -> None:
    """Entry point of worker ``index`` (in a spawned interpreter): its log lines carry ``process``."""
    _log_as_worker(index, log_level)
    stop = threading.Event()
    _stop_when_supervisor_exits(stop)
    try:
        code = run_engine(settings, engine, state_dir, observability, stop)
    except ConfigError as error:  # its endpoint's port is taken, say: the message says it all
        _log.error("worker could not start", error=str(error))
        code = 2
    except Exception:
        _log.exception("worker failed")
        code = 1
    sys.exit(code)


def _stop_when_supervisor_exits(stop: threading.Event) -> None:
    """A worker whose supervisor died (SIGKILL, OOM) stops on its own instead of running orphaned."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        if not stop.is_set():
            _log.warning("supervisor gone; stopping")
        stop.set()

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _log_as_worker(index: int, log_level: str) -> None:
    """Every log line of this process carries ``process=index``, whichever thread logs it (the Kafka
    client runs rebalance callbacks on its own threads, where context variables are not set)."""
    configure_logging(log_level)

    def add_process(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict["process"] = index
        return event_dict

    structlog.configure(processors=[add_process, *structlog.get_config()["processors"]])
