"""process(): the shared step of replay and the stream, on real messages with the shipped configuration."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from b12stream.clinical.model import PatientKey
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import Outcome, process
from b12stream.engine.schemas import validation_errors
from b12stream.engine.state import PatientState
from b12stream.errors import StateError
from b12stream.hl7.er7 import component_text, read_encoding
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import Rejection
from tests.unit.engine.builders import oru, strict_message


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def accepted_messages(data: bytes, engine: Engine) -> list[Accepted]:
    messages = [ingest(frame.data, engine) for frame in split_messages(data)]
    assert not any(isinstance(m, Rejection) for m in messages)
    return messages  # type: ignore[return-value]


def run_all(messages: list[Accepted], engine: Engine, *, via_bytes: bool = False) -> list[Outcome]:
    state = PatientState.empty(messages[0].patient)
    outcomes = []
    for message in messages:
        outcome = process(state, message, engine)
        outcomes.append(outcome)
        state = PatientState.from_bytes(outcome.state.to_bytes()) if via_bytes else outcome.state
    return outcomes


def sample(samples_dir: Path, name: str) -> bytes:
    return next(samples_dir.glob(f"{name}-*.hl7")).read_bytes()


def test_identical_resend_changes_nothing(engine):
    (message,) = accepted_messages(oru("M1", "20260302080000", "82").encode(), engine)
    first = process(PatientState.empty(message.patient), message, engine)
    assert [e["type"] for e in first.events] == ["alert"]
    again = process(first.state, message, engine)
    assert again == Outcome(first.state, (), (), ())


def test_a_message_that_repeated_known_results_changes_nothing_when_redelivered_after_their_deletion(
    engine,
):
    """The laboratory re-sends a count under a new MSH-10 (nothing new), then deletes the count; the
    stream then redelivers the re-send: it was applied already, so the deletion stands."""
    first, resent, deleted = accepted_messages(
        (
            oru("M1", "20260302080000", "82")
            + oru("M1-RESENT", "20260302080000", "82")
            + oru("M2", "20260302080000", "82", status="D")
        ).encode(),
        engine,
    )
    outcomes = run_all([first, resent, deleted], engine)
    assert [[e["type"] for e in o.events] for o in outcomes] == [["alert"], [], ["retraction"]]
    redelivered = process(outcomes[-1].state, resent, engine)
    assert redelivered.events == ()


def cancelled_b12(control: str, collected: str) -> str:
    """One ORU^R01 v2.5.1 cancelling (OBX-11 X) a vitamin B12 order drawn at ``collected``."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|HOSP|B12STREAM|CDS|{collected}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                "PID|1||RP0001^^^HOSP^MR||TEST^REPLAY",
                f"OBR|1|P-B12|B12|2132-9^Cobalamin^LN|||{collected}|||||||||||||||{collected}||CHEM|X",
                f"OBX|1|NM|2132-9^Cobalamin^LN|||pg/mL|||||X|||{collected}",
            ]
        )
        + "\r"
    )


def test_a_redelivered_message_older_than_the_history_keeps_changes_nothing(engine):
    """A cancellation of a B12 order drawn two years before the open episode's count is past the
    400-day retention, forgotten as soon as applied. Its message is remembered all the same: each
    redelivery would otherwise lift suppression again, and re-suggest B12 in an order message."""
    count, cancelled = accepted_messages(
        (oru("M1", "20290408080000", "88") + cancelled_b12("M2", "20270404080000")).encode(), engine
    )
    outcomes = run_all([count, cancelled], engine)
    assert outcomes[-1].state.history.records == outcomes[0].state.history.records
    redelivered = process(outcomes[-1].state, cancelled, engine)
    assert redelivered == Outcome(outcomes[-1].state, (), (), ())


def test_a_deleted_count_is_remembered_as_long_as_the_history_keeps_results_of_its_time(engine):
    """The deletion of a count goes when the count itself would have: 400 days after its collection,
    counted back from the patient's newest result."""
    messages = accepted_messages(
        (
            oru("M1", "20260302080000", "82", filler="CBC1")
            + oru("M2", "20260302080000", "82", filler="CBC1", status="D")
            + oru("M3", "20270405080000", "250", filler="CBC2")  # 399 days later
            + oru("M4", "20270407080000", "250", filler="CBC3")  # 401 days later
        ).encode(),
        engine,
    )
    outcomes = run_all(messages, engine, via_bytes=True)
    assert [[d.result_key.filler_order_number for d in o.state.history.deleted] for o in outcomes] == [
        [],
        ["CBC1"],
        ["CBC1"],
        [],
    ]


def test_chronic_thrombocytopenia_outliving_the_retention_keeps_its_episode_and_its_one_alert(engine):
    """Monthly counts of 80 for 19 months are one open episode: past the 400-day retention its first
    count and its R01 alert are still known, so the episode is not renamed and R01 is not raised again."""
    start = datetime(2026, 1, 1, 8, 0)
    counts = [
        oru(f"M{month}", f"{start + timedelta(days=30 * month):%Y%m%d%H%M%S}", "80", filler=f"CBC{month}")
        for month in range(19)
    ]
    outcomes = run_all(accepted_messages("".join(counts).encode(), engine), engine)
    events = [event for outcome in outcomes for event in outcome.events]
    assert [(e["type"], e["rule"]) for e in events] == [("alert", "B12-UNKNOWN-THROMBOCYTOPENIA")]


