"""A13_STATUS (spec 2.3, ISTH 2020): severe, grey zone, not severe, pending or unknown in the episode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from b12stream.clinical.episodes import Episode
from b12stream.clinical.measure import compare
from b12stream.clinical.model import Observation
from b12stream.clinical.rules_config import RulesConfig
from b12stream.clinical.view import HistoryView, days

__all__ = [
    "ADAMTS13",
    "ADAMTS13_INHIBITOR",
    "INDETERMINATE",
    "NOT_SEVERE",
    "PENDING",
    "SEVERE",
    "UNKNOWN",
    "A13Assessment",
    "assess_a13",
    "classify_a13",
    "episode_window_start",
]

ADAMTS13 = "adamts13_activity"
ADAMTS13_INHIBITOR = "adamts13_inhibitor"

SEVERE = "SEVERE"
INDETERMINATE = "INDETERMINATE"
NOT_SEVERE = "NOT_SEVERE"
PENDING = "PENDING"
UNKNOWN = "UNKNOWN"

# The finest step of a datetime: a window that starts this long after a close starts just after it
# (collected together with the closing count is collected in the closed episode).
_NEXT_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class A13Assessment:
    """A13_STATUS and the result behind it; ``below_lln`` when NOT_SEVERE but under the lab range."""

    status: str
    result: Observation | None
    below_lln: bool
    pending: tuple[Observation, ...]


def classify_a13(observation: Observation, config: RulesConfig) -> str | None:
    """SEVERE (<10 %), INDETERMINATE (10–20 %, or a censored value that may be below 20 %),
    NOT_SEVERE (>20 %); None without a number."""
    rules = config.adamts13
    if observation.value is None:
        return None
    if compare(observation, "<", rules.severe_below_pct):
        return SEVERE
    if compare(observation, ">", rules.indeterminate_max_pct):
        return NOT_SEVERE
    return INDETERMINATE


def episode_window_start(episode: Episode, config: RulesConfig) -> datetime:
    """ADAMTS13 drawn up to 7 d before the episode's first thrombocytopenic count still belongs to it,
    but not one drawn before the previous episode closed: that was the previous episode's, and an
    ADAMTS13 is valid only for the current episode (spec 2.3). Inclusive start."""
    start = episode.opened_at - days(config.adamts13.maha_validity_days)
    if episode.previous_closed_at is None:
        return start
    return max(start, episode.previous_closed_at + _NEXT_INSTANT)


def _near_index(observation: Observation, index_times: tuple[datetime, ...], config: RulesConfig) -> bool:
    if not index_times:
        return True
    limit = days(config.adamts13.maha_validity_days)
    return any(abs(observation.observed_at - moment) <= limit for moment in index_times)


def assess_a13(
    view: HistoryView, episode: Episode | None, index_times: tuple[datetime, ...], config: RulesConfig
) -> A13Assessment:
    """A13_STATUS in the open episode. Results count only within the episode and within ±7 d of a
    MAHA index (when there is one). A severe result stays SEVERE for the episode: a later normal
    value may follow plasma therapy (E25). Otherwise the latest result decides; with none, an order
    seen within the pending window (14 d) is PENDING, else UNKNOWN."""
    if episode is None or not episode.is_open:
        return A13Assessment(UNKNOWN, None, False, ())
    start = episode_window_start(episode, config)
    valid = [
        (item, found)
        for item in view.results(ADAMTS13, start)
        if _near_index(item, index_times, config) and (found := classify_a13(item, config)) is not None
    ]
    severe = [item for item, found in valid if found == SEVERE]
    if severe:
        return A13Assessment(SEVERE, severe[-1], False, ())
    if valid:
        item, found = valid[-1]
        below = (
            found == NOT_SEVERE
            and item.reference_low is not None
            and bool(compare(item, "<", item.reference_low))
        )
        return A13Assessment(found, item, below, ())
    pending_since = max(start, view.at - days(config.suggestions.adamts13.pending_days))
    pending = view.pending_records(ADAMTS13, pending_since)
    if pending:
        return A13Assessment(PENDING, None, False, pending)
    return A13Assessment(UNKNOWN, None, False, ())
