"""HL7 v2 DTM/TS text to timezone-aware datetimes: YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

__all__ = ["parse_ts"]

_DIGITS = frozenset("0123456789")
# Fixed offsets are interned: a feed uses one or two, and timezone() objects are immutable.
_OFFSETS: dict[str, timezone] = {}


def parse_ts(text: str) -> datetime | None:
    """Parse an HL7 timestamp; missing month/day default to 1, missing time parts to 0.

    A timestamp without an offset is taken as UTC. Fractional seconds are kept to the
    microsecond. Anything malformed (wrong length, letters, impossible date or offset) gives
    ``None``; this function never raises. Results are memoised: a feed repeats its timestamps.
    """
    if not text:
        return None
    return _parse_cached(text)


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> datetime | None:
    text = text.strip()
    offset = UTC
    sign_at = max(text.find("+"), text.find("-"))
    if sign_at != -1:
        zone = _offset(text[sign_at:])
        if zone is None:
            return None
        offset = zone
        text = text[:sign_at]
    fraction = ""
    if "." in text:
        text, _, fraction = text.partition(".")
        if not fraction or not _DIGITS.issuperset(fraction) or len(text) != 14:
            return None
    length = len(text)
    if length not in (4, 6, 8, 10, 12, 14) or not _DIGITS.issuperset(text):
        return None
    try:
        return datetime(
            int(text[0:4]),
            int(text[4:6]) if length >= 6 else 1,
            int(text[6:8]) if length >= 8 else 1,
            int(text[8:10]) if length >= 10 else 0,
            int(text[10:12]) if length >= 12 else 0,
            int(text[12:14]) if length >= 14 else 0,
            int((fraction + "000000")[:6]) if fraction else 0,
            tzinfo=offset,
        )
    except ValueError:
        return None


def _offset(text: str) -> timezone | None:
    """``+HHMM`` / ``-HHMM`` to a fixed offset; ``None`` when malformed."""
    zone = _OFFSETS.get(text)
    if zone is not None:
        return zone
    digits = text[1:]
    if len(digits) != 4 or not _DIGITS.issuperset(digits):
        return None
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    zone = timezone(-delta if text[0] == "-" else delta) if delta else UTC
    _OFFSETS[text] = zone
    return zone