def test_evaluation_uses_collection_time_not_message_time(engine):
    late = oru("M1", "20260302080000", "82", sent="20260309120000")
    (message,) = accepted_messages(late.encode(), engine)
    (event,) = process(PatientState.empty(message.patient), message, engine).events
    assert event["observed_at"] == "2026-03-02T08:00:00Z"


def test_restoring_state_from_bytes_between_messages_changes_no_event(engine, samples_dir):
    for name in ("s07", "s12", "s13"):
        messages = accepted_messages(sample(samples_dir, name), engine)
        direct = [o.events for o in run_all(messages, engine)]
        restored = [o.events for o in run_all(messages, engine, via_bytes=True)]
        assert direct == restored


def test_critical_alerts_page_and_every_output_is_valid(engine, samples_dir):
    outcomes = run_all(accepted_messages(sample(samples_dir, "s08"), engine), engine)
    events = [e for o in outcomes for e in o.events]
    pages = [p for o in outcomes for p in o.pages]
    orders = [m for o in outcomes for m in o.orders]
    assert all(validation_errors(e) == [] for e in events)
    assert all(validation_errors(p, "pager") == [] for p in pages)
    critical = [e["id"] for e in events if e["severity"] == "critical"]
    assert critical and [p["dedup_key"] for p in pages if p["event_action"] == "trigger"] == critical
    with_orders = [e["id"] for e in events if e["suggested_orders"]]
    assert [m.alert_id for m in orders] == with_orders
    for message in orders:
        strict_message(message.er7)
        assert message.key == events[0]["patient"]["assigning_authority"] + "|" + events[0]["patient"]["id"]


def test_x_status_lifts_suppression_into_an_update(engine, samples_dir):
    outcomes = run_all(accepted_messages(sample(samples_dir, "s13"), engine), engine)
    kinds = [[e["type"] for e in o.events] for o in outcomes]
    assert kinds == [["alert"], [], [], [], ["alert_update"]]
    (update,) = outcomes[-1].events
    assert [o["loinc"] for o in update["suggested_orders"]] == ["2132-9"]
    assert update["supersedes"] == outcomes[0].events[0]["id"]


def test_a_cancellation_delivered_after_the_next_count_still_lifts_suppression(engine, samples_dir):
    """S13 with the D1 14:00 cancellation (X) delivered after the D1 16:00 count: the count is
    evaluated again with it, and B12 is re-suggested as when the messages came in order."""
    first, pending, same_grade, cancelled, count = accepted_messages(sample(samples_dir, "s13"), engine)
    outcomes = run_all([first, pending, same_grade, count, cancelled], engine)
    assert [[e["type"] for e in o.events] for o in outcomes] == [["alert"], [], [], [], ["alert_update"]]
    (update,) = outcomes[-1].events
    assert [o["loinc"] for o in update["suggested_orders"]] == ["2132-9"]
    assert update["observed_at"] == "2026-03-03T16:00:00Z"


def test_a_state_of_another_patient_is_refused(engine):
    (message,) = accepted_messages(oru("M1", "20260302080000", "82").encode(), engine)
    with pytest.raises(StateError):
        process(PatientState.empty(PatientKey("other", "HOSP")), message, engine)


def test_every_order_message_of_every_sample_is_valid_at_hl7apy_strict_level(engine, samples_dir):
    states: dict[str, PatientState] = {}
    checked = 0
    for path in sorted(samples_dir.glob("*.hl7")):
        for message in accepted_messages(path.read_bytes(), engine):
            key = message.patient.as_text()
            outcome = process(states.get(key) or PatientState.empty(message.patient), message, engine)
            states[key] = outcome.state
            for order in outcome.orders:
                strict_message(order.er7)
                checked += 1
    assert checked == 26  # every alert or update with suggested orders in samples/ has its message


def test_pid8_selects_the_anaemia_fallback_when_the_lab_gives_no_range(engine):
    """Hb 125 g/L with no OBX-7 is anaemia for a man (< 130) but not for a woman (< 120): with
    schistocytes and a raised LDH, only the man's thrombocytopenia is haemolytic (MAHA → R07)."""

    def rules_fired(sex: str) -> set[str]:
        lines = [
            "MSH|^~\\&|LIS|LAB|||20260302090000||ORU^R01|M1|P|2.5.1",
            f"PID|||MRN9^^^HOSP^MR||TEST^PID-EIGHT||19600101|{sex}",
            "OBR|1||F1|58410-2^CBC^LN|||20260302080000||||||||||||||||||F",
            "OBX|1|NM|718-7^Hgb^LN||12.5|g/dL|||||F|||20260302080000",
            "OBX|2|ST|800-3^Schistocytes^LN||Present||||||F|||20260302080000",
            "OBX|3|NM|2532-0^LDH^LN||900|U/L|135-250|H|||F|||20260302080000",
            "OBX|4|NM|777-3^Platelets^LN||60|10*3/uL|||||F|||20260302080000",
        ]
        (message,) = accepted_messages("\r".join(lines).encode(), engine)
        outcome = process(PatientState.empty(message.patient), message, engine)
        return {event["rule"] for event in outcome.events}

    assert "MAHA-ADAMTS13-PENDING" in rules_fired("M")
    assert "MAHA-ADAMTS13-PENDING" not in rules_fired("F")


