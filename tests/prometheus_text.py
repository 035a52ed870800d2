"""A strict reader of the Prometheus text exposition format (0.0.4), for tests that check /metrics:
it refuses what a Prometheus server would refuse, and gives the samples back by name and labels."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}

Labels = frozenset[tuple[str, str]]


@dataclass
class Exposition:
    types: dict[str, str] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def by(self, name: str, label: str) -> dict[str, float]:
        """The samples of ``name`` by the value of ``label``."""
        samples = self.samples.items()
        return {dict(labels)[label]: value for (sample, labels), value in samples if sample == name}


def parse(text: str) -> Exposition:
    """Raises AssertionError, naming the line, for anything not in the format."""
    assert text.endswith("\n"), "the exposition must end with a line feed"
    found = Exposition()
    family: str | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in found.help, f"line {number}: a second HELP for {name}"
            found.help[name] = help_text
            family = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in _SUFFIXES, f"line {number}: unknown type {kind!r}"
            assert name not in found.types, f"line {number}: a second TYPE for {name}"
            assert name == family, f"line {number}: TYPE {name} does not follow its HELP"
            found.types[name] = kind
        else:
            matched = _SAMPLE.match(line)
            assert matched, f"line {number}: not a sample: {line!r}"
            name, label_text, value_text = matched.groups()
            assert family is not None and family in found.types, f"line {number}: a sample before its TYPE"
            suffix = name[len(family):]
            assert name.startswith(family) and suffix in _SUFFIXES[found.types[family]], (
                f"line {number}: {name} is not of the family {family}"
            )
            labels = _labels(label_text or "", number)
            key = (name, labels)
            assert key not in found.samples, f"line {number}: a series given twice"
            found.samples[key] = _value(value_text, number)
    return found


def _labels(text: str, number: int) -> Labels:
    pairs = []
    position = 0
    while position < len(text):
        matched = _LABEL.match(text, position)
        assert matched, f"line {number}: bad labels at {text[position:]!r}"
        raw = matched.group(2)
        pairs.append((matched.group(1), re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], raw)))
        position = matched.end()
    assert len({name for name, _ in pairs}) == len(pairs), f"line {number}: a label given twice"
    return frozenset(pairs)


def _value(text: str, number: int) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    value = float(text)
    assert math.isfinite(value), f"line {number}: {text!r} is not how the format writes it"
    return value
