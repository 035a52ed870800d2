"""process() on short result lists: corrections are judged against the patient's current results
(R10) and a B12 drawn just before the count that opens the episode counts for it (spec 2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState

R01 = "B12-UNKNOWN-THROMBOCYTOPENIA"
R02 = "B12-LOW-THROMBOCYTOPENIA"
R06 = "TTP-ADAMTS13-SEVERE"
R08 = "HOMOCYSTEINE-PROTHROMBOTIC"
R09 = "PLATELET-RECOVERY"

# (LOINC, OBX-2 value type, value, unit, range, OBX-8 flag)
Result = tuple[str, str, str, str, str, str]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def oru(control: str, collected: str, filler: str, results: list[Result], *, status: str = "F") -> bytes:
    lines = [
        f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01|{control}|P|2.5",
        "PID|1||CR0001^^^HOSP^MR||TEST^CURRENT||19600101|F",
        f"OBR|1|P-{filler}|{filler}|PANEL^Panel^L|||{collected}|||||||||||||||{collected}||HM|{status}",
    ]
    for index, (code, kind, value, unit, limits, flag) in enumerate(results, 1):
        lines.append(
            f"OBX|{index}|{kind}|{code}^x^LN|1|{value}|{unit}|{limits}|{flag}|||{status}|||{collected}"
        )
    return ("\r".join(lines) + "\r").encode()


def plt(value: str) -> Result:
    return ("777-3", "NM", value, "10*3/uL", "150-400", "L" if float(value) < 150 else "")


def b12(value: str) -> Result:
    return ("2132-9", "NM", value, "ng/L", "180-900", "L")


def hcy(value: str) -> Result:
    return ("13965-9", "NM", value, "umol/L", "5-15", "H")


# S8's platelets, blood count and haemolysis markers, without the film: PLASMIC's platelets <30, MCV
# <90, INR <1.5 and creatinine <2.0 mg/dL.
S8_HAEMOLYSIS: list[Result] = [
    plt("12"),
    ("718-7", "NM", "8.5", "g/dL", "12.0-15.5", "L"),
    ("787-2", "NM", "88", "fL", "80-100", ""),
    ("17849-1", "NM", "6.0", "%", "0.5-2.5", "H"),
    ("2532-0", "NM", "1400", "U/L", "135-250", "H"),
    ("4542-7", "SN", "<^10", "mg/dL", "30-200", "L"),
    ("2160-0", "NM", "1.1", "mg/dL", "0.5-1.1", ""),
    ("6301-6", "NM", "1.1", "{INR}", "0.8-1.2", ""),
]


def feed(engine: Engine, messages: list[bytes], *, stored: bool = False) -> list[list[dict[str, Any]]]:
    """Events per message, and the pages of the last message under the key 'pages'. ``stored``:
    the state is written and read back between messages, as the stream stores it."""
    state: PatientState | None = None
    per_message = []
    for raw in messages:
        accepted = ingest(raw, engine)
        assert isinstance(accepted, Accepted)
        state = state or PatientState.empty(accepted.patient)
        outcome = process(state, accepted, engine)
        state = PatientState.from_bytes(outcome.state.to_bytes()) if stored else outcome.state
        per_message.append([*outcome.events, *({"page": p} for p in outcome.pages)])
    return per_message


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        ("page", e["page"]["event_action"], "") if "page" in e else (e["type"], e["rule"], e["severity"])
        for e in events
    ]


def test_a_b12_drawn_five_minutes_before_the_count_gives_r02_at_the_count(engine):
    count = oru("C1", "20260302080000", "CBC1", [plt("60")])
    early_b12 = oru("C2", "20260302075500", "B12A", [b12("100")])
    first, second = feed(engine, [count, early_b12])
    assert kinds(first) == [("alert", R01, "medium")]
    assert kinds(second) == [("alert", R02, "medium")]
    assert second[0]["observed_at"] == "2026-03-02T08:00:00Z"


def test_a_trivial_b12_correction_keeps_the_critical_ttp_alert_and_its_page(engine):
    labs = [*S8_HAEMOLYSIS, ("800-3", "ST", "Present", "", "", "A")]
    *_, ttp, correction = feed(
        engine,
        [
            oru("C1", "20260302224000", "CBC1", labs),
            oru("C2", "20260302224000", "B12A", [b12("160")]),
            oru("C3", "20260303013000", "A13A", [("53622-7", "NM", "5", "%", "61-131", "LL")]),
            oru("C4", "20260302224000", "B12A", [b12("165")], status="C"),
        ],
    )
    assert kinds(ttp)[0] == ("alert", R06, "critical")
    assert correction == []


def test_a_correction_of_the_first_count_keeps_r01_while_the_latest_count_is_low(engine):
    first, second, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("80")]),
            oru("C2", "20260303080000", "CBC2", [plt("78")]),
            oru("C3", "20260302080000", "CBC1", [plt("210")], status="C"),
        ],
    )
    assert kinds(first) == [("alert", R01, "medium")]
    assert second == []
    assert correction == []  # still holds on D1's 78, in the episode that count now opens


def test_the_original_count_re_sent_after_its_correction_fires_nothing(engine):
    """S11, then the laboratory re-sends the clumped count as it first reported it (new MSH-10):
    the corrected 240 stands (R10 idempotency), R01 does not fire again."""
    first, correction, resent = feed(
        engine,
        [
            oru("C1", "20260302090000", "CBC1", [plt("40")]),
            oru("C2", "20260302110000", "CBC1", [plt("240")], status="C"),
            oru("C3", "20260302090000", "CBC1", [plt("40")]),
        ],
    )
    assert kinds(first) == [("alert", R01, "medium")]
    assert [e["type"] for e in correction] == ["retraction"]
    assert resent == []


@pytest.mark.parametrize(("removal", "reason"), [("W", "posted to wrong patient"), ("D", "deleted result")])
@pytest.mark.parametrize("stored", [False, True], ids=["kept", "stored between messages"])
def test_a_withdrawn_b12_sent_again_stays_withdrawn(engine, removal, reason, stored):
    """S12 (or the B12 deleted), then the laboratory's system sends the original message again under
    a new MSH-10, then the B12 alone: the withdrawn B12 is not the patient's, R02 does not fire again
    on it (R10 idempotency), also when the state is stored and read back between messages."""
    draw = "20260302080000"
    messages = [
        oru("C1", draw, "LAB1", [b12("100"), plt("60")]),
        oru("C2", "20260303080000", "LAB1", [b12("100")], status=removal),
        oru("C3", draw, "LAB1", [b12("100"), plt("60")]),
        oru("C4", draw, "LAB1", [b12("100")]),
    ]
    first, withdrawn, *resent = feed(engine, messages, stored=stored)
    assert kinds(first) == [("alert", R02, "medium")]
    assert kinds(withdrawn) == [("retraction", R02, "medium"), ("alert", R01, "medium")]
    assert withdrawn[0]["reason"] == reason
    assert resent == [[], []]


def test_a_deletion_delivered_before_its_result_keeps_the_result_out(engine):
    """The deletion of a B12 the engine never held (delivered first, or its result never read) is
    remembered: the result arriving after it is not the patient's evidence."""
    draw = "20260302080000"
    count, deletion, result = feed(
        engine,
        [
            oru("C1", draw, "CBC1", [plt("60")]),
            oru("C2", "20260303080000", "B12A", [b12("100")], status="D"),
            oru("C3", draw, "B12A", [b12("100")]),
        ],
    )
    assert kinds(count) == [("alert", R01, "medium")]
    assert deletion == [] and result == []


