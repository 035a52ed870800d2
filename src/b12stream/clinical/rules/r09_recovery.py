"""R09 — platelet recovery after R02 or R05 branch b: normalised, improving, not resolving, worsening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from b12stream.clinical.episodes import is_thrombocytopenic, platelet_results
from b12stream.clinical.measure import compare, format_value
from b12stream.clinical.model import Finding, Observation, Severity, SuggestedOrder
from b12stream.clinical.order_sets import OS_FILM
from b12stream.clinical.rules.common import R02, R09, finding
from b12stream.clinical.snapshot import Snapshot

__all__ = ["Identification", "r09_recovery"]

CITATIONS = ("Seed[1]", "E2", "E10", "E27")


@dataclass(frozen=True, slots=True)
class Identification:
    """When deficiency was identified in the episode: the first time R02 or R05 branch b held, and
    the observations it held on then (R09's scope: a correction of them may end it, R10)."""

    at: datetime
    rule: str
    evidence: tuple[Observation, ...]


def _previous(snapshot: Snapshot, current: Observation) -> Observation | None:
    earlier = [
        item
        for item in platelet_results(snapshot.view, snapshot.config)
        if item.observed_at < current.observed_at
    ]
    return earlier[-1] if earlier else None


def r09_recovery(snapshot: Snapshot, identified: Identification | None) -> Finding | None:
    """On a platelet count collected after identification, in the open episode:

    - ≥ LLN → ``info`` 'normalised' (n days after identification);
    - after R02, <50 ×10⁹/L and ≥25 % below the previous final → ``high`` 'worsening';
    - ≥1.5 × episode nadir but < LLN → ``info`` 'improving';
    - ≥14 d after identification, < LLN and <1.5 × nadir → ``medium`` 'not resolving' (OS-FILM if
      no film in 14 d).
    Each rests on what identified the deficiency (``Finding.scope``): without it R09 does not hold.
    Never suggests B12 retesting (E27).
    """
    platelet = snapshot.platelet
    episode = snapshot.episode
    if identified is None or platelet is None or episode is None or platelet.observed_at <= identified.at:
        return None
    if platelet.value is None:
        return None
    config = snapshot.config
    rules = config.r09
    elapsed = (platelet.observed_at - identified.at).total_seconds() / 86400
    value = format_value(platelet)
    nadir = episode.nadir(config)
    if not is_thrombocytopenic(platelet, config):
        return finding(
            snapshot,
            R09,
            Severity.INFO,
            f"Platelets normalised ({value}), {elapsed:.0f} d after deficiency identified",
            [
                f"Platelets normalised ({value}, {elapsed:.0f} d after deficiency identified). Close "
                "monitoring."
            ],
            (platelet,),
            CITATIONS,
            branch="normalised",
            scope=identified.evidence,
        )
    previous = _previous(snapshot, platelet)
    if (
        identified.rule == R02
        and compare(platelet, "<", rules.worsening_below_10e9_l)
        and previous is not None
        and previous.value is not None
        and platelet.value <= previous.value * (1 - rules.worsening_drop_fraction)
    ):
        return finding(
            snapshot,
            R09,
            Severity.HIGH,
            f"Platelets worsening ({format_value(previous)} → {value}) despite B12 deficiency work-up",
            [
                f"Worsening: platelets {value}, down from {format_value(previous)}. Re-assess for MAHA / TTP "
                "(haemolysis markers, film, ADAMTS13) and other causes."
            ],
            (platelet, previous),
            CITATIONS,
            branch="worsening",
            scope=identified.evidence,
        )
    if nadir is None or nadir.value is None:
        return None
    improving = platelet.value >= rules.improving_factor * nadir.value
    if improving:
        return finding(
            snapshot,
            R09,
            Severity.INFO,
            f"Platelets improving ({value}; nadir {format_value(nadir)})",
            [
                f"Improving: platelets {value}, ≥{rules.improving_factor:g} × the episode nadir "
                f"({format_value(nadir)})."
            ],
            (platelet, nadir),
            CITATIONS,
            branch="improving",
            scope=identified.evidence,
        )
    if elapsed < rules.non_response_days:
        return None
    orders: tuple[SuggestedOrder, ...] = ()
    if not snapshot.coverage.result_within(OS_FILM, rules.film_window_days):
        orders = snapshot.coverage.suggest(OS_FILM)
    return finding(
        snapshot,
        R09,
        Severity.MEDIUM,
        f"Thrombocytopenia not resolving {elapsed:.0f} d after B12 deficiency identified ({value})",
        [
            f"Thrombocytopenia not resolving ({value}, nadir {format_value(nadir)}, {elapsed:.0f} d "
            "after deficiency identified): reconsider diagnosis (other causes, TTP, marrow disorder); "
            "confirm replacement given."
        ],
        (platelet, nadir),
        CITATIONS,
        orders,
        branch="not-resolving",
        scope=identified.evidence,
    )
