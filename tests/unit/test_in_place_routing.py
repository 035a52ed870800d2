"""Which running partitions are taken in place: only once read to the end they had when learned, and
past every record this instance has sent to them since."""

from __future__ import annotations

from b12stream.stream.in_place import InPlaceRouting


def test_no_partition_is_taken_before_its_end_is_known() -> None:
    routing = InPlaceRouting()
    assert routing.unknown([0, 1]) == [0, 1]
    assert routing.ready({0: 10, 1: 0}) == {}


def test_a_partition_is_taken_once_read_to_its_learned_end() -> None:
    routing = InPlaceRouting()
    routing.learn({0: 7, 1: 0})
    assert routing.unknown([0, 1, 2]) == [2]
    assert routing.ready({0: 6, 1: 0, 2: 9}) == {1: 0}
    assert routing.ready({0: 7, 1: 0}) == {0: 7, 1: 0}
    assert routing.ready({0: None, 1: 0}) == {1: 0}  # a position not known yet is not read


def test_what_this_instance_sends_to_a_partition_must_be_read_before_it_is_taken_again() -> None:
    routing = InPlaceRouting()
    routing.learn({0: 7})
    routing.wrote({0: 12, 3: 40})
    assert routing.ready({0: 11}) == {}
    assert routing.ready({0: 12}) == {0: 12}
    routing.wrote({0: 9})  # an older end never lowers what must be read
    assert routing.ready({0: 12}) == {0: 12}
    # A partition not learned yet stays unknown: its end, when asked for, covers what was sent.
    assert routing.unknown([0, 3]) == [3]


def test_forgetting_asks_for_every_end_again() -> None:
    routing = InPlaceRouting()
    routing.learn({0: 7, 1: 3})
    routing.forget()
    assert routing.unknown([0, 1]) == [0, 1]
    assert routing.ready({0: 100, 1: 100}) == {}
