"""A correction is judged at the newest time: an alert it touches is retracted there alone, when its
finding holds neither there nor at its own time. The other evaluations of the same message retract
nothing for it, not even an alert said again at one of them on the corrected result: R02, updated at
the corrected blood count's own time, is not retracted at the time where a recovery (R09) branch is
re-checked, and raised again as a new alert (its content changes: an update)."""

from __future__ import annotations

import pytest

from b12stream.engine.engine import Engine
from tests.unit.engine.test_current_results import R02, R09, Result, oru
from tests.unit.engine.test_re_based_pages import run


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _count(value: str) -> Result:
    return ("777-3", "NM", value, "10*3/uL", "150-400", "")


def _adamts13(value: str) -> Result:
    return ("53622-7", "NM", value, "%", "61-131", "")


def _b12(value: str) -> Result:
    return ("2132-9", "NM", value, "ng/L", "180-900", "")


def _panel(
    count: str, haemoglobin: str, haptoglobin: Result, reticulocytes: str, hsn: str, creatinine: str
) -> list[Result]:
    return [
        _count(count),
        ("718-7", "NM", haemoglobin, "g/dL", "12.0-15.5", ""),
        ("787-2", "NM", "104", "fL", "80-100", ""),
        ("2532-0", "NM", "1400", "U/L", "135-250", ""),
        haptoglobin,
        ("4679-7", "NM", reticulocytes, "%", "0.5-2.5", ""),
        ("800-3", "ST", "Absent", "", "", ""),
        ("765-8", "ST", hsn, "", "", ""),
        ("6301-6", "NM", "1.1", "{INR}", "0.8-1.2", ""),
        ("2160-0", "NM", creatinine, "mg/dL", "0.5-1.1", ""),
    ]


HAPTOGLOBIN_NORMAL: Result = ("4542-7", "NM", "120", "mg/dL", "30-200", "")
HAPTOGLOBIN_LOW: Result = ("4542-7", "SN", "<^10", "mg/dL", "30-200", "L")

# R09 holds in two branches, each with an alert of its own: normalised (Mar 15) and worsening
# (Mar 19); R02, R06 (severe) and R01 are open too.
HISTORY = [
    oru("M17", "20260308100000", "F17", [_adamts13("5")]),
    oru("M19", "20260315000000", "F19", [_count("200"), _adamts13("15"), _b12("250")]),
    oru("M20", "20260307080000", "F20", _panel("80", "13.8", HAPTOGLOBIN_NORMAL, "6.0", "Present", "1.0")),
    oru("M21", "20260312200000", "F21", [("2132-9", "SN", "<^50", "pg/mL", "180-900", "L")]),
    oru("M24", "20260303200000", "F22", [("31443-5", "ST", "NEG", "", "", "N")], status="C"),
    oru("M25", "20260319140000", "F25", [_count("12"), _adamts13("72"), _b12("250")]),
    oru("M28", "20260305200000", "F28", [_b12("100"), ("2284-8", "NM", "8", "ng/mL", "3-20", "")]),
]
# The Mar 7 panel corrected: platelets 80 → 140, with other values of it changed and some not.
CORRECTED_PANEL = oru(
    "M30", "20260307080000", "F20", _panel("140", "8.5", HAPTOGLOBIN_LOW, "1.1", "Absent", "2.5"), status="C"
)


def test_an_alert_updated_at_the_corrected_results_time_is_not_retracted_before_the_newest_time(engine):
    *_, before, corrected = run(engine, [*HISTORY, CORRECTED_PANEL])
    recovery = sorted(a.branch for a in before.state.memory.open_alerts() if a.rule == R09)
    assert recovery == ["normalised", "worsening"]

    r02 = [(e["type"], e["severity"]) for e in corrected.events if e["rule"] == R02]
    assert r02 == [("alert_update", "medium"), ("alert_update", "info")]
    # Each recovery branch still holds, now or at its own time: neither is retracted.
    assert [e for e in corrected.events if e["rule"] == R09] == []
    assert corrected.pages == ()
