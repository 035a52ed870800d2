"""The parse hot path's short cuts give what the general path gives: framing, charset, memos, records."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from b12stream.hl7.charset import decode_message
from b12stream.hl7.decoders import _DECODERS
from b12stream.hl7.er7 import FieldMemo
from b12stream.hl7.framing import Frame, split_messages
from b12stream.hl7.model import CodedElement, OruMessage, RawObservation, Rejection, StructuredNumeric
from b12stream.hl7.oru import read_oru
from b12stream.hl7.records import slot_constructor

MSH = "MSH|^~\\&|LIS|LAB|B12|HOSP|20240301083000||ORU^R01|C{n}|P|2.5.1"
BODY = "PID|1||MRN1^^^HOSP^MR\rOBR|1|P1|F1|58410-2^CBC^LN|||20240301071500\r"
OBX = "OBX|1|NM|777-3^PLT^LN||85|10*9/L|150-400|L|||F|||20240301071500"


def _message(n: int = 1, *, obx: str = OBX, msh: str = MSH) -> bytes:
    return (msh.format(n=n) + "\r" + BODY + obx + "\r").encode()


def _read(data: bytes) -> OruMessage:
    result = read_oru(data)
    assert isinstance(result, OruMessage), result
    return result


ONE = _message(1)
TWO = _message(2)


@pytest.mark.parametrize(
    ("data", "frames"),
    [
        # concatenations the single-message short cut must leave to the line-by-line scan
        (ONE.rstrip() + b"\n" + TWO, [Frame(ONE.rstrip(), 0), Frame(TWO.rstrip(), len(ONE))]),
        (ONE + b" \x0b" + TWO + b"\x1c", [Frame(ONE.rstrip(), 0), Frame(TWO.rstrip(), len(ONE) + 2)]),
        (ONE.rstrip() + b"\x1c\r" + TWO, [Frame(ONE.rstrip(), 0), Frame(TWO.rstrip(), len(ONE) + 1)]),
        (ONE + b"BTS|1\r", [Frame(ONE.rstrip(), 0)]),
        (ONE.replace(b"\r", b"\n") + b"FTS|1", [Frame(ONE.replace(b"\r", b"\n").rstrip(), 0)]),
        # boundary ids inside a line, and envelope letters in values, start nothing
        (_message(obx=OBX.replace("|85|", "|see MSH BHS FTS|")),
         [Frame(_message(obx=OBX.replace("|85|", "|see MSH BHS FTS|")).rstrip(), 0)]),
        (b"\r\n" + ONE.replace(b"\r", b"\r\n"), [Frame(ONE.replace(b"\r", b"\r\n").rstrip(), 2)]),
    ],
)
def test_split_messages_short_cut_defers_to_the_scan(data: bytes, frames: list[Frame]) -> None:
    assert split_messages(data) == frames


def test_msh18_is_read_when_it_is_the_last_field() -> None:
    header = "MSH|^~\\&|A|B|C|D|20240301||ORU^R01|1|P|2.5|||||"
    assert header.count("|") == 16
    latin = (header + "|8859/1\rNTE|1||Jos\xe9").encode("latin-1")
    assert decode_message(latin).note == "MSH-18 8859/1"
    no_msh18 = (header + "\rNTE|1||Jos\xe9").encode("utf-8")
    assert (decode_message(no_msh18).codec, decode_message(no_msh18).note) == ("utf-8", "utf-8")


def test_memoised_fields_follow_each_messages_delimiters() -> None:
    default = _message(obx=OBX.replace("|10*9/L|", "|mg#dL^x|"))
    hashes = _message(msh=MSH.replace("|^~\\&|", "|#~\\&|").replace("ORU^R01", "ORU#R01"),
                      obx=OBX.replace("|10*9/L|", "|mg#dL^x|").replace("^", "#"))
    for data, units in [(default, "mg#dL"), (hashes, "mg"), (default, "mg#dL"), (hashes, "mg")]:
        observation = _read(data).orders[0].observations[0]
        assert observation.units == units
        assert observation.code == CodedElement("777-3", "PLT", "LN")


def test_separator_inside_the_first_three_characters_is_a_malformed_id() -> None:
    rejection = read_oru(_message(obx="A|B|C"))
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith("malformed segment id (1 character,")
    assert (rejection.location.segment, rejection.location.segment_index) == (None, 4)
    assert isinstance(read_oru(_message(obx="OBXX|1")), Rejection)


def test_bare_obx_segment_is_an_empty_observation() -> None:
    (observation,) = _read(_message(obx="OBX")).orders[0].observations
    assert (observation.set_id, observation.values, observation.numeric, observation.segment_index) == (
        "", (), None, 4)


def test_comments_stay_with_their_observation_across_orders() -> None:
    second = "OBR|2|P2|F2|2132-9^B12^LN\r" + OBX.replace("|1|NM|", "|1|SN|").replace("|85|", "|<^50|")
    text = OBX + "\rNTE|1||first\rZLR|1\rNTE|2||second\r" + second + "\rNTE|1||third"
    orders = _read(_message(obx=text)).orders
    assert orders[0].observations[0].comments == ("first", "second")
    assert orders[1].observations[0].comments == ("third",)
    assert orders[1].observations[0].numeric == StructuredNumeric("<", 50.0)


def test_field_memo_decodes_each_text_once_and_stays_bounded() -> None:
    calls: list[str] = []

    def decode(raw: str) -> str:
        calls.append(raw)
        return raw.upper()

    memo: FieldMemo[str] = FieldMemo(decode)
    assert (memo["a"], memo["a"], memo["b"]) == ("A", "A", "B")
    assert calls == ["a", "b"]
    for i in range(10_000):
        assert memo[f"k{i}"] == f"K{i}"
    assert len(memo) <= 4096



def test_observation_descriptions_keep_each_value_type_and_stay_bounded() -> None:
    # The same OBX-5 text read as NM, then ST, then as many other value types as fill the cache.
    for value_type in ["NM", "ST", "NM", *(f"Z{i}" for i in range(100)), "NM", "ST"]:
        observation = _read(_message(obx=OBX.replace("|NM|", f"|{value_type}|"))).orders[0].observations[0]
        assert (observation.value_type, observation.values) == (value_type, ("85",))
        assert observation.numeric == (StructuredNumeric("", 85.0) if value_type == "NM" else None)
    decoders = [entry for _, entry in _DECODERS.values()]
    assert all(len(d.descriptions) <= 4096 and len(d._values) <= 32 for d in decoders)

@dataclass(frozen=True, slots=True)
class _WithFactory:
    name: str
    items: list[str] = field(default_factory=list)


def test_slot_constructor_builds_an_ordinary_frozen_instance() -> None:
    values = ("1", "NM", CodedElement("777-3", "PLT", "LN"), "", ("85",), StructuredNumeric("", 85.0),
              "10*9/L", "150-400", ("L",), "F", None, ("note",), 6, False)
    built = slot_constructor(RawObservation)(*values)
    assert type(built) is RawObservation
    assert built == RawObservation(*values) and hash(built) == hash(RawObservation(*values))
    with pytest.raises(FrozenInstanceError):
        built.units = "g/L"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.deepcopy(built) == built


def test_slot_constructor_calls_default_factories_per_record() -> None:
    make = slot_constructor(_WithFactory)
    first, second = make("a"), make("b")
    assert first.items == [] and first.items is not second.items
    assert make("c", ["x"]) == _WithFactory("c", ["x"])


def test_slot_constructor_refuses_layouts_it_cannot_mirror() -> None:
    @dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (Derived, KeywordOnly):
        with pytest.raises(TypeError):
            slot_constructor(cls)


def test_slot_constructor_skips_a_post_init_only_when_asked() -> None:
    @dataclass(frozen=True, slots=True)
    class Sorted:
        items: tuple[int, ...]

        def __post_init__(self) -> None:
            object.__setattr__(self, "items", tuple(sorted(self.items)))

    with pytest.raises(TypeError):
        slot_constructor(Sorted)
    built = slot_constructor(Sorted, without_post_init=True)((2, 1))
    assert type(built) is Sorted and built.items == (2, 1)
    with pytest.raises(FrozenInstanceError):
        built.items = ()  # type: ignore[misc]
