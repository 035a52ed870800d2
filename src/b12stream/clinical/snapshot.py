"""Every derived per-patient state at one evaluation time, computed once for all rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from b12stream.clinical import b12_status
from b12stream.clinical.adamts13 import A13Assessment, assess_a13, episode_window_start
from b12stream.clinical.b12_status import B12Assessment, assess_b12
from b12stream.clinical.episodes import Episode, episodes, grade, is_thrombocytopenic, platelet_results
from b12stream.clinical.history import PatientHistory
from b12stream.clinical.homocysteine import HomocysteineAssessment, assess_homocysteine
from b12stream.clinical.model import Observation
from b12stream.clinical.order_sets import Coverage
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.tma import MahaAssessment, assess_maha
from b12stream.clinical.view import HistoryView, days

__all__ = ["Snapshot", "derive"]


@dataclass(frozen=True)
class Snapshot:
    """Derived state at ``view.at``: the latest platelet count, the open episode, B12_STATUS,
    homocysteine, MAHA/HEMOLYTIC_TP with features and PLASMIC, A13_STATUS and R11 (a)/(b) coverage.

    ``latest_episode`` is the open episode, else the most recent closed one (for episode ids of
    findings that look back, such as R03 'TP within 30 d'). MAHA and A13_STATUS are computed on
    first use: most evaluations never need them.
    """

    view: HistoryView
    config: RulesConfig
    platelet: Observation | None
    episode: Episode | None
    latest_episode: Episode | None
    b12: B12Assessment
    homocysteine: HomocysteineAssessment
    coverage: Coverage
    sex: str = "U"

    @cached_property
    def maha(self) -> MahaAssessment:
        return assess_maha(self.view, self.episode, self.config, self.sex)

    @cached_property
    def a13(self) -> A13Assessment:
        return assess_a13(self.view, self.episode, self.maha.index_times, self.config)

    @property
    def at(self) -> datetime:
        return self.view.at

    @property
    def thrombocytopenic(self) -> bool:
        """TP now: the latest final platelet count is below its lower limit."""
        return self.platelet is not None and bool(is_thrombocytopenic(self.platelet, self.config))

    @property
    def grade(self) -> str | None:
        return None if self.platelet is None else grade(self.platelet, self.config)

    @property
    def episode_id(self) -> str:
        """The open (else latest) episode's id; '' when the patient never had thrombocytopenia."""
        return "" if self.latest_episode is None else self.latest_episode.id

    @property
    def category(self) -> tuple[str, ...]:
        """The state classes whose change is a category change (R11): grade, B12, A13, MAHA."""
        return (
            f"plt:{self.grade or 'unknown'}",
            f"b12:{self.b12.status}",
            f"a13:{self.a13.status}",
            f"maha:{'on' if self.maha.present else 'off'}",
        )

    def thrombocytopenic_within(self, window_days: float) -> tuple[Observation, ...]:
        """Final thrombocytopenic platelet counts collected within the window before ``at``."""
        since = self.at - days(window_days)
        return tuple(
            item
            for item in platelet_results(self.view, self.config)
            if item.observed_at >= since and is_thrombocytopenic(item, self.config)
        )


def derive(history: PatientHistory, at: datetime, config: RulesConfig, sex: str = "U") -> Snapshot:
    """Compute the snapshot from the records collected at or before ``at`` (event time)."""
    view = HistoryView.of(history, at)
    platelets = platelet_results(view, config)
    all_episodes = episodes(view, config)
    latest = all_episodes[-1] if all_episodes else None
    episode = latest if latest is not None and latest.is_open else None
    b12 = assess_b12(view, config)
    coverage = Coverage(
        view=view,
        config=config,
        episode_start=None if episode is None else episode_window_start(episode, config),
        b12_deficient=b12.status == b12_status.DEFICIENT,
    )
    return Snapshot(
        view=view,
        config=config,
        platelet=platelets[-1] if platelets else None,
        episode=episode,
        latest_episode=latest,
        b12=b12,
        homocysteine=assess_homocysteine(view, config),
        coverage=coverage,
        sex=sex,
    )
