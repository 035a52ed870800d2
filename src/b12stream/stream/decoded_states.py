"""Patients' states kept decoded between batches, each with the stored bytes it was decoded from.

A returning patient's state is read back from the store at every result, and decoding it costs more
than everything else done for the message once the history holds a few weeks of blood counts
(docs/benchmarks.md, "Returning patients"). A state kept here is used only when the store still holds
exactly the bytes it was kept with, so an aborted batch, a restore from the changelog or another
process having owned the patient meanwhile can never bring back a stale state: the bytes differ, and
the state is decoded again.
"""

from __future__ import annotations

import random

from b12stream.engine.state import PatientState

__all__ = ["MEMORY_PER_STORED_BYTE", "DecodedStates"]

# Measured: a decoded state (its records, their JSON texts, the stored bytes themselves) takes about
# five and a half times its stored size in memory; its derived indexes add to that as it is used.
MEMORY_PER_STORED_BYTE = 6


class DecodedStates:
    """Decoded states by patient key, within ``budget_bytes`` of memory (estimated as
    ``MEMORY_PER_STORED_BYTE`` times their stored size). A budget of 0 keeps none.

    When the budget is full, states leave at random. Results come in rounds (a ward's daily blood
    counts): when a round holds more patients than fit, dropping the least recently used state would
    drop each one just before its patient's next result, and nothing would ever be found; dropping
    at random keeps a share of them found in every round."""

    def __init__(self, budget_bytes: int) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._kept: dict[str, tuple[bytes, PatientState]] = {}
        self._keys: list[str] = []  # the kept keys, for an even random choice
        self._slot: dict[str, int] = {}  # each kept key's index in _keys
        self._chance = random.Random(0)  # seeded: a run is repeatable, down to what it keeps

    def decode(self, key: str, data: bytes) -> PatientState:
        """``PatientState.from_bytes(data)``, decoded only when the state kept for ``key`` is not
        the one stored as ``data``. Raises StateError as ``from_bytes`` does."""
        found = self._kept.get(key)
        if found is not None and found[0] == data:
            return found[1]
        state = PatientState.from_bytes(data)
        self.keep(key, data, state)
        return state

    def keep(self, key: str, data: bytes, state: PatientState) -> None:
        """Keep ``state``, stored as ``data``, for ``key`` (replacing what was kept for it), then
        drop states at random until the budget holds."""
        if key in self._kept:
            self._drop(key)
        cost = len(data) * MEMORY_PER_STORED_BYTE
        if cost > self._budget:
            return
        while self._used + cost > self._budget:
            self._drop(self._keys[self._chance.randrange(len(self._keys))])
        self._kept[key] = (data, state)
        self._slot[key] = len(self._keys)
        self._keys.append(key)
        self._used += cost

    def __len__(self) -> int:
        return len(self._kept)

    def _drop(self, key: str) -> None:
        data, _ = self._kept.pop(key)
        self._used -= len(data) * MEMORY_PER_STORED_BYTE
        index = self._slot.pop(key)
        last = self._keys.pop()
        if last != key:
            self._keys[index] = last
            self._slot[last] = index
