"""OML^O21 order messages: content per DESIGN "Outputs", and strict hl7apy v2.5.1 validation of the bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from b12stream.engine.engine import OutputSettings
from b12stream.engine.ids import control_id, placer_order_number
from b12stream.engine.orders import order_message, triggering_order
from b12stream.engine.suppression import ShownOrder
from b12stream.errors import HL7Error
from b12stream.hl7.build import OrderLine, OrderRequest, build_oml, escape
from tests.unit.engine.builders import B12, FILM, PATIENT, day, finding, platelets, strict_message

BOTH = (ShownOrder(B12), ShownOrder(FILM))


def make(orders=BOTH, alert="a" * 32):
    item = finding(evidence=(platelets(60, day(0), "FIL-77"),), at=day(0))
    return order_message(
        alert_id=alert, finding=item, patient=PATIENT, orders=orders, at=day(0), outputs=OutputSettings()
    )


def test_order_message_validates_strictly_and_says_what_the_design_requires():
    message = make()
    parsed = strict_message(message.er7)
    msh = parsed.msh
    assert msh.msh_9.to_er7() == "OML^O21^OML_O21"
    assert msh.msh_12.to_er7() == "2.5.1"
    assert msh.msh_7.to_er7() == "20260302090000+0000"
    assert msh.msh_10.to_er7() == control_id("a" * 32)
    assert parsed.oml_o21_patient.pid.pid_3.to_er7() == "MRN001^^^HOSP"
    orders = parsed.children[2:]
    assert len(orders) == 2
    expected = zip(orders, ("2132-9", "18314-5"), ("S", "R"), strict=True)
    for number, (group, loinc, priority) in enumerate(expected, start=1):
        orc = group.orc
        obr = group.oml_o21_observation_request.obr
        assert obr.obr_1.to_er7() == str(number)  # OBR-1 numbers the orders of the message
        assert group.oml_o21_timing.tq1.tq1_1.to_er7() == "1"  # TQ1-1 the timing specs of one order
        assert orc.orc_1.to_er7() == "NW"
        assert orc.orc_2.ei_1.to_er7() == placer_order_number("a" * 32, loinc)
        assert obr.obr_2.ei_1.to_er7() == orc.orc_2.ei_1.to_er7()
        assert obr.obr_4.ce_1.to_er7() == loinc and obr.obr_4.ce_3.to_er7() == "LN"
        assert obr.obr_11.to_er7() == "G"
        assert orc.orc_8.to_er7() == "^FIL-77" == obr.obr_29.to_er7()
        assert group.oml_o21_timing.tq1.tq1_9.to_er7().startswith(priority + "^")
    assert message.key == PATIENT.as_text()


def test_same_alert_gives_the_same_bytes_and_another_alert_other_placer_numbers():
    assert make().er7 == make().er7
    assert placer_order_number("a" * 32, "2132-9") != placer_order_number("b" * 32, "2132-9")
    assert make(alert="b" * 32).er7 != make().er7


def test_no_suggestions_no_message():
    assert make(orders=()) is None


def test_delimiters_in_values_are_escaped_and_survive_strict_parsing():
    request = OrderRequest(
        control_id="C1",
        message_time=datetime(2026, 1, 1, tzinfo=UTC),
        patient_id="12^34",
        assigning_authority="A&B",
        orders=(OrderLine("P1", "X-1", "odd | name ~ with \\ and &", "LN"),),
    )
    parsed = strict_message(build_oml(request))
    assert parsed.oml_o21_patient.pid.pid_3.cx_1.to_er7() == escape("12^34")
    assert parsed.children[2].oml_o21_observation_request.obr.obr_4.ce_2.to_er7() == escape(
        "odd | name ~ with \\ and &"
    )


def test_an_order_message_needs_orders():
    request = OrderRequest("C1", datetime(2026, 1, 1, tzinfo=UTC), "1", "A", ())
    with pytest.raises(HL7Error):
        build_oml(request)


def test_parent_order_is_the_latest_evidence_collected_by_the_evaluation_time():
    early, late = platelets(60, day(0), "EARLY"), platelets(55, day(1), "LATE")
    assert triggering_order((early, late), day(1)) == "LATE"
    assert triggering_order((early, late), day(0, 5)) == "EARLY"
    assert triggering_order((), day(0)) == ""


def test_the_strict_check_itself_rejects_a_message_missing_a_required_field():
    segments = make().er7.decode("utf-8").split("\r")
    obr = segments[4].split("|")
    assert obr[0] == "OBR"
    obr[4] = ""  # OBR-4, universal service identifier, is required
    segments[4] = "|".join(obr)
    with pytest.raises(Exception, match="OBR_4"):
        strict_message("\r".join(segments).encode("utf-8"))
