"""Garbage-collector settings for the commands that work through many messages (run, replay)."""

from __future__ import annotations

import gc

__all__ = ["settle_for_streaming"]

# Processing one CBC allocates thousands of small, acyclic, short-lived objects (segments, fields,
# observations, tuples). With CPython's default thresholds (700, 10, 10) the cyclic collector ran
# ~570 young, ~50 middle and 4 full collections per 24,000 messages and took about a tenth of replay's
# time; each full collection walks every object the process holds, a pause that lands in the latency
# tail. Reference counting frees these objects anyway; the collector is only for cycles, which the
# engine's immutable data does not form.
_YOUNG = 50_000
_MIDDLE = 20
_OLD = 100


def settle_for_streaming() -> None:
    """Move everything loaded so far (configuration, terminology, rules, modules) out of the
    collector's sight for good, and collect the young generations far less often."""
    gc.freeze()
    gc.set_threshold(_YOUNG, _MIDDLE, _OLD)
