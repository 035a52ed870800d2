"""What the engine already said to a patient's clinicians: alert threads and emitted suggestions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import compress
from json.encoder import encode_basestring
from typing import Any

from b12stream.clinical.model import ResultKey, Severity
from b12stream.clinical.observation_json import compact_json, time_text
from b12stream.errors import StateError, cause
from b12stream.hl7.records import slot_constructor

__all__ = ["AlertRecord", "Memory", "SeenMessage", "SuggestionRecord"]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The latest emission of one alert thread: one rule and branch in one episode.

    ``id`` is the id of the latest event of the thread (alert or alert_update); ``sequence`` counts the
    thread's emissions (1 for the first alert). ``evidence`` holds the result keys of the latest
    emission's evidence, and ``also_rests_on`` the others the thread rests on: its rule's scope
    (``Finding.scope``) and the results it has come to hold on since with nothing new to say (one
    that came after it, or took a corrected one's place: ``corrections.rested_on``). A correction of
    any of them (``rests_on``) is judged (R10). A retracted or superseded thread is kept closed, so a
    later alert of the same rule, episode and branch gets a fresh sequence number, hence a fresh id.
    ``paged_episode_id`` is the episode the thread's page dedup key was made with (``ids.page_key``)
    when the thread has since been carried into another episode (``Memory.with_thread_carried``: the
    episodes joined or split), so that its incident is still resolved under the key it was triggered
    with; None: ``episode_id``.
    ``paged_sequence`` is the sequence of the emission whose id that key is: 1, unless a thread
    carried out of the episode still pages under that one (``reconcile``).
    ``suggested`` pairs the LOINC of every suggestion the latest emission showed with the
    "previously suggested" date it was marked with (R11's exception for a newly fired rule; None:
    not marked). The suggestion memory cannot tell which of the alerts said at one time showed one,
    nor how it was marked: the suggestions go on with the thread when it is carried into another
    episode (``carried``), and an announcement of the alert shows them as it showed them.
    """

    id: str
    rule: str
    episode_id: str
    branch: str
    severity: Severity
    category: tuple[str, ...]
    evidence: tuple[ResultKey, ...]
    sequence: int
    observed_at: datetime
    is_open: bool = True
    paged_episode_id: str | None = None
    paged_sequence: int = 1
    also_rests_on: tuple[ResultKey, ...] = ()
    suggested: tuple[tuple[str, datetime | None], ...] = ()

    @property
    def rests_on(self) -> frozenset[ResultKey]:
        """Every result key the alert rests on: its evidence, its scope and what it holds on now."""
        return frozenset((*self.evidence, *self.also_rests_on))

    def also_resting_on(self, keys: Iterable[ResultKey]) -> AlertRecord:
        """This alert resting on ``keys`` too, beside its evidence (itself when it already does)."""
        also = tuple(sorted(self.rests_on.union(keys).difference(self.evidence)))
        return self if also == self.also_rests_on else replace(self, also_rests_on=also)


