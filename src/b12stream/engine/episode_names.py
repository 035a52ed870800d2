"""Which id an episode's alerts carry: the one the engine first used for it, wherever it opens now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from b12stream.clinical.episodes import episode_id, episodes
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Finding
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView
from b12stream.engine.memory import Memory

__all__ = ["EpisodeNames", "episode_names"]


@dataclass(frozen=True, slots=True)
class EpisodeNames:
    """The published id of each episode whose rules' id moved after the engine spoke of it.

    The rules name an episode after its first thrombocytopenic count (``clinical.episodes.episode_id``).
    A count drawn earlier but delivered later becomes that first count, and a correction or deletion
    of the first count makes a later one the first, so the rules' id moves, while the clinicians
    already hold alerts, reflex orders and pages under the old one, and alert ids, page dedup keys and
    R11 suppression all rest on it. ``published`` maps such a rules' id to the id already published;
    an episode not in it is published under its rules' id.
    """

    published: Mapping[str, str]

    def name(self, rules_id: str) -> str:
        return self.published.get(rules_id, rules_id)

    def findings(self, findings: Sequence[Finding]) -> tuple[Finding, ...]:
        """The findings as published: each under its episode's published id."""
        if not self.published:
            return tuple(findings)
        return tuple(
            replace(f, episode_id=self.name(f.episode_id)) if f.episode_id in self.published else f
            for f in findings
        )

    def threads(self, threads: Iterable[tuple[str, str, str]]) -> frozenset[tuple[str, str, str]]:
        """(rule, episode, branch) threads as published."""
        return frozenset((rule, self.name(episode), branch) for rule, episode, branch in threads)

    def as_the_rules_name_them(self, memory: Memory) -> Memory:
        """``memory`` with its episodes under the rules' ids, to compare with findings as evaluated."""
        for rules_id, published in self.published.items():
            memory = memory.with_episode_renamed(published, rules_id)
        return memory


def episode_names(history: PatientHistory, memory: Memory, config: RulesConfig) -> EpisodeNames:
    """Publish each episode of ``history`` under the id ``memory`` already knows it by.

    An episode the memory knows by its rules' id keeps it. Otherwise the id is looked for among the
    ids its counts would have given it had each been the first one known (the earliest such count
    wins), each also as the memory's published id of a re-based episode of that name
    (``Memory.published_ids``: the count it was first known by is gone); none known → the rules' id.
    Pure, and stateless beyond the memory: the next message finds the same names again.
    """
    if not (memory.alerts or memory.suggestions) or not history.records:
        return _NONE  # most patients: nothing said of any episode
    known = memory.episode_ids()
    published: dict[str, str] = {}
    view = HistoryView.of(history, history.records[-1].observed_at)
    for episode in episodes(view, config):
        if episode.id in known:
            continue
        for count in episode.results:
            name = _known_as(episode_id(history.patient, count.observed_at), memory, known)
            if name is not None:
                published[episode.id] = name
                break
    return EpisodeNames(published) if published else _NONE


def _known_as(name: str, memory: Memory, known: frozenset[str]) -> str | None:
    """The id ``memory`` knows the episode named ``name`` by, if any."""
    if name in known:
        return name
    published = memory.published_id(name)
    return published if published in known else None


_NONE = EpisodeNames({})
