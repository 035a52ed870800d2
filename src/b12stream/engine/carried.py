"""Where alerts go when a message joins or splits the episodes the history derives (R10/R11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from b12stream.clinical.adamts13 import ADAMTS13, episode_window_start
from b12stream.clinical.b12_status import B12_ACTIVE, B12_TOTAL, MMA
from b12stream.clinical.episodes import Episode, current_episode, episodes
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView
from b12stream.engine.corrections import reason_for
from b12stream.engine.episode_names import EpisodeNames, episode_names
from b12stream.engine.memory import AlertRecord, Memory, SuggestionRecord
from b12stream.engine.reconcile import withdrawal

__all__ = ["MERGED", "Carried", "carried"]

_B12_STATUS = frozenset({B12_TOTAL, B12_ACTIVE, MMA})

MERGED = "episodes merged"
"""The retraction reason of an alert whose episode joined one with an open alert of the same thread."""


@dataclass(frozen=True, slots=True)
class Carried:
    """The memory with every open alert in an episode that exists, the retractions that took, and
    the ids of the open alerts now under another episode id than the one they were published with
    (``moved``)."""

    memory: Memory
    events: tuple[dict[str, Any], ...]
    pages: tuple[dict[str, Any], ...]
    moved: frozenset[str] = frozenset()


def carried(
    *,
    patient: PatientKey,
    memory: Memory,
    before: PatientHistory,
    after: PatientHistory,
    rules: RulesConfig,
    corrected: Mapping[ResultKey, Observation],
    at: datetime,
) -> Carried:
    """Keep what the clinicians were told with the episodes the counts now make, whatever the message.

    A count delivered late, corrected or deleted can join two episodes (it breaks the pair of normal
    counts that closed the first) or split one (it completes such a pair). The open alert threads of
    an episode that changed so go where their evidence now is (``_Home``): an episode whose id is
    gone passes them on to the episode that holds their latest evidence; one that goes on under its
    id keeps them, but for a thread whose evidence all lies in one later episode, where the next
    results go, or in part in the episode it was carried out of. A thread resting on an ADAMTS13,
    or on B12 results alone, goes to the episode that result now counts for, earlier or later,
    whether or not the message joined or split its own (``_ResultHomes``): a count that opens an
    episode can take the result into its look-back, or close the thread's own before it was drawn.
    Suggestions go with their latest emission (R11 (c)), and those a carried thread's latest emission
    showed go with it too (``_shown_with``). So a carried thread's next emission is an update of it,
    not a second alert, and its page keeps the key it was triggered with
    (``Memory.with_thread_carried``); the threads now under another episode id are
    ``Carried.moved``, for the message to announce (``announced``).
    Two open threads of one rule and branch that meet in one episode go on as one; the other is
    retracted as ``MERGED`` at ``at`` (the patient's newest collection time), its incident resolved.

    An episode whose first count was corrected or deleted (its counts now open a new episode that
    nothing was said of) keeps its published id (``Memory.published_ids``) instead. An episode left
    with no thrombocytopenic count by the ``corrected`` results is gone, and so are its alerts (R10).
    """
    if not before.records or not (memory.alerts or memory.suggestions):
        return Carried(memory, (), ())
    old = episodes(HistoryView.of(before, before.records[-1].observed_at), rules)
    new = episodes(HistoryView.of(after, after.records[-1].observed_at), rules) if after.records else ()
    old_names = episode_names(before, memory, rules)
    following = {episode.id: _following(episode, new) for episode in old}
    memory, names = _re_based(memory, old, old_names, new, after, rules)
    existing = {names.name(episode.id) for episode in new}
    threads: list[tuple[AlertRecord, str]] = []
    suggestions: list[tuple[SuggestionRecord, str, bool]] = []
    gone: list[tuple[AlertRecord, str]] = []
    collected = {r.result_key: r.observed_at for r in after.records}
    homes = _ResultHomes(
        new,
        names,
        rules,
        {r.result_key: r.observed_at for r in after.records if r.analyte == ADAMTS13},
        {r.result_key: r.observed_at for r in after.records if r.analyte in _B12_STATUS},
    )
    for episode in old:
        was = old_names.name(episode.id)
        follow = following[episode.id]
        if not follow and was not in existing:
            gone.extend(_gone(memory, was, episode, corrected))
            continue
        followers = {names.name(e.id) for e in follow}
        if not follow or followers == {was}:
            # The usual case: the episode goes on as it was, maybe with more counts. A count that
            # opened another one, before or after it, may yet have taken an ADAMTS13 its alerts
            # rest on into its look-back, or one that closed it left a B12 drawn after to the next.
            for record in (a for a in memory.open_alerts() if a.episode_id == was):
                if (target := homes.of_thread(record)) not in {None, was}:
                    threads.append((record, target))
                    suggestions.extend(_shown_with(record, target, memory))
            continue
        home = _Home(episode, follow, after, rules, names, was, was in followers, collected, homes)
        for record in (a for a in memory.open_alerts() if a.episode_id == was):
            if (target := home.of_thread(record)) != was:
                threads.append((record, target))
                suggestions.extend(_shown_with(record, target, memory))
        for shown in (s for s in memory.suggestions if s.episode_id == was):
            if (target := home.at(shown.last_emitted_at)) != was:
                suggestions.append((shown, target, home.stays))
    events: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    for planned, target in threads:
        # As the memory is now: an earlier move may have merged a thread into this one.
        record = memory.thread(planned.rule, planned.episode_id, planned.branch)
        if record is None or not record.is_open:
            continue
        memory, merged = memory.with_thread_carried(record, target)
        if merged is not None:
            event, resolved = withdrawal(merged, MERGED, patient, at)
            events.append(event)
            pages.extend(resolved)
    for record, reason in gone:
        event, resolved = withdrawal(record, reason, patient, at)
        events.append(event)
        pages.extend(resolved)
        memory = memory.with_alert(replace(record, is_open=False, observed_at=at))
    for shown, target, stays in _once(suggestions):
        memory = memory.with_suggestion_carried(shown, target, copied=stays)
    # A thread carried, and not merged into another one, is open under its id in another episode.
    published = {planned.id: planned.episode_id for planned, _ in threads}
    moved = frozenset(a.id for a in memory.open_alerts() if published.get(a.id, a.episode_id) != a.episode_id)
    return Carried(memory, tuple(events), tuple(pages), moved)


def _shown_with(record: AlertRecord, target: str, memory: Memory) -> list[tuple[SuggestionRecord, str, bool]]:
    """The suggestions ``record``'s latest emission showed, to be counted in ``target`` too, where
    the thread goes on: they were suggested for its finding, R11 (c) must not suggest them again
    there, and its announcement shows them (``announced``). They stay where they are as well: other
    alerts said there may have shown them."""
    loincs = {loinc for loinc, _ in record.suggested}
    return [
        (shown, target, True)
        for shown in memory.suggestions
        if shown.episode_id == record.episode_id
        and shown.loinc in loincs
        and record.observed_at in shown.emitted_at
    ]


def _once(
    suggestions: Sequence[tuple[SuggestionRecord, str, bool]],
) -> list[tuple[SuggestionRecord, str, bool]]:
    """Each suggestion carried into an episode once: its episode and a thread that showed it may
    both take it there, and carried onto itself its emissions at one time would merge into one (R11
    (c) counts them). It stays where it was only if every carry leaves it there."""
    once: dict[tuple[str, str, str], tuple[SuggestionRecord, str, bool]] = {}
    for shown, target, stays in suggestions:
        key = (shown.episode_id, shown.loinc, target)
        earlier = once.get(key)
        once[key] = (shown, target, stays and (earlier is None or earlier[2]))
    return list(once.values())


def _gone(
    memory: Memory, was: str, episode: Episode, corrected: Mapping[ResultKey, Observation]
) -> list[tuple[AlertRecord, str]]:
    """The open alerts of ``episode``, none of whose counts is thrombocytopenic any more, that R10
    leaves open (their evidence is other results), each with the reason its counts were taken back."""
    taken_back = [r.result_key for r in episode.results if r.result_key in corrected]
    if not taken_back:
        return []
    reason = reason_for(corrected[taken_back[0]])
    return [
        (record, reason)
        for record in memory.open_alerts()
        if record.episode_id == was and corrected.keys().isdisjoint(record.rests_on)
    ]


def _following(episode: Episode, new: Sequence[Episode]) -> tuple[Episode, ...]:
    """The episodes that now hold counts of ``episode``, oldest first."""
    members = _members(episode)
    return tuple(e for e in new if not members.isdisjoint(_members(e)))


def _re_based(
    memory: Memory,
    old: Sequence[Episode],
    old_names: EpisodeNames,
    new: Sequence[Episode],
    after: PatientHistory,
    rules: RulesConfig,
) -> tuple[Memory, EpisodeNames]:
    """Publish under its old id each episode whose id is gone while the episode that now holds its
    first counts is one nothing was said of (the count it was first known by was corrected or
    deleted). Returns the memory and the names of ``after``'s episodes under it."""
    names = episode_names(after, memory, rules)
    for episode in old:
        was = old_names.name(episode.id)
        successor = next(iter(_following(episode, new)), None)
        if successor is None or was in {names.name(e.id) for e in new}:
            continue
        if names.name(successor.id) == successor.id and successor.id not in memory.episode_ids():
            memory = memory.with_published_id(successor.id, was)
            # Named again: the next episode of this loop may join the one just named.
            names = episode_names(after, memory, rules)
    return memory, names


@dataclass(frozen=True, slots=True)
class _Home:
    """Where what one episode said goes on, now that ``follow`` (oldest first) hold its counts.

    ``was`` is the episode's published id, ``stays`` says one of ``follow`` still has it,
    ``collected`` gives the collection time of each result of the history ``after``, and
    ``homes`` the episode each of its ADAMTS13 and B12 results counts for.
    """

    episode: Episode
    follow: Sequence[Episode]
    after: PatientHistory
    rules: RulesConfig
    names: EpisodeNames
    was: str
    stays: bool
    collected: Mapping[ResultKey, datetime]
    homes: _ResultHomes

    def of_thread(self, record: AlertRecord) -> str:
        """The published id of the episode that goes on with an open alert.

        One resting on an ADAMTS13, or on B12 results alone: the episode that result counts for,
        earlier or later (``_ResultHomes``). Otherwise, while its episode goes on under its id: back
        in the episode it was carried out of when that one is back with some of its evidence (a join
        undone), else there, unless all of its evidence now lies in one later episode, where the next
        results go and the alert would be raised again. Otherwise the episode that holds its latest
        evidence, or with none of its evidence in them, the one that goes on with its latest emission
        (``at``).
        """
        found = self.homes.of_thread(record)
        if found is not None:
            return found
        holding = self._holding(record.evidence)
        if not self.stays:
            return holding[-1] if holding else self.at(record.observed_at)
        if record.paged_episode_id in holding:
            return record.paged_episode_id  # back in the episode it was alerted in
        if len(set(holding)) == 1 and self._opened(holding[0]) > self._opened(self.was):
            return holding[0]
        return self.was

    def at(self, moment: datetime) -> str:
        """The published id of the episode that goes on with what was said at ``moment``: the one
        open then, else where it is, else the one holding the episode's latest count by then."""
        found = self._open_at(moment)
        if found is not None:
            return found
        if self.stays:
            return self.was
        counts = [r.result_key for r in self.episode.results if r.observed_at <= moment]
        latest = counts[-1] if counts else self.episode.results[0].result_key
        holding = next((e for e in self.follow if latest in _members(e)), self.follow[0])
        return self.names.name(holding.id)

    def _holding(self, evidence: Sequence[ResultKey]) -> list[str]:
        """The published ids of the episodes that hold ``evidence``, by collection time: the one a
        count is in, the one open when another result was collected, else the first one opened
        after it (none: left out). A B12 or ADAMTS13 drawn just before the first low count serves
        the episode that count opens (its look-back): counting it nowhere would carry its alert to
        wherever the latest count went, and the episode it belongs to would raise it again."""
        found: list[tuple[datetime, str]] = []
        for key in evidence:
            episode = next((e for e in self.follow if key in _members(e)), None)
            if episode is not None:
                found.append((self.collected[key], self.names.name(episode.id)))
            elif key in self.collected:
                moment = self.collected[key]
                name = self._open_at(moment) or self._opened_after(moment)
                if name is not None:
                    found.append((moment, name))
        return [name for _, name in sorted(found)]

    def _opened_after(self, moment: datetime) -> str | None:
        """The published id of the first episode of ``follow`` opened after ``moment``, if any."""
        return next((self.names.name(e.id) for e in self.follow if e.opened_at > moment), None)

    def _opened(self, name: str) -> datetime:
        return next(e.opened_at for e in self.follow if self.names.name(e.id) == name)

    def _open_at(self, moment: datetime) -> str | None:
        """The published id of the episode of ``follow`` open at ``moment``, if any."""
        current = current_episode(HistoryView.of(self.after, moment), self.rules)
        if current is None or current.id not in {e.id for e in self.follow}:
            return None
        return self.names.name(current.id)


@dataclass(frozen=True, slots=True)
class _ResultHomes:
    """The episode each ADAMTS13 result of the history counts for, as the rules count it (spec 2.3:
    valid only for its episode): the one from whose look-back (``episode_window_start``, 7 d before
    its first count) to its close it was collected; one collected in no such span serves the first
    episode opened after it, if any. A B12 result is valid for months from its collection, so it
    serves any episode not over by then: the one an alert resting on it was said in, else the one
    it would count for as an ADAMTS13 would.

    ``episodes`` are the history's episodes, oldest first; ``adamts13`` and ``b12`` give the
    collection time of each of its ADAMTS13 and B12 status (total or active B12, MMA) results.
    """

    episodes: Sequence[Episode]
    names: EpisodeNames
    rules: RulesConfig
    adamts13: Mapping[ResultKey, datetime]
    b12: Mapping[ResultKey, datetime]

    def of_thread(self, record: AlertRecord) -> str | None:
        """The published id of the episode ``record`` belongs in by the results it rests on: the one
        its latest ADAMTS13 counts for (its rule can hold nowhere else: left in another episode, the
        alert would be raised again in this one, paged twice); for B12 results alone (R04), the one
        it was said in unless that was over when the latest was drawn, else the one that B12 counts
        for, which would raise it again. None when it rests on neither (or on none any episode
        counts)."""
        moments = [self.adamts13[key] for key in record.evidence if key in self.adamts13]
        if moments:
            return self._counting_for(max(moments))
        if not record.evidence or any(key not in self.b12 for key in record.evidence):
            return None
        moment = max(self.b12[key] for key in record.evidence)
        said_in = next((e for e in self.episodes if self.names.name(e.id) == record.episode_id), None)
        if said_in is not None and (said_in.closed_at is None or moment <= said_in.closed_at):
            return record.episode_id
        return self._counting_for(moment)

    def _counting_for(self, moment: datetime) -> str | None:
        """The published id of the episode a result collected at ``moment`` counts for, if any."""
        for episode in self.episodes:
            closed = episode.closed_at
            if episode_window_start(episode, self.rules) <= moment and (closed is None or moment <= closed):
                return self.names.name(episode.id)
        return next((self.names.name(e.id) for e in self.episodes if e.opened_at > moment), None)


def _members(episode: Episode) -> frozenset[ResultKey]:
    return frozenset(r.result_key for r in episode.results)