@dataclass(frozen=True, slots=True)
class SuggestionRecord:
    """Every emission of one suggested order (by LOINC) in one episode (R11 (c)).

    ``severity`` is the severity of the alert that carried the latest emission, so an escalation can
    be recognised. ``lifted_at`` is set when an X result status cleared the order's pending state after
    the latest emission: the suggestion may then be shown again at once.
    """

    episode_id: str
    loinc: str
    analyte: str
    emitted_at: tuple[datetime, ...]
    severity: Severity
    lifted_at: datetime | None = None

    @property
    def last_emitted_at(self) -> datetime:
        return self.emitted_at[-1]


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """A message already applied: its MSH-10 and a digest of its bytes (R10 idempotency).

    A re-sent message must change nothing even after a later correction replaced its values, so the
    history alone (which only sees values) cannot recognise it.
    """

    control_id: str
    digest: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class Memory:
    """Immutable record of alerts, suggestions and applied messages; every change returns a new Memory.

    ``published_ids`` pairs the rules' id of each episode a correction re-based (the count it was
    first known by was corrected or deleted, so the rules now name it after a later count) with the
    id its alerts were published under, which it keeps: alert ids, page dedup keys and R11
    suppression rest on it. The deleted count is gone from the history, so only this can tell.
    """

    alerts: tuple[AlertRecord, ...] = ()
    suggestions: tuple[SuggestionRecord, ...] = ()
    messages: tuple[SeenMessage, ...] = ()
    published_ids: tuple[tuple[str, str], ...] = ()
    # The JSON text of the first applied messages, written once and kept by the memories that grow
    # from this one (see ``to_json``): a long stay's list is written again after every result.
    _message_texts: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def thread(self, rule: str, episode_id: str, branch: str) -> AlertRecord | None:
        """The alert thread of ``rule`` and ``branch`` in ``episode_id``, open or closed, if any."""
        for record in self.alerts:
            if (record.rule, record.episode_id, record.branch) == (rule, episode_id, branch):
                return record
        return None

    def open_branches(self, rule: str, episode_id: str) -> tuple[AlertRecord, ...]:
        """Open alerts of ``rule`` in ``episode_id``, any branch, latest emission last."""
        found = [a for a in self.alerts if a.is_open and (a.rule, a.episode_id) == (rule, episode_id)]
        return tuple(sorted(found, key=lambda a: (a.observed_at, a.branch)))

    def open_alerts(self) -> tuple[AlertRecord, ...]:
        return tuple(record for record in self.alerts if record.is_open)

    def suggestion(self, episode_id: str, loinc: str) -> SuggestionRecord | None:
        for record in self.suggestions:
            if record.episode_id == episode_id and record.loinc == loinc:
                return record
        return None

    def episode_ids(self) -> frozenset[str]:
        """Every episode this memory holds alerts or suggestions of."""
        return frozenset(a.episode_id for a in self.alerts) | {s.episode_id for s in self.suggestions}

    def published_id(self, rules_id: str) -> str | None:
        """The id a re-based episode the rules call ``rules_id`` was published under, if it is one."""
        for rules, published in self.published_ids:
            if rules == rules_id:
                return published
        return None

    def with_published_id(self, rules_id: str, published: str) -> Memory:
        """Publish the episode the rules now call ``rules_id`` under ``published`` from now on."""
        others = tuple(pair for pair in self.published_ids if pair[0] != rules_id)
        return replace(self, published_ids=tuple(sorted((*others, (rules_id, published)))))

    def has_seen(self, control_id: str, digest: str) -> bool:
        return any(m.control_id == control_id and m.digest == digest for m in self.messages)

    def with_seen(self, message: SeenMessage) -> Memory:
        return _new_memory(
            self.alerts, self.suggestions, (*self.messages, message), self.published_ids, self._message_texts
        )

    def with_alert(self, record: AlertRecord) -> Memory:
        """Replace the thread of ``record``'s rule, episode and branch (or add it); stable order."""
        identity = (record.rule, record.episode_id, record.branch)
        others = tuple(a for a in self.alerts if (a.rule, a.episode_id, a.branch) != identity)
        return replace(self, alerts=_sorted_alerts((*others, record)))

    def with_emission(
        self,
        episode_id: str,
        loinc: str,
        analyte: str,
        at: datetime,
        severity: Severity,
        *,
        counted: bool = True,
    ) -> Memory:
        """Record that a suggestion was shown at ``at``; this consumes any X lift. ``counted`` False:
        shown again beside the order message another alert proposed it in at ``at``, which is no
        second emission to count against R11 (c)'s maximum; its alert's severity still counts."""
        previous = self.suggestion(episode_id, loinc)
        if previous is None:
            emitted: tuple[datetime, ...] = (at,)
        else:
            emitted = (*previous.emitted_at, at) if counted else previous.emitted_at
        record = SuggestionRecord(episode_id, loinc, analyte, emitted, severity)
        others = tuple(s for s in self.suggestions if (s.episode_id, s.loinc) != (episode_id, loinc))
        return replace(self, suggestions=_sorted_suggestions((*others, record)))

    def with_lift(self, analytes: Iterable[str], at: datetime) -> Memory:
        """Mark every emitted suggestion of these analytes as re-allowed (OBX-11 = X, R10/R11)."""
        wanted = frozenset(analytes)
        lifted = tuple(replace(s, lifted_at=at) if s.analyte in wanted else s for s in self.suggestions)
        return replace(self, suggestions=lifted)

    def with_episode_renamed(self, old: str, new: str) -> Memory:
        """Alert threads and suggestions of episode ``old`` under the id ``new`` instead.

        This names a published episode as the rules do (``EpisodeNames.as_the_rules_name_them``),
        an id nothing is kept under; a record ``new`` already has stays as it is, and so does the
        ``old`` record that would clash with it (episodes that join or split carry their alerts
        with ``with_thread_carried``). A renamed thread keeps the episode its page was made with
        (``AlertRecord.paged_episode_id``).
        """
        taken = {(a.rule, a.branch) for a in self.alerts if a.episode_id == new}
        alerts = tuple(
            replace(a, episode_id=new, paged_episode_id=a.paged_episode_id or old)
            if a.episode_id == old and (a.rule, a.branch) not in taken
            else a
            for a in self.alerts
        )
        shown = {s.loinc for s in self.suggestions if s.episode_id == new}
        suggestions = tuple(
            replace(s, episode_id=new) if s.episode_id == old and s.loinc not in shown else s
            for s in self.suggestions
        )
        return replace(self, alerts=_sorted_alerts(alerts), suggestions=_sorted_suggestions(suggestions))

    def with_thread_carried(self, record: AlertRecord, episode_id: str) -> tuple[Memory, AlertRecord | None]:
        """Carry the open thread ``record`` into episode ``episode_id``, which now holds it (the episodes
        joined or split), keeping the episode its page was made with (``paged_episode_id``).

        It stays behind closed, so its episode, should it go on, never makes its ids again. An episode
        goes on with one open thread per rule and branch: when ``episode_id`` has one of ``record``'s,
        the more severe goes on (then the later one, then the one already there), with the evidence
        of both, and the other is returned as it was, to be withdrawn. The thread that goes on takes
        the greater sequence, so its next emission has an id never used in ``episode_id``.
        """
        there = self.thread(record.rule, episode_id, record.branch)
        memory = self.with_alert(replace(record, is_open=False))
        paged = record.paged_episode_id or record.episode_id
        moved = replace(record, episode_id=episode_id, paged_episode_id=paged)
        if there is None:
            return memory.with_alert(moved), None
        sequence = max(moved.sequence, there.sequence)
        if not there.is_open:
            return memory.with_alert(replace(moved, sequence=sequence)), None
        if (moved.severity, moved.observed_at) > (there.severity, there.observed_at):
            kept, displaced, withdrawn = moved, there, there
        else:
            kept, displaced, withdrawn = there, moved, record
        evidence = tuple(sorted({*kept.evidence, *displaced.evidence}))
        merged = replace(kept, sequence=sequence, evidence=evidence).also_resting_on(displaced.rests_on)
        return memory.with_alert(merged), withdrawn

    def with_suggestion_carried(self, record: SuggestionRecord, episode_id: str, *, copied: bool) -> Memory:
        """Carry ``record`` into episode ``episode_id`` with the alert threads it was shown with (R11 (c)
        counts what the clinicians were shown there); ``copied``: it also stays where it was, an
        episode that goes on. Emissions of one order in both episodes are counted together."""
        there = self.suggestion(episode_id, record.loinc)
        moved = replace(record, episode_id=episode_id)
        if there is not None:
            latest = max(moved, there, key=lambda s: s.last_emitted_at)
            moved = replace(latest, emitted_at=tuple(sorted({*moved.emitted_at, *there.emitted_at})))
        replaced = {episode_id} if copied else {episode_id, record.episode_id}
        others = tuple(s for s in self.suggestions if s.loinc != record.loinc or s.episode_id not in replaced)
        return replace(self, suggestions=_sorted_suggestions((*others, moved)))

    def pruned(self, at: datetime, keep: timedelta) -> Memory:
        """Forget alerts and suggestions with no activity in ``keep`` before ``at`` (the history they
        rest on is pruned on the same horizon, so nothing could correct or repeat them)."""
        horizon = at - keep
        if (
            all(a.observed_at >= horizon for a in self.alerts)
            and all(s.last_emitted_at >= horizon for s in self.suggestions)
            and all(m.observed_at >= horizon for m in self.messages)
        ):
            return self  # the usual case: nothing that old
        recent = [m.observed_at >= horizon for m in self.messages]
        alerts = tuple(a for a in self.alerts if a.observed_at >= horizon)
        suggestions = tuple(s for s in self.suggestions if s.last_emitted_at >= horizon)
        # A published id with nothing left under it has nothing left to keep.
        kept = {a.episode_id for a in alerts} | {s.episode_id for s in suggestions}
        # At the retention's edge a long stay forgets a message at every new one: the texts of the
        # first messages kept are those of the first messages (in order), so they stay written.
        return _new_memory(
            alerts,
            suggestions,
            tuple(compress(self.messages, recent)),
            tuple(pair for pair in self.published_ids if pair[1] in kept),
            tuple(compress(self._message_texts, recent)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; key order is fixed so serialised state is byte-stable.

        ``published_ids`` is written only when there are any: a memory without re-based episodes
        keeps the bytes it always had, and an engine that predates them can still read it."""
        data: dict[str, Any] = {
            "alerts": [_alert_to_dict(a) for a in self.alerts],
            "suggestions": [_suggestion_to_dict(s) for s in self.suggestions],
            "messages": [_seen_to_list(m) for m in self.messages],
        }
        if self.published_ids:
            data["published_ids"] = [list(pair) for pair in self.published_ids]
        return data

    def to_json(self) -> str:
        """``compact_json(self.to_dict())``, with each applied message's text written only once."""
        texts = self._message_texts
        if len(texts) < len(self.messages):
            texts = (*texts, *[_seen_json(m) for m in self.messages[len(texts) :]])
            object.__setattr__(self, "_message_texts", texts)
        # Most patients have no alert and no suggestion: the encoder is set up for nothing.
        alerts, suggestions = self.alerts, self.suggestions
        alert_list = compact_json([_alert_to_dict(a) for a in alerts]) if alerts else "[]"
        suggestion_list = compact_json([_suggestion_to_dict(s) for s in suggestions]) if suggestions else "[]"
        published = ""
        if self.published_ids:
            published = f',"published_ids":{compact_json([list(p) for p in self.published_ids])}'
        return (
            f'{{"alerts":{alert_list},"suggestions":{suggestion_list},"messages":[{",".join(texts)}]'
            f"{published}}}"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        """Inverse of ``to_dict``. Raises StateError naming what is malformed."""
        try:
            return cls(
                alerts=tuple(_alert_from_dict(a) for a in data["alerts"]),
                suggestions=tuple(_suggestion_from_dict(s) for s in data["suggestions"]),
                messages=tuple(
                    SeenMessage(str(c), str(d), datetime.fromisoformat(t))
                    for c, d, t in data.get("messages", ())
                ),
                published_ids=tuple((str(r), str(p)) for r, p in data.get("published_ids", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(f"malformed engine memory: {cause(error)}") from error


# A memory grows by a message at every message applied; this fills its fields, the texts too, at once.
_new_memory = slot_constructor(Memory)


def _sorted_alerts(records: Iterable[AlertRecord]) -> tuple[AlertRecord, ...]:
    return tuple(sorted(records, key=lambda a: (a.episode_id, a.rule, a.branch)))


def _sorted_suggestions(records: Iterable[SuggestionRecord]) -> tuple[SuggestionRecord, ...]:
    return tuple(sorted(records, key=lambda s: (s.episode_id, s.loinc)))


def _seen_to_list(message: SeenMessage) -> list[str]:
    return [message.control_id, message.digest, message.observed_at.isoformat()]


def _seen_json(message: SeenMessage) -> str:
    """``compact_json(_seen_to_list(message))``, written directly: one is written per message applied."""
    control_id, digest, moment = map(
        encode_basestring, (message.control_id, message.digest, time_text(message.observed_at))
    )
    return f"[{control_id},{digest},{moment}]"


def _key_to_list(key: ResultKey) -> list[str]:
    return [key.filler_order_number, key.code, key.sub_id]


def _alert_to_dict(record: AlertRecord) -> dict[str, Any]:
    # ``paged_*``, ``also_rests_on`` and ``suggested`` only when set, so a
    # thread never moved, resting on its evidence alone, with no suggestion, keeps the bytes it had.
    data: dict[str, Any] = {
        "id": record.id,
        "rule": record.rule,
        "episode_id": record.episode_id,
        "branch": record.branch,
        "severity": record.severity.label,
        "category": list(record.category),
        "evidence": [_key_to_list(k) for k in record.evidence],
        "sequence": record.sequence,
        "observed_at": record.observed_at.isoformat(),
        "is_open": record.is_open,
    }
    if record.paged_episode_id is not None:
        data["paged_episode_id"] = record.paged_episode_id
    if record.paged_sequence != 1:
        data["paged_sequence"] = record.paged_sequence
    if record.also_rests_on:
        data["also_rests_on"] = [_key_to_list(k) for k in record.also_rests_on]
    if record.suggested:
        data["suggested"] = [[loinc, at.isoformat() if at else None] for loinc, at in record.suggested]
    return data


def _alert_from_dict(data: Mapping[str, Any]) -> AlertRecord:
    return AlertRecord(
        id=str(data["id"]),
        rule=str(data["rule"]),
        episode_id=str(data["episode_id"]),
        branch=str(data["branch"]),
        severity=Severity.parse(data["severity"]),
        category=tuple(str(c) for c in data["category"]),
        evidence=tuple(ResultKey(*(str(p) for p in k)) for k in data["evidence"]),
        sequence=int(data["sequence"]),
        observed_at=datetime.fromisoformat(data["observed_at"]),
        is_open=bool(data["is_open"]),
        paged_episode_id=_optional_text(data.get("paged_episode_id")),
        paged_sequence=int(data.get("paged_sequence", 1)),
        also_rests_on=tuple(ResultKey(*(str(p) for p in k)) for k in data.get("also_rests_on", ())),
        suggested=tuple((str(loinc), _optional_time(at)) for loinc, at in data.get("suggested", ())),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _suggestion_to_dict(record: SuggestionRecord) -> dict[str, Any]:
    return {
        "episode_id": record.episode_id,
        "loinc": record.loinc,
        "analyte": record.analyte,
        "emitted_at": [t.isoformat() for t in record.emitted_at],
        "severity": record.severity.label,
        "lifted_at": record.lifted_at.isoformat() if record.lifted_at else None,
    }


def _suggestion_from_dict(data: Mapping[str, Any]) -> SuggestionRecord:
    emitted = tuple(datetime.fromisoformat(t) for t in data["emitted_at"])
    if not emitted:
        raise ValueError("suggestion record without emissions")
    lifted = data["lifted_at"]
    return SuggestionRecord(
        episode_id=str(data["episode_id"]),
        loinc=str(data["loinc"]),
        analyte=str(data["analyte"]),
        emitted_at=emitted,
        severity=Severity.parse(data["severity"]),
        lifted_at=datetime.fromisoformat(lifted) if lifted else None,
    )
