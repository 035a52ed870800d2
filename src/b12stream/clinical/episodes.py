"""Platelet states (spec 2.3): lower limit, thrombocytopenia, CTCAE grade, and thrombocytopenia episodes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from b12stream.clinical.measure import below_lower_limit, compare
from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView, days, hours

__all__ = [
    "PLATELETS",
    "Episode",
    "current_episode",
    "episode_id",
    "episodes",
    "grade",
    "is_thrombocytopenic",
    "platelet_lln",
    "platelet_results",
]

PLATELETS = "platelets"


def platelet_lln(observation: Observation, config: RulesConfig) -> float:
    """PLT_LLN: the lab's lower limit (OBX-7), else the configured fallback (150 ×10⁹/L)."""
    if observation.reference_low is not None:
        return observation.reference_low
    return config.platelets.lln_fallback_10e9_l


def is_thrombocytopenic(observation: Observation, config: RulesConfig) -> bool | None:
    """TP = PLT < PLT_LLN; from OBX-8 flags alone when the value is unusable; None if unknowable."""
    return below_lower_limit(observation, config.platelets.lln_fallback_10e9_l)


def grade(observation: Observation, config: RulesConfig) -> str | None:
    """CTCAE v5 grade: 'G0' (not thrombocytopenic), 'G1'..'G4'; None without a usable number."""
    tp = is_thrombocytopenic(observation, config)
    if tp is False:
        return "G0"
    if observation.value is None or tp is None:
        return None
    bands = config.platelets
    for name, limit in (
        ("G4", bands.grade4_below_10e9_l),
        ("G3", bands.grade3_below_10e9_l),
        ("G2", bands.grade2_below_10e9_l),
    ):
        if compare(observation, "<", limit):
            return name
    return "G1"


def platelet_results(view: HistoryView, config: RulesConfig) -> tuple[Observation, ...]:
    """Final blood platelet counts up to the view's time; plasma counts (13056-7, 26516-5) are stored
    but never used for platelet state."""
    kept_config, found = view.derived(
        ("platelet_results", id(config)), lambda: (config, _platelet_results(view, config))
    )
    return found if kept_config is config else _platelet_results(view, config)


def _platelet_results(view: HistoryView, config: RulesConfig) -> tuple[Observation, ...]:
    excluded = set(config.platelets.non_trigger_codes)
    return tuple(item for item in view.results(PLATELETS) if item.code not in excluded)


@lru_cache(maxsize=4096)  # asked again for every open episode at every evaluation
def episode_id(patient: PatientKey, opened_at: datetime) -> str:
    """Deterministic and PHI-free: a digest of the patient key and the opening result's time."""
    moment = opened_at.astimezone(UTC).isoformat()
    digest = hashlib.sha256(f"{patient.as_text()}|{moment}".encode()).hexdigest()
    return f"ep-{digest[:20]}"


@dataclass(frozen=True, slots=True)
class Episode:
    """A thrombocytopenia episode: opened by the first TP result, closed by two normal results at
    least 24 h apart or by 90 days without TP. ``results`` are its platelet counts up to the view's
    time or the closing result; ``closed_at`` is None while it is open. ``previous_closed_at`` is
    when the patient's previous episode closed (None for the first one): what was collected up to
    then belonged to that episode."""

    id: str
    opened_at: datetime
    results: tuple[Observation, ...]
    last_tp_at: datetime
    closed_at: datetime | None
    previous_closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def nadir(self, config: RulesConfig) -> Observation | None:
        """The lowest numeric thrombocytopenic count of the episode."""
        numeric = [
            item for item in self.results if item.value is not None and is_thrombocytopenic(item, config)
        ]
        return min(numeric, key=lambda item: (item.value, item.observed_at)) if numeric else None


def episodes(view: HistoryView, config: RulesConfig) -> tuple[Episode, ...]:
    """Every episode up to the view's time, oldest first; the last one may still be open."""
    # Triggers and the snapshot ask for the same view's episodes; the config object is kept in the
    # value so that an id reused by another config can never match.
    kept_config, found = view.derived(("episodes", id(config)), lambda: (config, _episodes(view, config)))
    return found if kept_config is config else _episodes(view, config)


def _episodes(view: HistoryView, config: RulesConfig) -> tuple[Episode, ...]:
    rules = config.episode
    idle_limit = days(rules.close_after_days_without_tp)
    found: list[Episode] = []
    opened: Observation | None = None
    members: list[Observation] = []
    last_tp_at: datetime | None = None
    normal_run_start: datetime | None = None
    normal_run_count = 0

    def previous_closed_at() -> datetime | None:
        return found[-1].closed_at if found else None

    def close(at: datetime | None) -> None:
        """Records the episode being read, closed at ``at`` or, with ``None``, still open."""
        nonlocal opened, members, last_tp_at
        if opened is not None and last_tp_at is not None:
            found.append(
                Episode(
                    episode_id(view.patient, opened.observed_at),
                    opened.observed_at,
                    tuple(members),
                    last_tp_at,
                    at,
                    previous_closed_at(),
                )
            )
        opened, members, last_tp_at = None, [], None

    for result in platelet_results(view, config):
        if opened is not None and last_tp_at is not None and result.observed_at - last_tp_at > idle_limit:
            close(last_tp_at + idle_limit)
        tp = is_thrombocytopenic(result, config)
        if tp is None:
            if opened is not None:
                members.append(result)
            continue
        if tp:
            if opened is None:
                opened = result
            members.append(result)
            last_tp_at = result.observed_at
            normal_run_start, normal_run_count = None, 0
            continue
        if opened is None:
            continue
        members.append(result)
        if normal_run_start is None:
            normal_run_start, normal_run_count = result.observed_at, 1
        else:
            normal_run_count += 1
        spaced = result.observed_at - normal_run_start >= hours(rules.close_normal_spacing_hours)
        if normal_run_count >= rules.close_normal_results and spaced:
            close(result.observed_at)
            normal_run_start, normal_run_count = None, 0
    if opened is not None and last_tp_at is not None:
        close(last_tp_at + idle_limit if view.at - last_tp_at > idle_limit else None)
    return tuple(found)


def current_episode(view: HistoryView, config: RulesConfig) -> Episode | None:
    """The episode open at the view's time, or None."""
    found = episodes(view, config)
    return found[-1] if found and found[-1].is_open else None
