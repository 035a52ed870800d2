"""Membership of the consumer group: the subscription, and the listener that hears each rebalance."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from b12stream.stream.clients import group_consumer
from b12stream.stream.settings import KafkaSettings
from b12stream.stream.status import EngineStatus

__all__ = ["GroupMember", "subscribed_consumer"]


class GroupMember(Protocol):
    """The instance a consumer's rebalances are told to."""

    stateful_topic: str
    status: EngineStatus
    joining_since: float | None  # when the join under way began; None once partitions are assigned

    def assign(self, partitions: Sequence[int]) -> None: ...

    def revoke(self, partitions: Sequence[int]) -> None: ...


def subscribed_consumer(settings: KafkaSettings, member: GroupMember) -> KafkaConsumer:
    """A group consumer subscribed to the instance's sources, its rebalances told to ``member``; it
    joins the group at its first poll. Raises kafka-python's errors as they come."""
    topics = settings.topics
    consumer = group_consumer(settings)
    sources = [topics.input] if settings.input_keyed_by_patient else [topics.input, topics.repartition]
    consumer.subscribe(sources, listener=_Listener(member))
    # Wait for a metadata answer after subscribing: the group leader assigns from the metadata it has
    # seen since then. Joining before it arrives, the leader assigns from nothing and rejoins as soon
    # as the answer comes; kafka-python 3.0 stops driving that rejoin if it must wait for another
    # member, and the instance is dropped from the group.
    consumer.topics()
    return consumer


class _Listener(ConsumerRebalanceListener):
    """Moves stateful partitions through their lifecycle. kafka-python swallows exceptions raised in
    these callbacks, so they only record phases; restoring happens in the loop, before processing.
    Keeps the partitions its consumer holds, for the engine's status (one listener per consumer)."""

    def __init__(self, member: GroupMember) -> None:
        self._member = member
        self._held: set[TopicPartition] = set()

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._member.joining_since = time.monotonic()  # a join follows every revocation
        self._held.difference_update(revoked)
        self._member.status.group(joined=False, held=len(self._held))
        self._member.revoke([tp.partition for tp in revoked if tp.topic == self._member.stateful_topic])

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._member.joining_since = None
        self._held.update(assigned)
        self._member.status.group(joined=True, held=len(self._held))
        self._member.assign([tp.partition for tp in assigned if tp.topic == self._member.stateful_topic])
