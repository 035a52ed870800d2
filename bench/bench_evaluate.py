"""Rule evaluation cost: evaluate() on small and long patient histories, one process.

Run by hand: ``.venv/bin/python bench/bench_evaluate.py [--repeat 50]``. Histories are built from
canonical observations (no HL7): a pseudo-TMA admission (S7-like, ~11 results), and a 60-day
thrombocytopenia episode with a daily count, haemoglobin, LDH and MCV, a low B12 and a positive
film (~240 results: the worst case, because R09 looks back over every trigger in the episode).
Prints milliseconds per evaluate() call for each, three ways:

* ``again``  — the same history object evaluated again (what it derived the first time is reused);
* ``fresh``  — a history built afresh from the same records each time (nothing derived yet);
* ``grown``  — the stream's pattern: the history without its last day, evaluated, then the last
  day's results applied and the grown history evaluated (only the latter is timed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
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


def _timed(
    prepare: Callable[[], PatientHistory], run: Callable[[PatientHistory], object], repeat: int
) -> float:
    """Milliseconds per ``run`` call, ``prepare`` untimed."""
    elapsed = 0.0
    for _ in range(repeat):
        history = prepare()
        started = time.perf_counter()
        run(history)
        elapsed += time.perf_counter() - started
    return elapsed / repeat * 1000


def _measure(name: str, items: list[Observation], config: RulesConfig, repeat: int) -> None:
    patient = PatientKey("bench", "BENCH")
    history, _ = PatientHistory.empty(patient).apply(items)
    at = history.records[-1].observed_at
    earlier = [item for item in items if item.observed_at.date() != at.date()]
    last_day = [item for item in items if item.observed_at.date() == at.date()]

    def before_last_day() -> PatientHistory:
        grown, _ = PatientHistory.empty(patient).apply(earlier)
        evaluate(grown, max(item.observed_at for item in earlier), config)
        return grown

    again = _timed(lambda: history, lambda h: evaluate(h, at, config), repeat)
    fresh = _timed(
        lambda: PatientHistory(history.patient, history.records), lambda h: evaluate(h, at, config), repeat
    )
    grown = _timed(before_last_day, lambda h: evaluate(h.apply(last_day)[0], at, config), repeat)
    print(
        f"{name}: {len(history.records)} results, ms per evaluate(): again {again:.2f}, "
        f"fresh {fresh:.2f}, grown by the last day {grown:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    config = RulesConfig()
    _measure("admission", _admission(), config, args.repeat)
    _measure("60-day episode", _long_episode(), config, args.repeat)


if __name__ == "__main__":
    main()
