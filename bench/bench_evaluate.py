"""Rule evaluation cost: evaluate() on small and long patient histories, one process.

Run by hand: ``.venv/bin/python bench/bench_evaluate.py [--repeat 50]``. Histories are built from
canonical observations (no HL7): a pseudo-TMA admission (S7-like, ~11 results), and a 60-day
thrombocytopenia episode with a daily count, haemoglobin, LDH and MCV, a low B12 and a positive
film (~240 results: the worst case, because R09 looks back over every trigger in the episode).
Prints milliseconds per evaluate() call for each.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from b12stream.clinical.evaluate import evaluate
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.clinical.rules_config import RulesConfig

_START = datetime(2026, 1, 1, 8, tzinfo=UTC)


def _result(
    analyte: str, value: float | None, day: int, text: str = "", high: float | None = None
) -> Observation:
    at = _START + timedelta(days=day)
    return Observation(
        analyte=analyte,
        code=analyte,
        value=value,
        unit="",
        observed_at=at,
        status="F",
        result_key=ResultKey(f"{analyte}-{day}", analyte, "1"),
        source_message_id="bench",
        text=text,
        reference_high=high,
    )


def _admission() -> list[Observation]:
    return [
        _result("platelets", 45, 0),
        _result("hemoglobin", 62, 0),
        _result("mcv", 112, 0),
        _result("ldh", 4200, 0, high=250),
        _result("haptoglobin", 0.05, 0),
        _result("reticulocytes_pct", 1.1, 0),
        _result("schistocytes", None, 0, text="Present"),
        _result("hypersegmented_neutrophils", None, 0, text="Present"),
        _result("inr", 1.1, 0),
        _result("creatinine", 88, 0),
        _result("adamts13_activity", 72, 2),
    ]


def _long_episode() -> list[Observation]:
    items = [_result("b12_total", 120, 5), _result("schistocytes", None, 5, text="Present")]
    for day in range(60):
        items += [
            _result("platelets", (40, 60, 90, 120)[day % 4], day),
            _result("hemoglobin", 90, day),
            _result("ldh", 900, day, high=250),
            _result("mcv", 105, day),
        ]
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    config = RulesConfig()
    for name, items in (("admission", _admission()), ("60-day episode", _long_episode())):
        history, _ = PatientHistory.empty(PatientKey("bench", "BENCH")).apply(items)
        at = history.records[-1].observed_at
        started = time.perf_counter()
        for _ in range(args.repeat):
            evaluate(history, at, config)
        elapsed = (time.perf_counter() - started) / args.repeat * 1000
        print(f"{name}: {len(history.records)} results, {elapsed:.2f} ms per evaluate()")


if __name__ == "__main__":
    main()