def test_a_later_message_without_pid8_keeps_the_sex_an_earlier_one_stated(engine):
    """A man's Hb 125 g/L (no OBX-7) is anaemia, so his schistocytes and raised LDH are MAHA (R07).
    A later count from a system that leaves PID-8 empty does not make him a woman (< 120 g/L): no
    MAHA there would fire R01 ("no B12") beside the open R07."""

    def message(control: str, sex: str, collected: str, results: list[str]) -> str:
        header = [
            f"MSH|^~\\&|LIS|LAB|||{collected}||ORU^R01|{control}|P|2.5.1",
            f"PID|||MRN9^^^HOSP^MR||TEST^PID-EIGHT||19600101|{sex}",
            f"OBR|1||{control}|58410-2^CBC^LN|||{collected}||||||||||||||||||F",
        ]
        return "\r".join([*header, *results]) + "\r"

    labs = [
        "OBX|1|NM|718-7^Hgb^LN||12.5|g/dL|||||F|||20260302080000",
        "OBX|2|ST|800-3^Schistocytes^LN||Present||||||F|||20260302080000",
        "OBX|3|NM|2532-0^LDH^LN||900|U/L|135-250|H|||F|||20260302080000",
        "OBX|4|NM|777-3^Platelets^LN||60|10*3/uL|||||F|||20260302080000",
    ]
    count = ["OBX|1|NM|777-3^Platelets^LN||58|10*3/uL|||||F|||20260302200000"]
    data = message("M1", "M", "20260302080000", labs) + message("M2", "", "20260302200000", count)
    first, later = run_all(accepted_messages(data.encode(), engine), engine, via_bytes=True)
    assert [e["rule"] for e in first.events] == ["MAHA-ADAMTS13-PENDING"]
    assert later.events == ()


def test_line_breaks_decoded_from_an_incoming_id_stay_inside_the_order_message_fields(engine):
    # \X0D\ and \.br\ in the lab's message decode to CR and LF in the patient id and the filler order
    # number; written as they are, they would end the PID and ORC early and start segments of their own.
    raw = oru("M1", "20260302080000", "82", mrn="RV1\\X0D\\ZZZ", filler="F1\\.br\\PID")
    (message,) = accepted_messages(raw.encode(), engine)
    assert message.patient.id == "RV1\rZZZ"
    (order,) = process(PatientState.empty(message.patient), message, engine).orders
    segments = order.er7.decode("utf-8").split("\r")
    groups = ["ORC", "TQ1", "OBR"] * len(order.request.orders)
    assert [segment[:3] for segment in segments] == ["MSH", "PID", *groups, ""]
    assert segments[1].startswith("PID|||RV1\\X0D\\ZZZ^^^HOSP|")
    assert segments[2].endswith("|^F1\\X0A\\PID")
    strict_message(order.er7)
    enc = read_encoding(segments[0])
    assert component_text(segments[1].split("|")[3], 1, enc) == "RV1\rZZZ"
    assert component_text(segments[2].split("|")[8], 2, enc) == "F1\nPID"


def test_an_order_message_for_a_latin1_lab_message_says_it_is_utf8_and_escapes_its_c1_controls(engine):
    # A lab writing ISO 8859-1 sends É as one byte and a C1 control as \X85\ (Latin-1, as no UTF-8);
    # the order message carries them in UTF-8, declared in MSH-18, with the control (a line end to
    # Java and Python line splitters) as the hex escape of its UTF-8 bytes.
    raw = oru("M1", "20260302080000", "82", mrn="RÉ7", filler="F1\\X85\\PID")
    raw = raw.replace("|P|2.5.1\r", "|P|2.5.1||||||8859/1\r", 1)
    (message,) = accepted_messages(raw.encode("latin-1"), engine)
    assert message.patient.id == "RÉ7"
    (order,) = process(PatientState.empty(message.patient), message, engine).orders
    assert strict_message(order.er7).msh.msh_18.to_er7() == "UNICODE UTF-8"
    text = order.er7.decode("utf-8")
    segments = text.split("\r")
    assert text.splitlines() == segments[:-1]
    assert segments[1].startswith("PID|||RÉ7^^^HOSP|")
    assert segments[2].endswith("|^F1\\XC285\\PID")
    enc = read_encoding(segments[0])
    assert component_text(segments[2].split("|")[8], 2, enc) == "F1\x85PID"