def test_a_correction_of_a_withdrawn_b12_posts_it_again(engine):
    """After S12 the laboratory posts the B12 again on purpose, as a correction: it counts (R02 again),
    and the original final sent after it changes nothing."""
    draw = "20260302080000"
    *_, reposted, resent = feed(
        engine,
        [
            oru("C1", draw, "LAB1", [b12("100"), plt("60")]),
            oru("C2", "20260303080000", "LAB1", [b12("100")], status="W"),
            oru("C3", draw, "LAB1", [b12("100")], status="C"),
            oru("C4", draw, "LAB1", [b12("100")]),
        ],
    )
    assert kinds(reposted) == [("alert", R02, "medium")]
    assert resent == []


def test_after_the_first_count_is_corrected_the_alert_continues_in_the_re_based_episode(engine):
    *_, correction, worse = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("80")]),
            oru("C2", "20260303080000", "CBC2", [plt("78")]),
            oru("C3", "20260302080000", "CBC1", [plt("210")], status="C"),
            oru("C4", "20260304080000", "CBC3", [plt("40")]),
        ],
    )
    assert correction == []
    (update,) = worse
    assert (update["type"], update["rule"]) == ("alert_update", R01)
    assert [o["loinc"] for o in update["suggested_orders"]] == []  # shown on D0, same stay


