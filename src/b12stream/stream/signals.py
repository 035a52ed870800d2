"""SIGTERM and SIGINT ask the engine to finish its batch, commit and exit."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from b12stream.log import get_logger

__all__ = ["stop_on_signals"]

_log = get_logger("stream.signals")


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT. Must be called from the main thread. A second signal while
    stopping is ignored: the batch in flight is committed before the process exits."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            _log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
