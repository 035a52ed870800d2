"""Parse throughput: b12stream's HL7 ingest against hl7apy on the same ORU^R01 bytes, one process.

Run by hand: ``.venv/bin/python bench/bench_parse.py [--seconds 3] [--rounds 5]``. For each sample
(a ~1.3 KB CBC and a 50-result chemistry panel) it times, over a pool of 4096 distinct messages
(values, identifiers and times differ from message to message, so memoisation is not flattered):

* ours: ``split_messages`` + ``read_oru`` (+ ``Terminology.observations`` when the terminology
  module is importable), i.e. bytes to canonical observations;
* hl7apy: ``parse_message`` (tolerant validation) on the decoded text, with and without group
  finding; hl7apy extracts nothing, so the comparison flatters it.

Prints messages per CPU second of this process for each (the best of interleaved rounds, so a busy
shared machine disturbs the comparison less), and the ratio of ours to each hl7apy variant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import OruMessage
from b12stream.hl7.oru import read_oru
from data.oru_samples import cbc_message, chemistry_panel_message

_POOL = 4096


def _ours(normalise: Callable[[OruMessage], object] | None) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        result = None
        for frame in split_messages(data):
            result = read_oru(frame.data)
            if normalise is not None and isinstance(result, OruMessage):
                result = normalise(result)
        return result

    return run


def _hl7apy(find_groups: bool) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        return parse_message(data.decode("utf-8"), validation_level=VALIDATION_LEVEL.TOLERANT,
                             find_groups=find_groups)

    return run


def _round(
    parse: Callable[[bytes], object], pool: list[bytes], start: int, seconds: float
) -> tuple[float, int]:
    """Messages per CPU second over one round of at least ``seconds``, and where the round stopped.

    CPU time of this process (not wall time), so other work on a shared machine counts less.
    """
    count, position, started = 0, start, time.process_time()
    while True:
        for _ in range(8):
            parse(pool[position])
            position = (position + 1) % len(pool)
        count += 8
        now = time.process_time()
        if now - started >= seconds:
            return count / (now - started), position


def _best_rates(variants: dict[str, Callable[[bytes], object]], pool: list[bytes], seconds: float,
                rounds: int) -> dict[str, float]:
    """Each variant's best rate over ``rounds`` interleaved rounds (interleaving spreads machine noise)."""
    for parse in variants.values():
        for data in pool[:20]:
            parse(data)
    best = dict.fromkeys(variants, 0.0)
    positions = dict.fromkeys(variants, 0)
    for _ in range(rounds):
        for name, parse in variants.items():
            rate, positions[name] = _round(parse, pool, positions[name], seconds / rounds)
            best[name] = max(best[name], rate)
    return best


def _normaliser() -> tuple[Callable[[OruMessage], object] | None, str]:
    try:
        terminology = importlib.import_module("b12stream.clinical.terminology")
    except ImportError:
        return None, "parse+extract (terminology not available)"
    loaded = terminology.Terminology.load()
    return loaded.observations, "parse+extract+normalise"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per variant and sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the best one counts")
    args = parser.parse_args()
    normalise, ours_label = _normaliser()
    variants = {f"b12stream {ours_label}": _ours(normalise)}
    if normalise is not None:
        variants["b12stream parse+extract"] = _ours(None)
    variants["hl7apy parse_message find_groups=True"] = _hl7apy(True)
    variants["hl7apy parse_message find_groups=False"] = _hl7apy(False)
    print(f"python {sys.version.split()[0]}, one process, messages per CPU second "
          f"(best of {args.rounds} interleaved rounds)")
    for name, build in (("CBC ORU^R01", cbc_message), ("chemistry 50-OBX ORU^R01", chemistry_panel_message)):
        pool = [build(i) for i in range(_POOL)]
        sample = read_oru(pool[0])
        assert isinstance(sample, OruMessage)
        observations = sum(len(order.observations) for order in sample.orders)
        rates = _best_rates(variants, pool, args.seconds, args.rounds)
        hl7apy_rates = [rate for label, rate in rates.items() if label.startswith("hl7apy")]
        print(f"\n{name}: {len(pool[0])} bytes, {observations} OBX")
        for label, rate in rates.items():
            ratios = "" if label.startswith("hl7apy") else "   vs hl7apy: " + ", ".join(
                f"{rate / other:,.0f}x" for other in hl7apy_rates)
            print(f"  {label:<42} {rate:>9,.0f}{ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
