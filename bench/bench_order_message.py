"""Time one OML^O21 suggested-order message: the engine's ER7 writer against hl7apy building it.

Run by hand from the repository root: `.venv/bin/python bench/bench_order_message.py`.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.hl7.oml_reference import reference_oml

from b12stream.hl7.build import OrderLine, OrderRequest, build_oml

REQUEST = OrderRequest(
    control_id="3f1c0a9e5d7b2c4e6a8f",
    message_time=datetime(2026, 3, 2, 9, tzinfo=UTC),
    patient_id="MRN004512",
    assigning_authority="NORTHLAB",
    orders=(
        OrderLine(
            "3f1c0a9e5d7b2c4e6a8",
            "2132-9",
            "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma",
            stat=True,
        ),
        OrderLine("5b8e1d2f4a6c8e0b2d4", "2284-8", "Folate [Mass/volume] in Serum or Plasma"),
        OrderLine("9a7c5e3b1d9f7a5c3e1", "18314-5", "Morphology [interpretation] in Blood Narrative"),
    ),
    parent_filler_order_number="FIL-000777",
)


def per_message_ms(build: object, seconds: float) -> float:
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        build(REQUEST)  # type: ignore[operator]
        count += 1
    return (time.process_time() - started) / count * 1000


def main() -> None:
    assert build_oml(REQUEST) == reference_oml(REQUEST), "writer and hl7apy disagree"
    writer = per_message_ms(build_oml, 2.0)
    hl7apy = per_message_ms(reference_oml, 4.0)
    print(f"3-order OML^O21, CPU time per message: writer {writer:.4f} ms, hl7apy {hl7apy:.1f} ms")
    print(f"writer is {hl7apy / writer:,.0f}x faster")


if __name__ == "__main__":
    main()
