"""process() on short result lists: corrections are judged against the patient's current results
(R10) and a B12 drawn just before the count that opens the episode counts for it (spec 2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState

R01 = "B12-UNKNOWN-THROMBOCYTOPENIA"
R02 = "B12-LOW-THROMBOCYTOPENIA"

# (LOINC, OBX-2 value type, value, unit, range, OBX-8 flag)
Result = tuple[str, str, str, str, str, str]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def oru(control: str, collected: str, filler: str, results: list[Result], *, status: str = "F") -> bytes:
    lines = [
        f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01|{control}|P|2.5",
        "PID|1||CR0001^^^HOSP^MR||TEST^CURRENT||19600101|F",
        f"OBR|1|P-{filler}|{filler}|PANEL^Panel^L|||{collected}|||||||||||||||{collected}||HM|{status}",
    ]
    for index, (code, kind, value, unit, limits, flag) in enumerate(results, 1):
        lines.append(
            f"OBX|{index}|{kind}|{code}^x^LN|1|{value}|{unit}|{limits}|{flag}|||{status}|||{collected}"
        )
    return ("\r".join(lines) + "\r").encode()


def plt(value: str) -> Result:
    return ("777-3", "NM", value, "10*3/uL", "150-400", "L" if float(value) < 150 else "")


def b12(value: str) -> Result:
    return ("2132-9", "NM", value, "ng/L", "180-900", "L")


def feed(engine: Engine, messages: list[bytes]) -> list[list[dict[str, Any]]]:
    """Events per message, and the pages of the last message under the key 'pages'."""
    state: PatientState | None = None
    per_message = []
    for raw in messages:
        accepted = ingest(raw, engine)
        assert isinstance(accepted, Accepted)
        state = state or PatientState.empty(accepted.patient)
        outcome = process(state, accepted, engine)
        state = outcome.state
        per_message.append([*outcome.events, *({"page": p} for p in outcome.pages)])
    return per_message


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        ("page", e["page"]["event_action"], "") if "page" in e else (e["type"], e["rule"], e["severity"])
        for e in events
    ]


def test_a_b12_drawn_five_minutes_before_the_count_gives_r02_at_the_count(engine):
    count = oru("C1", "20260302080000", "CBC1", [plt("60")])
    early_b12 = oru("C2", "20260302075500", "B12A", [b12("100")])
    first, second = feed(engine, [count, early_b12])
    assert kinds(first) == [("alert", R01, "medium")]
    assert kinds(second) == [("alert", R02, "medium")]
    assert second[0]["observed_at"] == "2026-03-02T08:00:00Z"

