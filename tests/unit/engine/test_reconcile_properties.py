"""Invariants of reconcile over arbitrary finding sequences (hypothesis, modest example counts)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from b12stream.clinical.model import Severity
from b12stream.engine.engine import OutputSettings
from b12stream.engine.memory import Memory
from b12stream.engine.reconcile import reconcile
from b12stream.engine.schemas import validation_errors
from b12stream.engine.suppression import SuggestionPolicy
from tests.unit.engine.builders import B12, FILM, FOLATE, PATIENT, RULES_VERSION, day, finding, platelets

RULES = ("B12-UNKNOWN-THROMBOCYTOPENIA", "B12-LOW-THROMBOCYTOPENIA", "PLATELET-RECOVERY")

steps = st.lists(
    st.tuples(
        st.integers(0, 40),  # hours since the previous step
        st.sampled_from(RULES),
        st.sampled_from([Severity.INFO, Severity.MEDIUM]),
        st.sampled_from(["plt:G1", "plt:G2", "plt:G3"]),
        st.sampled_from(["", "x"]),
        st.lists(st.sampled_from([B12, FOLATE, FILM]), max_size=3, unique=True),
    ),
    min_size=1,
    max_size=12,
)


def play(sequence):
    memory, events, hours = Memory(), [], 0
    for gap, rule, severity, grade, branch, orders in sequence:
        hours += gap
        at = day(0, hours)
        item = finding(
            rule,
            severity,
            category=(grade,),
            branch=branch,
            orders=tuple(orders),
            at=at,
            evidence=(platelets(60, at, f"F{hours}"),),
        )
        result = reconcile(
            patient=PATIENT,
            memory=memory,
            findings=[item],
            at=at,
            corrected={},
            policy=SuggestionPolicy(),
            outputs=OutputSettings(),
            rules_version=RULES_VERSION,
            held=(),
        )
        memory = result.memory
        events.extend(result.events)
    return events, memory


@settings(max_examples=60, deadline=None)
@given(steps)
def test_below_high_no_suggestion_is_shown_more_than_twice_per_episode(sequence):
    events, _ = play(sequence)
    shown = Counter(o["loinc"] for e in events for o in e["suggested_orders"])
    assert all(count <= 2 for count in shown.values())


@settings(max_examples=60, deadline=None)
@given(steps)
def test_replaying_gives_the_same_events_and_every_event_is_valid(sequence):
    events, memory = play(sequence)
    assert play(sequence) == (events, memory)
    assert len({e["id"] for e in events}) == len(events)
    emitted = set()
    for event in events:
        assert validation_errors(event) == []
        if event["type"] == "alert_update":
            assert event["supersedes"] in emitted
        emitted.add(event["id"])
    assert len(memory.open_alerts()) <= len(RULES) * 2
