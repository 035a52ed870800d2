"""process() over arbitrary result sequences: late, corrected and deleted counts join and split
episodes, and no alert or page is stranded by it, nor left under an episode id a consumer no longer
shares with the engine (hypothesis, modest example counts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.episodes import episodes
from b12stream.clinical.model import Severity
from b12stream.clinical.view import HistoryView
from b12stream.engine.engine import Engine
from b12stream.engine.episode_names import episode_names
from b12stream.engine.ids import page_key
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState
from tests.unit.engine.test_current_results import Result, b12, oru, plt
from tests.unit.engine.test_joined_and_split_episodes import heard_right
from tests.unit.engine.test_re_based_pages import adamts13

ENGINE = Engine.load()
D0 = datetime(2026, 3, 2, 8, 0)
VALUES = {"plt": ("20", "40", "80", "90", "200", "250"), "a13": ("5", "15", "80"), "b12": ("100", "600")}
MAKERS = {"plt": plt, "a13": adamts13, "b12": b12}

# A new result (kind, 3-hour slot over 12 days, value index) or a correction or deletion of an
# earlier one (its index, among the new ones, modulo their number; value index; deleted).
new_result = st.tuples(
    st.just("new"),
    st.sampled_from(["plt"] * 6 + ["a13"] * 2 + ["b12"]),
    st.integers(0, 95),
    st.integers(0, 5),
)
correction = st.tuples(st.just("fix"), st.integers(0, 50), st.integers(0, 5), st.booleans())
sequences = st.lists(st.one_of(new_result, new_result, new_result, correction), min_size=4, max_size=14)


def messages(sequence: list[tuple[Any, ...]]) -> list[bytes]:
    made: list[tuple[str, str, str]] = []  # filler, kind, collection time
    raw: list[bytes] = []
    for index, step in enumerate(sequence):
        if step[0] == "new":
            _, kind, slot, value = step
            collected = (D0 + timedelta(hours=3 * slot)).strftime("%Y%m%d%H%M%S")
            made.append((f"F{index}", kind, collected))
            result: Result = MAKERS[kind](VALUES[kind][value % len(VALUES[kind])])
            raw.append(oru(f"M{index}", collected, f"F{index}", [result]))
        elif made:
            _, which, value, deleted = step
            filler, kind, collected = made[which % len(made)]
            result = MAKERS[kind](VALUES[kind][value % len(VALUES[kind])])
            raw.append(oru(f"M{index}", collected, filler, [result], status="D" if deleted else "C"))
    return raw


def check(state: PatientState, open_incidents: set[str]) -> None:
    """The invariants after one message, against the incidents its pages left open."""
    history, memory = state.history, state.memory
    live: set[str] = set()
    if history.records:
        names = episode_names(history, memory, ENGINE.rules)
        view = HistoryView.of(history, history.records[-1].observed_at)
        live = {names.name(e.id) for e in episodes(view, ENGINE.rules)}
    paging: dict[str, str] = {}
    for alert in memory.open_alerts():
        # Every open alert is in an episode the history still makes.
        assert alert.episode_id in live, (alert.rule, "open under an episode that is gone")
        if alert.severity is Severity.CRITICAL:
            key = page_key(
                state.patient,
                alert.rule,
                alert.paged_episode_id or alert.episode_id,
                alert.branch,
                alert.paged_sequence,
            )
            # One incident per open critical alert, open under the key it was triggered with.
            assert key not in paging, (alert.rule, "two open alerts share one incident")
            assert key in open_incidents, (alert.rule, "critical alert without an open incident")
            paging[key] = alert.id
    # No incident stays open once its alert is withdrawn or no longer critical.
    assert set(paging) == open_incidents, "an incident is open with no open critical alert"


def replay(raw: list[bytes]) -> None:
    state: PatientState | None = None
    open_incidents: set[str] = set()
    told: dict[str, dict[str, Any]] = {}  # the open alerts a consumer holds, by id
    for message in raw:
        accepted = ingest(message, ENGINE)
        assert isinstance(accepted, Accepted)
        outcome = process(state or PatientState.empty(accepted.patient), accepted, ENGINE)
        # Alerts carried into another episode were announced under its id by this very message.
        heard_right(told, outcome)
        for page in outcome.pages:
            key = page["dedup_key"]
            if page["event_action"] == "trigger":
                # A trigger for an open incident is an update of its alert, never a second finding.
                assert key not in open_incidents or page["payload"]["class"] == "alert_update"
                open_incidents.add(key)
            else:
                assert key in open_incidents, "resolve of an incident that is not open"
                open_incidents.discard(key)
        state = PatientState.from_bytes(outcome.state.to_bytes())
        check(state, open_incidents)


@settings(max_examples=250, deadline=None, derandomize=True)
@given(sequences)
def test_no_alert_or_page_is_stranded_when_episodes_join_or_split(sequence):
    """Also: after every message a consumer's open alerts are the engine's (``heard_right``)."""
    replay(messages(sequence))
