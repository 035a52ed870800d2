"""slot_constructor builds exactly what the dataclass constructor builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from b12stream.hl7.model import CodedElement, RawObservation, StructuredNumeric
from b12stream.hl7.records import slot_constructor


@dataclass(frozen=True, slots=True)
class _Sample:
    first: str
    second: int = 2
    third: tuple[str, ...] = field(default_factory=tuple)


def test_same_record_as_the_constructor() -> None:
    values = ("1", "NM", CodedElement("777-3", "PLT", "LN"), "", ("85",), StructuredNumeric("", 85.0),
              "10*9/L", "150-400", ("L",), "F", datetime(2024, 3, 1, tzinfo=UTC), ("note",), 6, False)
    built = slot_constructor(RawObservation)(*values)
    assert built == RawObservation(*values)
    assert repr(built) == repr(RawObservation(*values))
    assert hash(built.code) == hash(CodedElement("777-3", "PLT", "LN"))


def test_missing_fields_take_their_defaults() -> None:
    make = slot_constructor(_Sample)
    assert make("a") == _Sample("a")
    assert make("a", 5, ("x",)) == _Sample("a", 5, ("x",))


@pytest.mark.parametrize("values", [(), ("a", 1, (), "extra")])
def test_wrong_number_of_values_raises(values: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        slot_constructor(_Sample)(*values)


def test_refuses_classes_it_cannot_build_faithfully() -> None:
    @dataclass
    class Mutable:
        value: int

    with pytest.raises(TypeError):
        slot_constructor(Mutable)
