"""A numeric OBX-5 that repeats, read the same whatever the order of its repetitions: an empty
repetition or an HL7 null (``""``) is no value, one value among them is read as that value, and two
or more values are unusable, counted. Read from ER7 as the engine reads it (hl7 → terminology)."""

from __future__ import annotations

import pytest

from b12stream.commands.inspect import inspect_bytes
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.hl7.model import OruMessage
from b12stream.hl7.oru import read_oru
from tests.unit.engine.builders import oru

REPEATED = (
    "platelets: OBX-5 repeats ({n} values) for a numeric result ({kind}): which one is the result is unknown")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _message(value: str, value_type: str) -> bytes:
    return oru("M1", "20260302080000", value).replace("|NM|777-3", f"|{value_type}|777-3").encode()


def _platelets(engine: Engine, value: str, value_type: str) -> tuple[float | None, str, str, str]:
    accepted = ingest(_message(value, value_type), engine)
    assert isinstance(accepted, Accepted)
    (count,) = accepted.observations
    return count.value, count.comparator, count.text, count.unusable_reason


@pytest.mark.parametrize(
    ("value", "value_type", "read"),
    [
        ("~<^150", "SN", (150, "<")),
        ("<^150~", "SN", (150, "<")),
        ('""~<^150', "SN", (150, "<")),
        ("~~150", "NM", (150, "")),
        ('150~""', "NM", (150, "")),
        ('""~150', "NM", (150, "")),
        ("~150~", "NM", (150, "")),
        ("150", "NM", (150, "")),
    ],
)
def test_one_value_among_empty_repetitions_is_read_wherever_it_sits(
    engine: Engine, value: str, value_type: str, read: tuple[float, str]
) -> None:
    assert _platelets(engine, value, value_type) == (*read, "", "")


@pytest.mark.parametrize(
    ("value", "value_type", "count", "text"),
    [
        ("150~160", "NM", 2, "150, 160"),
        ("~150~160", "NM", 2, "150, 160"),
        ('150~""~160', "NM", 2, "150, 160"),
        ("150~160~170", "NM", 3, "150, 160, 170"),
        ("~<^150~^160", "SN", 2, "<^150, ^160"),
    ],
)
def test_two_or_more_values_are_unusable_and_counted_without_the_empty_ones(
    engine: Engine, value: str, value_type: str, count: int, text: str
) -> None:
    assert _platelets(engine, value, value_type) == (
        None, "", text, REPEATED.format(n=count, kind=value_type))


@pytest.mark.parametrize("value", ["~", '""~""', "~  ~"])
def test_only_empty_repetitions_are_no_value(engine: Engine, value: str) -> None:
    assert _platelets(engine, value, "NM") == (None, "", "", "")


@pytest.mark.parametrize("value", ["~<^150", "<^150~", '150~""', "~150~160"])
def test_hl7_keeps_the_values_alone(value: str) -> None:
    """What every reader (terminology, inspect) counts: the values, never the empty repetitions."""
    message = read_oru(_message(value, "SN"))
    assert isinstance(message, OruMessage)
    (count,) = message.orders[0].observations
    assert count.values == tuple(part for part in value.split("~") if part not in ("", '""'))


@pytest.mark.parametrize(("value", "read"), [("~<^150", 150), ("~150~160", None)])
def test_inspect_shows_what_ingest_reads(engine: Engine, value: str, read: float | None) -> None:
    [line] = inspect_bytes(_message(value, "SN"), "repeated.hl7", engine.terminology, engine.key_rule)
    (count,) = line["observations"]
    value_read, _, _, reason = _platelets(engine, value, "SN")
    assert (count["value"], count["unusable_reason"]) == (value_read, reason)
    assert count["value"] == read
