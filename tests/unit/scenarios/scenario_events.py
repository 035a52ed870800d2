"""Compare the events `b12stream replay` prints for a sample file with a scenario's expected events."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from pprint import pformat
from typing import Any

from b12stream.cli import main

__all__ = ["Expected", "alert", "check_events", "digest", "replay", "retract", "update"]

Digest = tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]

AS_RETRACTED = "as retracted"  # a retraction carries the severity of the alert it withdraws (R10)


def _instant(text: str) -> str:
    """One spelling per instant, so `...Z` and `...+00:00` compare equal."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _codes(text: str) -> tuple[str, ...]:
    return tuple(sorted(text.split()))


@dataclass(frozen=True)
class Expected:
    """One expected event. ``orders``/``stat`` are LOINC codes; ``previously`` maps LOINC -> ISO time.

    ``phrases`` must appear and ``absent`` must not appear (case-insensitive) in the event's summary,
    detail or reason: only wording that the spec's scenario asks for or rules out is checked.
    """

    type: str
    rule: str
    severity: str
    orders: tuple[str, ...] = ()
    stat: tuple[str, ...] = ()
    previously: tuple[tuple[str, str], ...] = ()
    phrases: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()

    def digest(self, patient: str) -> Digest:
        return (self.type, patient, self.rule, self.severity, self.orders, self.stat, self.previously)


def alert(rule: str, severity: str, orders: str = "", *, stat: str = "",
          previously: Mapping[str, str] | None = None, phrases: Sequence[str] = (),
          absent: Sequence[str] = ()) -> Expected:
    """A new ``alert`` event."""
    before = tuple(sorted((code, _instant(at)) for code, at in (previously or {}).items()))
    return Expected("alert", rule, severity, _codes(orders), _codes(stat), before, tuple(phrases),
                    tuple(absent))


def update(rule: str, severity: str, orders: str = "", *, phrases: Sequence[str] = ()) -> Expected:
    """An ``alert_update`` that supersedes the open alert of the same rule."""
    return Expected("alert_update", rule, severity, _codes(orders), phrases=tuple(phrases))


def retract(rule: str, *, phrases: Sequence[str] = ()) -> Expected:
    """A ``retraction`` of the open alert of ``rule``, at that alert's severity."""
    return Expected("retraction", rule, AS_RETRACTED, phrases=tuple(phrases))


def replay(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Run ``b12stream replay <path>`` in-process: the events (one JSON object per stdout line) and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["replay", str(path)])
    assert code == 0, f"replay exited {code}: {err.getvalue()}"
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()], err.getvalue()


def _orders(event: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    orders = event.get("suggested_orders") or []
    codes = tuple(sorted(o["loinc"] for o in orders))
    stat = tuple(sorted(o["loinc"] for o in orders if o.get("priority") == "stat"))
    before = tuple(sorted((o["loinc"], _instant(o["previously_suggested_at"]))
                          for o in orders if o.get("previously_suggested_at")))
    return codes, stat, before


def digest(event: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> Digest:
    """The comparable form of one event; ``earlier`` resolves what an update or retraction points at."""
    kind = event.get("type", "?")
    if kind == "rejected":
        return (kind, "", event.get("reason", ""), "", (), (), ())
    patient = (event.get("patient") or {}).get("id", "")
    by_id = {e.get("id"): e for e in earlier if e.get("type") in ("alert", "alert_update")}
    if kind == "retraction":
        target = by_id.get(event.get("alert_id"))
        if target is None:
            return (kind, patient, f"? retracts unknown alert {event.get('alert_id')}", "", (), (), ())
        severity = AS_RETRACTED if event.get("severity", target["severity"]) == target["severity"] else (
            f"{event.get('severity')} (retracted alert was {target['severity']})")
        return (kind, patient, target["rule"], severity, (), (), ())
    rule = event.get("rule", "")
    if kind == "alert_update":
        target = by_id.get(event.get("supersedes"))
        if target is None or target.get("rule") != rule:
            rule = f"{rule} (supersedes {target.get('rule') if target else 'an unknown alert'})"
    return (kind, patient, rule, event.get("severity", ""), *_orders(event))


def _text(event: Mapping[str, Any]) -> str:
    return " ".join(str(event.get(key) or "") for key in ("summary", "detail", "reason")).lower()


def check_events(events: Sequence[Mapping[str, Any]], groups: Sequence[Sequence[Expected]],
                 patient: str) -> None:
    """Assert ``events`` are exactly ``groups``, group after group; order inside a group is free.

    A group is what one moment of the scenario emits when the spec gives no order among its events.
    Nothing else may be emitted: extra events show up as a trailing group in the failure.
    """
    digests = [digest(e, events[:i]) for i, e in enumerate(events)]
    chunks: list[list[int]] = []
    start = 0
    for group in groups:
        chunks.append(list(range(start, min(start + len(group), len(events)))))
        start += len(group)
    if start < len(events):
        chunks.append(list(range(start, len(events))))
    actual = [sorted(digests[i] for i in chunk) for chunk in chunks]
    expected = [sorted(e.digest(patient) for e in group) for group in groups]
    assert actual == expected, f"events, group by group:\n{pformat(actual)}\nexpected:\n{pformat(expected)}"
    mismatches: list[str] = []
    for chunk, group in zip(chunks, groups, strict=True):
        remaining = list(chunk)
        for want in group:
            index = next(i for i in remaining if digests[i] == want.digest(patient))
            remaining.remove(index)
            text = _text(events[index])
            mismatches += [f"{want.rule}: no {phrase!r} in summary/detail/reason"
                           for phrase in want.phrases if phrase.lower() not in text]
            mismatches += [f"{want.rule}: {phrase!r} should not be in summary/detail/reason"
                           for phrase in want.absent if phrase.lower() in text]
    assert mismatches == [], "\n".join(mismatches)
