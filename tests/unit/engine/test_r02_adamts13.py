"""An open R02 and a later ADAMTS13 result without MAHA, on real messages (spec R02, R06, R11)."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import Outcome, process
from b12stream.engine.schemas import validation_errors
from b12stream.engine.state import PatientState
from b12stream.hl7.model import Rejection

R02 = "B12-LOW-THROMBOCYTOPENIA"
R06 = "TTP-ADAMTS13-SEVERE"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def obx(n: int, code: str, value: str, unit: str, reference: str, flag: str, collected: str) -> str:
    return f"OBX|{n}|NM|{code}^^LN||{value}|{unit}|{reference}|{flag}|||F|||{collected}"


def run(engine: Engine, *texts: str) -> list[Outcome]:
    state: PatientState | None = None
    outcomes = []
    for text in texts:
        accepted = ingest(text.encode(), engine)
        assert not isinstance(accepted, Rejection), accepted
        assert isinstance(accepted, Accepted)
        outcome = process(state or PatientState.empty(accepted.patient), accepted, engine)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def oru(control: str, collected: str, filler: str, *observations: tuple[str, str, str, str, str]) -> str:
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                "PID|1||A13R02^^^HOSP^MR||TEST^ADAMTS",
                f"OBR|1|P-{filler}|{filler}|PANEL^Panel^L|||{collected}|||||||||||||||{collected}||HM|F",
                *(obx(n, *item, collected) for n, item in enumerate(observations, 1)),
            ]
        )
        + "\r"
    )


PLT_B12 = oru(
    "M1",
    "20260302080000",
    "CBC1",
    ("777-3", "60", "10*3/uL", "150-400", "L"),
    ("2132-9", "100", "ng/L", "180-900", "L"),
)


def adamts13(percent: str) -> str:
    return oru("M2", "20260303080000", "A13", ("53622-7", percent, "%", "61-131", "L"))


def test_adamts13_below_10_percent_downgrades_the_open_r02_to_info(engine):
    first, second = run(engine, PLT_B12, adamts13("5"))
    (r02,) = [e for e in first.events if e["rule"] == R02]
    assert r02["severity"] == "medium"
    update, r06 = second.events
    assert (update["type"], update["rule"], update["severity"]) == ("alert_update", R02, "info")
    assert update["supersedes"] == r02["id"]
    assert "severely reduced" in update["detail"]
    assert (r06["rule"], r06["severity"]) == (R06, "critical")
    assert all(validation_errors(e) == [] for e in second.events)


def test_adamts13_in_the_grey_zone_retracts_the_open_r02(engine):
    first, second = run(engine, PLT_B12, adamts13("15"))
    (r02,) = [e for e in first.events if e["rule"] == R02]
    retraction, r06 = second.events
    assert (retraction["type"], retraction["alert_id"]) == ("retraction", r02["id"])
    assert (retraction["reason"], retraction["severity"]) == ("ADAMTS13 grey zone", "medium")
    assert (r06["rule"], r06["branch"], r06["severity"]) == (R06, "grey-zone", "high")
    assert all(validation_errors(e) == [] for e in second.events)


def test_adamts13_not_severe_leaves_the_open_r02_alone(engine):
    _, second = run(engine, PLT_B12, adamts13("65"))
    assert [e for e in second.events if e["rule"] == R02] == []
