"""structlog set up once: JSON lines on stderr, ISO timestamps, and no PHI.

Log lines carry message control ids and hashed patient keys only. Names, MRNs, dates of birth and
free text never reach a log call: callers pass ``patient_hash(key)``, and the ``_refuse_phi`` processor
drops any field whose name says it holds PHI, so a slip is visible as ``[redacted]`` instead of a leak.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = [
    "PATIENT_HASH_KEY_VARIABLE",
    "configure_logging",
    "get_logger",
    "patient_hash",
    "patient_tokens_keyed",
]

_PHI_FIELDS = frozenset(
    {"patient", "patient_id", "mrn", "name", "dob", "birth_date", "text", "comment", "value", "raw"}
)


# A site's secret for patient tokens. Without one, a token is a plain hash: anyone holding the logs
# could find a patient's token by hashing candidate MRNs, which are short and few.
PATIENT_HASH_KEY_VARIABLE = "B12STREAM_PATIENT_HASH_KEY"


def patient_hash(key_text: str) -> str:
    """A short, stable, one-way token for a patient key, safe for logs and metric labels: an
    HMAC-SHA256 under the secret in ``B12STREAM_PATIENT_HASH_KEY`` when it is set, else a hash."""
    data = key_text.encode("utf-8")
    secret = _site_secret()
    if secret:
        return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()[:16]
    return hashlib.sha256(b"b12stream-patient:" + data).hexdigest()[:16]


def patient_tokens_keyed() -> bool:
    """Whether ``patient_hash`` keys its tokens by a site's secret."""
    return _site_secret() is not None


def _site_secret() -> str | None:
    return os.environ.get(PATIENT_HASH_KEY_VARIABLE) or None


def _refuse_phi(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in _PHI_FIELDS.intersection(event_dict):
        event_dict[name] = "[redacted]"
    return event_dict


class _StderrLines:
    """Writes each rendered line to the current ``sys.stderr``.

    sys.stderr is looked up per line, not once: an embedding program (or a test runner) may replace
    it after logging was configured, and the old stream may be closed by then. The line and its
    newline go out in one write: unbuffered stderr (PYTHONUNBUFFERED, common in containers) would
    otherwise write them separately, and lines of several engine processes sharing one stderr could
    interleave.
    """

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warning = error = critical = exception = msg


def _stderr_logger(*_: Any) -> _StderrLines:
    return _StderrLines()


def configure_logging(level: str = "INFO") -> None:
    """Idempotent: safe to call from every entry point."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _refuse_phi,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(component=name)
