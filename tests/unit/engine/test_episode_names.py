"""episode_names(): an episode keeps the id its alerts were published under when it opens earlier."""

from __future__ import annotations

from b12stream.clinical.episodes import episode_id
from b12stream.clinical.evaluate import evaluate
from b12stream.clinical.history import PatientHistory
from b12stream.engine.engine import OutputSettings
from b12stream.engine.episode_names import episode_names
from b12stream.engine.memory import Memory
from b12stream.engine.reconcile import Reconciled, reconcile
from b12stream.engine.suppression import SuggestionPolicy
from tests.unit.clinical.clinical_builders import CONFIG, PATIENT, day, history_of, plt
from tests.unit.engine.builders import RULES_VERSION, finding


def said(memory: Memory, history: PatientHistory, at) -> Reconciled:
    """Evaluate at ``at`` and reconcile with what was said, with the episodes published as known."""
    names = episode_names(history, memory, CONFIG)
    return reconcile(
        patient=PATIENT,
        memory=memory,
        findings=names.findings(evaluate(history, at, CONFIG)),
        at=at,
        corrected={},
        held=(),
        policy=SuggestionPolicy(),
        outputs=OutputSettings(),
        rules_version=RULES_VERSION,
    )


def test_a_count_drawn_before_the_first_known_one_says_nothing_new_in_the_same_episode() -> None:
    first_known, drawn_earlier = plt(82, day(0), filler="F1"), plt(85, day(-0.5), filler="F0")
    before = history_of(first_known)
    first = said(Memory(), before, day(0))
    (alert,) = first.events
    assert alert["episode_id"] == episode_id(PATIENT, day(0))
    after, _ = before.apply([drawn_earlier])
    late = said(first.memory, after, day(-0.5))
    assert (late.events, late.orders, late.pages) == ((), (), ())


def test_the_rules_id_moves_to_the_earlier_count_and_the_published_id_stays() -> None:
    history = history_of(plt(85, day(-0.5), filler="F0"), plt(82, day(0), filler="F1"))
    known = Memory().with_emission(
        episode_id(PATIENT, day(0)), "2132-9", "b12_total", day(0), finding().severity
    )
    names = episode_names(history, known, CONFIG)
    assert names.published == {episode_id(PATIENT, day(-0.5)): episode_id(PATIENT, day(0))}
    (moved,) = evaluate(history, day(-0.5), CONFIG)
    (kept,) = names.findings([moved])
    assert kept.episode_id == episode_id(PATIENT, day(0))
    thread = (moved.rule, moved.episode_id, moved.branch)
    assert names.threads([thread]) == {(moved.rule, kept.episode_id, moved.branch)}
    as_evaluated = names.as_the_rules_name_them(known)
    assert [s.episode_id for s in as_evaluated.suggestions] == [moved.episode_id]


def test_an_episode_known_by_its_rules_id_or_not_known_at_all_keeps_its_rules_id() -> None:
    history = history_of(plt(85, day(-0.5), filler="F0"), plt(82, day(0), filler="F1"))
    assert episode_names(history, Memory(), CONFIG).published == {}
    known = Memory().with_emission(
        episode_id(PATIENT, day(-0.5)), "2132-9", "b12_total", day(0), finding().severity
    )
    assert episode_names(history, known, CONFIG).published == {}
    other = Memory().with_emission("ep-another", "2132-9", "b12_total", day(0), finding().severity)
    assert episode_names(history, other, CONFIG).published == {}


def test_the_earliest_count_the_memory_knows_the_episode_by_names_it() -> None:
    history = history_of(
        plt(85, day(-1), filler="F0"), plt(82, day(0), filler="F1"), plt(80, day(1), filler="F2")
    )
    severity = finding().severity
    known = Memory()
    for moment in (day(1), day(0)):
        known = known.with_emission(episode_id(PATIENT, moment), "2132-9", "b12_total", moment, severity)
    assert episode_names(history, known, CONFIG).name(episode_id(PATIENT, day(-1))) == episode_id(
        PATIENT, day(0)
    )


def test_an_episode_a_correction_re_based_keeps_its_published_id_also_when_it_opens_earlier() -> None:
    severity = finding().severity
    first_known = episode_id(PATIENT, day(0))  # that count was deleted: a later one opens the episode
    known = Memory().with_emission(first_known, "2132-9", "b12_total", day(0), severity)
    known = known.with_published_id(episode_id(PATIENT, day(1)), first_known)
    history = history_of(plt(80, day(1), filler="F2"))
    assert episode_names(history, known, CONFIG).published == {episode_id(PATIENT, day(1)): first_known}
    earlier, _ = history.apply([plt(85, day(-0.5), filler="F0")])
    assert episode_names(earlier, known, CONFIG).published == {episode_id(PATIENT, day(-0.5)): first_known}
    # Nothing is kept under the published id any more: the rules' id is used again.
    forgotten = Memory().with_emission("ep-another", "2132-9", "b12_total", day(0), severity)
    forgotten = forgotten.with_published_id(episode_id(PATIENT, day(1)), first_known)
    assert episode_names(history, forgotten, CONFIG).published == {}
