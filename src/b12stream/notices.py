"""Log lines about one message, kept as plain data until the batch that carries the message commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import structlog

__all__ = ["Notice", "say"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One log line: its ``logging`` level, its event and its fields, which name the message and its
    patient by control id and patient hash only, never PHI."""

    level: int
    event: str
    fields: Mapping[str, str | int | None]


def say(log: structlog.typing.FilteringBoundLogger, notices: Iterable[Notice]) -> None:
    """Log each of ``notices`` on ``log``, in order."""
    for notice in notices:
        log.log(notice.level, notice.event, **notice.fields)