def test_a_b12_correction_does_not_take_r02_back_to_an_older_platelet_count(engine):
    *_, escalation, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60")]),
            oru("C2", "20260302080000", "B12A", [b12("100")]),
            oru("C3", "20260305080000", "CBC2", [plt("40")]),
            oru("C4", "20260302080000", "B12A", [b12("110")], status="C"),
        ],
    )
    assert ("alert_update", R02, "high") in kinds(escalation)
    assert correction == []


def test_a_b12_corrected_to_normal_retracts_r02_that_rested_on_it_and_the_r09_that_followed_it(engine):
    """The count of 40 made R09 'worsening' after R02 identified the deficiency; with no deficiency
    identified any more, R09 is outside its scope (R10)."""
    *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60")]),
            oru("C2", "20260302080000", "B12A", [b12("100")]),
            oru("C3", "20260305080000", "CBC2", [plt("40")]),
            oru("C4", "20260302080000", "B12A", [("2132-9", "NM", "600", "ng/L", "180-900", "")], status="C"),
        ],
    )
    retraction = [e for e in correction if e.get("type") == "retraction"]
    assert [(e["rule"], e["reason"], e["severity"]) for e in retraction] == [
        (R02, "corrected result", "high"),
        (R09, "corrected result", "high"),
    ]


def test_a_correction_in_an_episode_that_has_since_closed_is_judged_at_the_alert_time(engine):
    *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60")]),
            oru("C2", "20260302080000", "B12A", [b12("100")]),
            oru("C3", "20260303080000", "CBC2", [plt("200")]),
            oru("C4", "20260305080000", "CBC3", [plt("210")]),
            oru("C5", "20260302080000", "CBC1", [plt("45")], status="C"),
        ],
    )
    assert kinds([e for e in correction if e.get("rule") == R02]) == [("alert_update", R02, "high")]
    assert correction[0]["observed_at"] == "2026-03-02T08:00:00Z"


def test_two_alerts_of_one_time_that_hold_only_there_are_both_kept_after_a_correction(engine):
    # R02 and R08 both rest on D0's count and both hold only there (the episode closed on D16, and
    # R08's 14-day window no longer reaches D0): each is re-checked at D0 with the corrected count,
    # the second against everything that holds at D0, not against the first one's finding alone.
    first, *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60"), b12("100"), hcy("48")]),
            oru("C2", "20260303080000", "CBC2", [plt("200")]),
            oru("C3", "20260318080000", "CBC3", [plt("210")]),
            oru("C4", "20260302080000", "CBC1", [plt("45")], status="C"),
        ],
    )
    assert kinds(first) == [("alert", R02, "medium"), ("alert", R08, "medium")]
    assert kinds(correction) == [("alert_update", R02, "high")]
    assert correction[0]["observed_at"] == "2026-03-02T08:00:00Z"


R04 = "B12-CAUSE-WORKUP"
R09 = "PLATELET-RECOVERY"


def test_a_b12_corrected_to_deficient_after_the_count_recovered_raises_r02_at_its_own_time(engine):
    # R10: a rule the correction makes hold fires, at the corrected result's collection time, as the
    # same B12 arriving late would; the cause work-up (R04) is not lost and R09 follows an R02.
    *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60"), b12("400")]),
            oru("C2", "20260305080000", "CBC2", [plt("230")]),
            oru("C3", "20260302080000", "CBC1", [b12("100")], status="C"),
        ],
    )
    r02, r09 = correction
    assert (r02["type"], r02["rule"], r02["severity"], r02["bundled"]) == ("alert", R02, "medium", [R04])
    assert r02["observed_at"] == "2026-03-02T08:00:00Z"
    assert {"31443-5", "8087-9"} <= {o["loinc"] for o in r02["suggested_orders"]}
    assert (r09["rule"], r09["observed_at"]) == (R09, "2026-03-05T08:00:00Z")


def test_a_count_corrected_to_low_before_a_normal_one_alerts_as_the_same_count_arriving_late(engine):
    normal = [
        oru("C1", "20260302080000", "CBC1", [plt("240")]),
        oru("C2", "20260305080000", "CBC2", [plt("230")]),
    ]
    *_, corrected = feed(engine, [*normal, oru("C3", "20260302080000", "CBC1", [plt("40")], status="C")])
    *_, late = feed(engine, [*normal, oru("C3", "20260302080000", "CBC9", [plt("40")])])
    assert kinds(corrected) == kinds(late) == [("alert", R01, "medium")]
    assert corrected[0]["observed_at"] == late[0]["observed_at"] == "2026-03-02T08:00:00Z"


