"""Evaluation of rules R01–R09 at one event time, with every cross-rule interaction of the spec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from b12stream.clinical.adamts13 import ADAMTS13, INDETERMINATE, episode_window_start
from b12stream.clinical.b12_status import B12_ACTIVE, B12_TOTAL
from b12stream.clinical.episodes import PLATELETS, Episode, current_episode, episodes, platelet_results
from b12stream.clinical.history import CANCELLED_STATUSES, PatientHistory, is_evidence
from b12stream.clinical.model import Finding, Observation
from b12stream.clinical.rules.common import R02, RULE_ORDER, bundle
from b12stream.clinical.rules.r01_unknown_b12 import r01_unknown_b12
from b12stream.clinical.rules.r02_low_b12 import r02_low_b12
from b12stream.clinical.rules.r03_indeterminate_b12 import r03_indeterminate_b12
from b12stream.clinical.rules.r04_cause_workup import r04_cause_workup
from b12stream.clinical.rules.r05_pseudo_tma import r05_branch, r05_pseudo_tma
from b12stream.clinical.rules.r06_ttp_adamts13 import r06_ttp_adamts13
from b12stream.clinical.rules.r07_maha_pending import r07_maha_pending
from b12stream.clinical.rules.r08_homocysteine import r08_homocysteine
from b12stream.clinical.rules.r09_recovery import Identification, r09_recovery
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.snapshot import Snapshot, derive
from b12stream.clinical.view import HistoryView

__all__ = ["SECONDARY_TRIGGER_ANALYTES", "evaluate", "trigger_times"]

SECONDARY_TRIGGER_ANALYTES = frozenset(
    {
        "b12_total",
        "b12_active",
        "mma",
        "homocysteine",
        "ldh",
        "haptoglobin",
        "bilirubin_indirect",
        "bilirubin_total",
        "reticulocytes_pct",
        "reticulocytes_abs",
        "schistocytes",
        "hypersegmented_neutrophils",
        "mcv",
        "hemoglobin",
        "intrinsic_factor_ab",
    }
)


def _primary(observation: Observation, config: RulesConfig) -> bool:
    if observation.analyte == PLATELETS:
        return observation.code not in config.platelets.non_trigger_codes
    return observation.analyte == ADAMTS13


def _could_trigger(observation: Observation, config: RulesConfig) -> bool:
    """Trigger test for a result collected inside an open episode (where secondary triggers count)."""
    if not is_evidence(observation):
        return False
    if _primary(observation, config):
        return True
    return config.secondary_triggers and observation.analyte in SECONDARY_TRIGGER_ANALYTES


def trigger_times(
    added: Sequence[Observation], history: PatientHistory, config: RulesConfig
) -> tuple[datetime, ...]:
    """Distinct evaluation times the added results call for, oldest first (spec 2.2).

    Primary: a final/corrected blood platelet count (not the plasma codes 13056-7 / 26516-5) or an
    ADAMTS13 result, evaluated at its own collection time. Secondary (when
    ``config.secondary_triggers``): a final B12, HoloTC, MMA, HCY, LDH, haptoglobin, bilirubin,
    reticulocyte, schistocyte, hypersegmented-neutrophil, MCV, haemoglobin or IF-antibody result,
    evaluated at its own time when collected while a thrombocytopenia episode is open in ``history``
    (the history after the results were applied): its 72 h windows are counted from the counts
    around it.

    A result collected before the episode open at the latest platelet count belongs to that episode
    and is also evaluated at that count: a B12 drawn at 07:55 and reported after the 08:00 count
    that opened the episode (its validity reaches forward from collection), and an ADAMTS13 drawn
    before the episode's first count but inside its window (``episode_window_start``: 7 d by
    default, spec 2.3), which its own time cannot place in any episode. A cancellation (X) triggers
    nothing at its own time; collected before the latest count of an open episode, it is evaluated
    at that count, as it would have been had it arrived before it. Event times only, never the
    clock.
    """
    moments: set[datetime] = set()
    latest_count: datetime | None = None
    # Whether an episode is open depends only on the collection time, and a CBC brings a dozen
    # secondary results collected at one time: ask once per distinct time.
    open_at: dict[datetime, Episode | None] = {}

    def episode_at(moment: datetime) -> Episode | None:
        if moment not in open_at:
            open_at[moment] = current_episode(HistoryView.of(history, moment), config)
        return open_at[moment]

    for item in added:
        cancelled = item.status in CANCELLED_STATUSES
        if not (cancelled or _could_trigger(item, config)):
            continue
        moment = item.observed_at
        if cancelled:
            # X re-allows its order's suggestions at the next evaluation (R10/R11, spec S13): one
            # that arrives after that count was evaluated is owed the same evaluation again.
            if latest_count is None:
                latest_count = _latest_count_time(history, config) or moment
            if latest_count > moment and episode_at(latest_count) is not None:
                moments.add(latest_count)
            continue
        if item.analyte == PLATELETS or episode_at(moment) is not None:
            moments.add(moment)  # a count, or a result inside an open episode: its own time
            continue
        adamts13 = item.analyte == ADAMTS13
        if adamts13:
            moments.add(moment)  # primary even outside an episode
        if latest_count is None:
            latest_count = _latest_count_time(history, config) or moment
        if latest_count <= moment:
            continue
        episode = episode_at(latest_count)
        if episode is None or (adamts13 and moment < episode_window_start(episode, config)):
            continue
        moments.add(latest_count)
    return tuple(sorted(moments))


def _latest_count_time(history: PatientHistory, config: RulesConfig) -> datetime | None:
    if not history.records:
        return None
    counts = platelet_results(HistoryView.of(history, history.records[-1].observed_at), config)
    return counts[-1].observed_at if counts else None


def _identification(history: PatientHistory, snapshot: Snapshot, sex: str) -> Identification | None:
    """The first trigger time in the open episode at which R02 or R05 branch b held, and what it held
    on then (R09's scope)."""
    episode = snapshot.episode
    b12_results = snapshot.view.results((B12_TOTAL, B12_ACTIVE))
    if episode is None or not b12_results:
        return None
    start = max(episode.opened_at, b12_results[0].observed_at)
    candidates = sorted(
        {
            item.observed_at
            for item in history.records
            if start <= item.observed_at <= snapshot.at and _could_trigger(item, snapshot.config)
        }
    )
    for moment in candidates:
        identified = _identified_at(history, moment, snapshot.config, sex)
        if identified is not None:
            return identified
    return None


def _identified_at(
    history: PatientHistory, moment: datetime, config: RulesConfig, sex: str
) -> Identification | None:
    """R02 when it held at ``moment``, else R05 when its branch b did (with an ADAMTS13 result), with
    the observations it held on.

    Settled once per moment: every later result of the episode asks again about every earlier one.
    """
    key = ("identification", id(config), sex)
    kept, identified = history.settled(
        moment, key, lambda: (config, _identified(history, moment, config, sex))
    )
    return identified if kept is config else _identified(history, moment, config, sex)


def _identified(
    history: PatientHistory, moment: datetime, config: RulesConfig, sex: str
) -> Identification | None:
    earlier = derive(history, moment, config, sex)
    found = r02_low_b12(earlier)
    if found is None and r05_branch(earlier) == "b":
        found = r05_pseudo_tma(earlier)  # None without an ADAMTS13 result
    return None if found is None else Identification(moment, found.rule, found.evidence)


def _carried(identified: Identification | None, snapshot: Snapshot) -> bool:
    """True when an earlier alert of the episode carries R04: R02 or R05 branch b held in it, unless
    that was an R02 the ADAMTS13 grey zone has since withdrawn (R06): the cause work-up, still due,
    then stands alone again."""
    if identified is None:
        return False
    return not (identified.rule == R02 and snapshot.a13.status == INDETERMINATE)


def evaluate(
    history: PatientHistory, at: datetime, config: RulesConfig, *, sex: str = "U"
) -> tuple[Finding, ...]:
    """Every finding R01–R09 that holds at ``at`` (the triggering result's collection time), using
    only records collected at or before ``at``. Never reads the clock; never remembers what was said.

    Cross-rule interactions: R01 yields to MAHA / HEMOLYTIC_TP; R02 yields to MAHA and the ADAMTS13
    grey zone and is ``info`` under a severe ADAMTS13; R04 is folded into R02 / R05 branch b when
    they fire (listed in ``Finding.bundled``); it is standalone ``info`` only in an open episode in
    which neither has held (otherwise its content already lives in that alert), or whose R02 the
    ADAMTS13 grey zone has withdrawn; R06 (severe) suppresses R05 and R07 for the episode; the grey
    zone suppresses R05 while R07 runs with 'A13 indeterminate'. Suggested orders already exclude
    sets covered by a valid or pending result (R11 a/b). ``sex`` is PID-8: 'M' selects the male
    anaemia fallback, anything else the female or unknown one.
    Findings come in rule order R01..R09.
    """
    if not episodes(HistoryView.of(history, at), config):
        # No thrombocytopenic count up to ``at``: every rule needs one (R01/R02 now, R03/R08 within
        # their windows, R04-R07/R09 an open episode), so nothing can hold. Most patients of a
        # feed are here; the view and its episodes are shared with the trigger test and derive().
        return ()
    snapshot = derive(history, at, config, sex)
    identified = _identification(history, snapshot, sex)
    r02 = r02_low_b12(snapshot)
    r04 = r04_cause_workup(snapshot)
    r05 = r05_pseudo_tma(snapshot)
    if r04 is not None:
        if r02 is not None:
            r02 = bundle(r02, r04)
        if r05 is not None and r05.branch == "b":
            r05 = bundle(r05, r04)
        hosted = r02 is not None or (r05 is not None and r05.branch == "b")
        if hosted or snapshot.episode is None or _carried(identified, snapshot):
            r04 = None
    r09 = r09_recovery(snapshot, identified)
    found = [
        r01_unknown_b12(snapshot),
        r02,
        r03_indeterminate_b12(snapshot),
        r04,
        r05,
        r06_ttp_adamts13(snapshot),
        r07_maha_pending(snapshot),
        r08_homocysteine(snapshot),
        r09,
    ]
    findings = [item for item in found if item is not None]
    return tuple(sorted(findings, key=lambda item: RULE_ORDER.index(item.rule)))
