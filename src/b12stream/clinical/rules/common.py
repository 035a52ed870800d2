"""What every rule shares: the rule ids of the Engine contract, the standard caveat, finding assembly."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from b12stream.clinical.measure import format_value
from b12stream.clinical.model import Finding, Observation, Severity, SuggestedOrder
from b12stream.clinical.snapshot import Snapshot

__all__ = [
    "CAVEAT",
    "R01",
    "R02",
    "R03",
    "R04",
    "R05",
    "R06",
    "R07",
    "R08",
    "R09",
    "RULE_ORDER",
    "bundle",
    "describe",
    "finding",
    "first_of_each",
    "grade_text",
    "unique_orders",
]

R01 = "B12-UNKNOWN-THROMBOCYTOPENIA"
R02 = "B12-LOW-THROMBOCYTOPENIA"
R03 = "B12-INDETERMINATE-THROMBOCYTOPENIA"
R04 = "B12-CAUSE-WORKUP"
R05 = "PSEUDO-TMA-SUSPECTED"
R06 = "TTP-ADAMTS13-SEVERE"
R07 = "MAHA-ADAMTS13-PENDING"
R08 = "HOMOCYSTEINE-PROTHROMBOTIC"
R09 = "PLATELET-RECOVERY"

_T = TypeVar("_T")

RULE_ORDER = (R01, R02, R03, R04, R05, R06, R07, R08, R09)

CAVEAT = (
    "_Decision support, not diagnosis: suggested orders are proposals for a clinician to review; "
    "b12stream never places orders, recommends doses or advises on plasma exchange._"
)


def unique_orders(orders: Iterable[SuggestedOrder]) -> tuple[SuggestedOrder, ...]:
    """Orders without repeats of a LOINC code, first occurrence (and its priority) kept."""
    return tuple(first_of_each(orders, lambda order: order.loinc))


def _unique_evidence(evidence: Iterable[Observation]) -> tuple[Observation, ...]:
    kept = first_of_each(evidence, lambda item: item.result_key)
    return tuple(sorted(kept, key=lambda item: (item.observed_at, item.result_key)))


def first_of_each(items: Iterable[_T], identity: Callable[[_T], Hashable]) -> list[_T]:
    """``items`` without repeats of an ``identity``, the first of each kept, in order."""
    kept: dict[Hashable, _T] = {}
    for item in items:
        kept.setdefault(identity(item), item)
    return list(kept.values())


def describe(observation: Observation) -> str:
    """'<value> on <collection date>' for detail text: values only, never identifiers."""
    return f"{format_value(observation)} on {observation.observed_at.date().isoformat()}"


def grade_text(snapshot: Snapshot) -> str:
    grade = snapshot.grade
    return "grade unknown" if grade is None else grade


def finding(
    snapshot: Snapshot,
    rule: str,
    severity: Severity,
    summary: str,
    paragraphs: Sequence[str],
    evidence: Iterable[Observation],
    citations: Sequence[str],
    orders: Iterable[SuggestedOrder] = (),
    branch: str = "",
    scope: Iterable[Observation] = (),
) -> Finding:
    """Assemble a finding with the snapshot's episode, category and time and the standard caveat."""
    detail = "\n\n".join([*paragraphs, CAVEAT])
    return Finding(
        rule=rule,
        severity=severity,
        episode_id=snapshot.episode_id,
        summary=summary if len(summary) < 140 else summary[:136] + "...",
        detail=detail,
        evidence=_unique_evidence(evidence),
        citations=tuple(citations),
        suggested_orders=unique_orders(orders),
        branch=branch,
        category=snapshot.category,
        observed_at=snapshot.at,
        scope=_unique_evidence(scope),
    )


def bundle(host: Finding, guest: Finding) -> Finding:
    """Fold ``guest`` (R04) into ``host`` (R02 or R05b): text, orders, evidence and citations merged."""
    guest_text = guest.detail.removesuffix(CAVEAT).rstrip()
    host_text = host.detail.removesuffix(CAVEAT).rstrip()
    return replace(
        host,
        detail=f"{host_text}\n\n{guest_text}\n\n{CAVEAT}",
        suggested_orders=unique_orders((*host.suggested_orders, *guest.suggested_orders)),
        evidence=_unique_evidence((*host.evidence, *guest.evidence)),
        citations=tuple(dict.fromkeys((*host.citations, *guest.citations))),
        bundled=(*host.bundled, guest.rule),
    )