def test_a_rule_the_correction_makes_hold_now_fires_once_at_the_newest_time(engine):
    *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60"), b12("400")]),
            oru("C2", "20260305080000", "CBC2", [plt("90")]),
            oru("C3", "20260302080000", "CBC1", [b12("100")], status="C"),
        ],
    )
    r02 = [e for e in correction if e["rule"] == R02]
    assert kinds(r02) == [("alert", R02, "medium")]
    assert r02[0]["observed_at"] == "2026-03-05T08:00:00Z"


def test_a_correction_does_not_raise_again_at_its_own_time_what_held_there_before(engine):
    # R02 held on D0 and the grey-zone ADAMTS13 of D1 withdrew it: a trivial correction of D0's B12
    # changes nothing about D0, so R02 does not come back there.
    *_, correction = feed(
        engine,
        [
            oru("C1", "20260302080000", "CBC1", [plt("60"), b12("100")]),
            oru("C2", "20260303080000", "A13A", [("53622-7", "NM", "15", "%", "61-131", "L")]),
            oru("C3", "20260302080000", "CBC1", [b12("110")], status="C"),
        ],
    )
    assert correction == []


def test_a_correction_does_not_update_an_open_alert_at_its_own_older_time(engine):
    # D0's count corrected to 40 now opens the episode of D1's R01 (G2); the episode has closed since.
    # The open R01 is not escalated to D0's grade: that is no longer the patient's state.
    *_, correction = feed(
        engine,
        [
            oru("C0", "20260302080000", "CBC0", [plt("200")]),
            oru("C1", "20260303080000", "CBC1", [plt("90")]),
            oru("C2", "20260305080000", "CBC2", [plt("230")]),
            oru("C3", "20260306090000", "CBC3", [plt("240")]),
            oru("C4", "20260302080000", "CBC0", [plt("40")], status="C"),
        ],
    )
    assert correction == []


def _proposed(er7: bytes) -> list[str]:
    """The LOINC codes an order message proposes (OBR-4.1)."""
    return [s.split(b"|")[4].split(b"^")[0].decode() for s in er7.split(b"\r") if s.startswith(b"OBR|")]


@pytest.mark.parametrize("together", [True, False], ids=["one message", "two messages of one draw"])
def test_an_order_re_shown_by_another_rule_of_the_same_results_is_proposed_once(engine, together):
    """R01 and R08 fire on one draw; R08, newly fired at high, shows B12 and folate again, marked
    previously suggested (R11). Its alert says so; a second order message for them, with its own
    placer numbers, would be a second order at the receiver."""
    draw = "20260302080000"
    if together:
        messages = [oru("C1", draw, "CBC1", [plt("88"), hcy("120")])]
    else:
        messages = [oru("C1", draw, "CBC1", [plt("88")]), oru("C2", draw, "HCY1", [hcy("120")])]
    state: PatientState | None = None
    events, proposed = [], []
    for raw in messages:
        accepted = ingest(raw, engine)
        assert isinstance(accepted, Accepted)
        outcome = process(state or PatientState.empty(accepted.patient), accepted, engine)
        state = outcome.state
        events.extend(outcome.events)
        proposed.extend(code for order in outcome.orders for code in _proposed(order.er7))
    assert [(e["rule"], e["severity"]) for e in events] == [(R01, "medium"), (R08, "high")]
    r08 = events[1]["suggested_orders"]
    assert {o["loinc"]: o.get("previously_suggested_at") for o in r08} == {
        "2132-9": "2026-03-02T08:00:00Z",
        "2284-8": "2026-03-02T08:00:00Z",
    }
    assert sorted(proposed) == sorted(set(proposed)) == ["18314-5", "2132-9", "2284-8"]


def test_an_order_re_shown_by_another_rule_of_the_same_results_counts_as_one_emission(engine):
    """R08 shows B12 and folate again beside the order message R01 proposed them in: one emission
    each (R11 (c)), so a week on, with B12 still unknown and nothing pending, the falling count's R01
    update suggests them a second time, as it does the blood film R01 alone suggested."""
    messages = [
        oru("C1", "20260302080000", "CBC1", [plt("88"), hcy("120")]),
        oru("C2", "20260310080000", "CBC2", [plt("45")]),
    ]
    *_, (update,) = feed(engine, messages)
    assert (update["type"], update["rule"]) == ("alert_update", R01)
    assert [(o["loinc"], o.get("previously_suggested_at")) for o in update["suggested_orders"]] == [
        ("2132-9", None),
        ("2284-8", None),
        ("18314-5", None),
    ]
