"""Patients' states kept decoded between batches, each with the stored bytes it was decoded from.

A returning patient's state is read back from the store at every result, and decoding it costs more
than everything else done for the message once the history holds a few weeks of blood counts
(docs/benchmarks.md, "Returning patients"). A state kept here is used only when the store still holds
exactly the bytes it was kept with, so an aborted batch, a restore from the changelog or another
process having owned the patient meanwhile can never bring back a stale state: the bytes differ, and
the state is decoded again.
"""

from __future__ import annotations

from collections import OrderedDict

from b12stream.engine.state import PatientState

__all__ = ["MEMORY_PER_STORED_BYTE", "DecodedStates"]

# Measured: a decoded state (its records, their JSON texts, the stored bytes themselves) takes about
# five and a half times its stored size in memory; its derived indexes add to that as it is used.
MEMORY_PER_STORED_BYTE = 6


class DecodedStates:
    """A least-recently-used set of decoded states by patient key, within ``budget_bytes`` of memory
    (estimated as ``MEMORY_PER_STORED_BYTE`` times their stored size). A budget of 0 keeps none."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._kept: OrderedDict[str, tuple[bytes, PatientState]] = OrderedDict()

    def decode(self, key: str, data: bytes) -> PatientState:
        """``PatientState.from_bytes(data)``, decoded only when the state kept for ``key`` is not
        the one stored as ``data``. Raises StateError as ``from_bytes`` does."""
        found = self._kept.get(key)
        if found is not None and found[0] == data:
            self._kept.move_to_end(key)
            return found[1]
        state = PatientState.from_bytes(data)
        self.keep(key, data, state)
        return state

    def keep(self, key: str, data: bytes, state: PatientState) -> None:
        """Keep ``state``, stored as ``data``, for ``key`` (replacing what was kept for it), then
        forget the least recently used states until the budget holds."""
        previous = self._kept.pop(key, None)
        if previous is not None:
            self._used -= _cost(previous[0])
        if _cost(data) > self._budget:
            return
        self._kept[key] = (data, state)
        self._used += _cost(data)
        while self._used > self._budget:
            _, (evicted, _) = self._kept.popitem(last=False)
            self._used -= _cost(evicted)

    def __len__(self) -> int:
        return len(self._kept)


def _cost(data: bytes) -> int:
    return len(data) * MEMORY_PER_STORED_BYTE
