"""OBX-7 reference ranges (``a-b``, ``a to b``, ``<b``, ``>a``, ``<=b``, ``>=a``) as lower, upper limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from b12stream.clinical.units import Conversion, convert
from b12stream.hl7.values import parse_decimal

__all__ = ["ReferenceRange", "parse_reference_range"]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_BETWEEN = re.compile(rf"^({_NUMBER})(?:[-–]|to)({_NUMBER})$", re.IGNORECASE)
_BOUND = re.compile(rf"^(<=|>=|<|>|≤|≥)({_NUMBER})$")


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """The lab's limits in the unit they were sent in; either may be None (one-sided or unreadable)."""

    low: float | None = None
    high: float | None = None

    def converted(self, conversion: Conversion) -> ReferenceRange:
        """The same limits in the conversion's unit; empty, as an unreadable range is, when a limit
        would be beyond the float range there."""
        low = None if self.low is None else convert(self.low, conversion)
        high = None if self.high is None else convert(self.high, conversion)
        if (low is None and self.low is not None) or (high is None and self.high is not None):
            return ReferenceRange()
        return ReferenceRange(low, high)


def parse_reference_range(text: str) -> ReferenceRange:
    """Limits from OBX-7; an empty `ReferenceRange` for anything else (text, ``0-2-7.2``, ``>2-7.2``,
    a limit beyond the float range).

    ``a-b`` (spaces allowed, en dash or ``to`` accepted) gives both limits, and is empty if ``a > b``;
    ``<b``/``<=b`` give the upper limit and ``>a``/``>=a`` the lower. Never raises.
    """
    compact = "".join(text.split())
    between = _BETWEEN.match(compact)
    if between is not None:
        low, high = parse_decimal(between.group(1)), parse_decimal(between.group(2))
        if low is None or high is None or low > high:
            return ReferenceRange()
        return ReferenceRange(low, high)
    bound = _BOUND.match(compact)
    if bound is not None:
        limit = parse_decimal(bound.group(2))
        if limit is None:
            return ReferenceRange()
        if bound.group(1) in ("<", "<=", "≤"):
            return ReferenceRange(high=limit)
        return ReferenceRange(low=limit)
    return ReferenceRange()
