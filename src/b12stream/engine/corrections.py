"""R10: which open alerts a corrected, deleted or mis-posted result takes back."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from b12stream.clinical.model import Finding, Observation, ResultKey
from b12stream.engine.memory import AlertRecord, Memory

__all__ = ["REASONS", "affected", "correcting_observations", "reason_for", "retracted"]

# OBX-11 (HL7 table 0085) of the correcting result → the retraction reason the events carry.
REASONS: Mapping[str, str] = {
    "C": "corrected result",
    "D": "deleted result",
    "W": "posted to wrong patient",
}


def correcting_observations(
    observations: Sequence[Observation], changed_keys: Iterable[ResultKey]
) -> dict[ResultKey, Observation]:
    """The incoming observation behind each corrected or deleted result key.

    ``changed_keys`` are the keys the patient history reported as corrected or deleted. The
    observation gives both the reason (its status) and the evaluation time (its collection time).
    """
    wanted = frozenset(changed_keys)
    if not wanted:
        return {}
    return {o.result_key: o for o in observations if o.result_key in wanted}


def reason_for(observation: Observation) -> str:
    """A result replaced by a final result of another value is a correction even without status C."""
    return REASONS.get(observation.status.strip().upper(), REASONS["C"])


def affected(memory: Memory, changed_keys: Collection[ResultKey]) -> tuple[AlertRecord, ...]:
    """Open alerts whose evidence contains a corrected or deleted result key."""
    return tuple(a for a in memory.open_alerts() if not frozenset(a.evidence).isdisjoint(changed_keys))


def retracted(
    memory: Memory,
    findings: Sequence[Finding],
    corrected: Mapping[ResultKey, Observation],
    held: Collection[tuple[str, str]],
) -> tuple[tuple[AlertRecord, str], ...]:
    """Open alerts whose evidence contains a corrected key and whose rule no longer holds in the episode.

    ``held`` names further (rule, episode) pairs that still hold, found at another evaluation time.
    Returns each such alert with its reason; alerts that still hold are left to ``suppression.decide``
    (same severity → nothing, different severity → update).
    """
    holding = {(f.rule, f.episode_id) for f in findings} | set(held)
    result: list[tuple[AlertRecord, str]] = []
    for record in memory.open_alerts():
        hit = sorted(key for key in record.evidence if key in corrected)
        if hit and (record.rule, record.episode_id) not in holding:
            result.append((record, reason_for(corrected[hit[0]])))
    return tuple(result)
