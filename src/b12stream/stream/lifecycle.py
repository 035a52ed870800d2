"""The life of one stateful partition on this instance, with its valid transitions checked.

::

      on_partitions_assigned        restore starts          changelog caught up
    ───────────────────────► ASSIGNED ──────────► RESTORING ──────────────────► RUNNING
                               │  ▲  ▲               │  │                          │  │
                               │  │  └ state wiped ──┘  │                          │  │
                               │  └──────────── batch abandoned: restore again ────┘  │
                               ▼                        ▼                             ▼
                            REVOKED ◄─────────────────────────────────────────────── REVOKED
                    (on_partitions_revoked: the batch was committed before the poll that revoked it;
                     the partition's SQLite file is closed, its rows kept for a later assignment)

A record of a partition is processed only while it is RUNNING. After an abandoned batch the Kafka
transaction may or may not have committed, so the partition is restored again: the changelog says
which, and a restore that finds nothing new costs one offset lookup. Under at-least-once a partition
whose changelog another instance wrote to goes back to ASSIGNED the same way (stream/checkpoint.py,
``written_by_others``).
"""

from __future__ import annotations

import enum

from b12stream.errors import StreamError

__all__ = ["PartitionPhase", "PartitionTable"]


class PartitionPhase(enum.Enum):
    ASSIGNED = "assigned"
    RESTORING = "restoring"
    RUNNING = "running"
    REVOKED = "revoked"


_ALLOWED: dict[PartitionPhase | None, frozenset[PartitionPhase]] = {
    None: frozenset({PartitionPhase.ASSIGNED}),
    PartitionPhase.ASSIGNED: frozenset({PartitionPhase.RESTORING, PartitionPhase.REVOKED}),
    PartitionPhase.RESTORING: frozenset(
        {PartitionPhase.RUNNING, PartitionPhase.ASSIGNED, PartitionPhase.REVOKED}
    ),
    PartitionPhase.RUNNING: frozenset({PartitionPhase.REVOKED, PartitionPhase.ASSIGNED}),
    PartitionPhase.REVOKED: frozenset({PartitionPhase.ASSIGNED}),
}


class PartitionTable:
    """Phase of every stateful partition this instance has seen. Raises StreamError on a transition
    the diagram does not allow (a defect in the rebalance handling, never a data problem)."""

    def __init__(self) -> None:
        self._phases: dict[int, PartitionPhase] = {}

    def phase(self, partition: int) -> PartitionPhase | None:
        return self._phases.get(partition)

    def move(self, partition: int, phase: PartitionPhase) -> None:
        current = self._phases.get(partition)
        if phase not in _ALLOWED[current]:
            name = current.value if current else "unknown"
            raise StreamError(f"partition {partition}: cannot go from {name} to {phase.value}")
        self._phases[partition] = phase

    def in_phase(self, phase: PartitionPhase) -> list[int]:
        return sorted(p for p, current in self._phases.items() if current is phase)

    def is_running(self, partition: int) -> bool:
        return self._phases.get(partition) is PartitionPhase.RUNNING
