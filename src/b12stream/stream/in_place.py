"""Which repartition partitions may take their new messages straight from the ingest stage.

Under exactly-once, a message whose patient hashes to a repartition partition this instance runs can
be processed in the very transaction that reads it from the input: the state, the outputs, the
changelog record and the input offset still commit together, so the repartition topic's write and
second read buy nothing. That is safe only while no earlier message of that partition's patients
is still waiting in the topic, or a later result would be applied before an earlier one. So a
partition is taken in place only once this instance has read it

- to the end its log had when the partition started running here (``learn``), which covers whatever
  an earlier owner, or this instance before a crash or an abandoned batch, sent to it, and
- past every record this instance has sent to it since (``wrote``).

That end is the high watermark, not the last stable offset a read_committed reader sees: records
sent before another instance's transaction still open would lie beyond the latter, and this
instance's reader reaches the high watermark only once every transaction below it is resolved.
Records that other instances send meanwhile come from other input partitions, whose order against
this one's was never defined. Anything that makes the offsets doubtful (an abandoned batch, a
rebalance) calls ``forget``, and each partition is learned again from the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["InPlaceRouting"]


class InPlaceRouting:
    """For each running partition, the offset this instance must have read it to before it takes
    that partition's messages in place. Plain data; the stream app asks the broker."""

    def __init__(self) -> None:
        self._floors: dict[int, int] = {}

    def forget(self) -> None:
        self._floors.clear()

    def unknown(self, running: Iterable[int]) -> list[int]:
        """The running partitions whose end must be asked for before any is taken in place."""
        return [partition for partition in running if partition not in self._floors]

    def learn(self, ends: Mapping[int, int]) -> None:
        """The high watermarks of partitions ``unknown`` named, read after they started running here."""
        self._floors.update(ends)

    def wrote(self, ends: Mapping[int, int]) -> None:
        """This instance's committed records end at these offsets. A partition not learned yet is
        left unknown: its end, once asked for, covers them."""
        for partition, end in ends.items():
            if partition in self._floors:
                self._floors[partition] = max(self._floors[partition], end)

    def ready(self, positions: Mapping[int, int | None]) -> dict[int, int]:
        """Of the partitions at these read positions (None: not known yet), those to take in place,
        with their positions."""
        return {
            partition: position
            for partition, position in positions.items()
            if position is not None and partition in self._floors and position >= self._floors[partition]
        }
