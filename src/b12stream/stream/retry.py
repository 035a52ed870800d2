"""Bounded exponential backoff (tenacity) for transient broker errors, interruptible by shutdown."""

from __future__ import annotations

import threading

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from b12stream.log import get_logger
from b12stream.stream.errors import TransientBrokerError
from b12stream.stream.settings import RetrySettings

__all__ = ["retrying"]

_log = get_logger("stream.retry")


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    _log.warning(
        "transient broker error; retrying",
        attempt=state.attempt_number,
        wait_s=round(wait, 2),
        error=str(error),
    )


def retrying(settings: RetrySettings, stop: threading.Event) -> Retrying:
    """Retry TransientBrokerError up to ``settings.attempts`` times with exponential backoff; a set
    ``stop`` event ends the waiting at once. The last error is re-raised when attempts run out."""
    return Retrying(
        retry=retry_if_exception_type(TransientBrokerError),
        wait=wait_exponential(multiplier=settings.initial_backoff_s, max=settings.max_backoff_s),
        stop=stop_after_attempt(settings.attempts) | stop_when_event_set(stop),
        sleep=stop.wait,
        before_sleep=_log_retry,
        reraise=True,
    )
