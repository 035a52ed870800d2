"""Every file of the shared HL7 corpus frames and reads to a message or a located rejection."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.hl7.charset import decode_message
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import OruMessage, Rejection, StructuredNumeric
from b12stream.hl7.oru import read_oru


def _read_all(corpus_dir: Path, name: str) -> list[OruMessage | Rejection]:
    data = (corpus_dir / name).read_bytes()
    return [read_oru(frame.data) for frame in split_messages(data)]


def _only_message(corpus_dir: Path, name: str) -> OruMessage:
    (result,) = _read_all(corpus_dir, name)
    assert isinstance(result, OruMessage), result
    return result


def _only_rejection(corpus_dir: Path, name: str) -> Rejection:
    (result,) = _read_all(corpus_dir, name)
    assert isinstance(result, Rejection), result
    return result


@pytest.mark.timeout(60)
def test_every_corpus_message_is_read_or_rejected_with_a_location(corpus_dir: Path) -> None:
    problems = []
    files = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix == ".hl7")
    assert len(files) > 100
    for path in files:
        data = path.read_bytes()
        for frame in split_messages(data):
            if data[frame.offset:frame.offset + len(frame.data)] != frame.data:
                problems.append(f"{path.name}: frame at {frame.offset} is not a slice of the input")
            result = read_oru(frame.data)
            if isinstance(result, Rejection):
                if not result.reason or "internal" in result.reason:
                    problems.append(f"{path.name}@{frame.offset}: bad reason {result.reason!r}")
                if result.location.segment is None and result.location.byte_offset is None:
                    problems.append(f"{path.name}@{frame.offset}: rejection without a location")
            elif not isinstance(result, OruMessage):
                problems.append(f"{path.name}@{frame.offset}: returned {type(result).__name__}")
    assert problems == []


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("cdc-ti__empty-file-0-bytes.hl7", 0),
        ("hapi__multi-message-stream-oml-oul-orl-oru-v251-cr-utf8.hl7", 13),
        ("mirth__multi-message-124-adt-v231-crlf-89kb.hl7", 124),
        ("python-hl7__file-fhs-2batches-3msgs-fts.hl7", 3),
        ("prime-rs__batch-fhs-bhs-20-oru-bts-fts-cr-67kb.hl7", 20),
        ("mirth__fhs-bhs-orm-o01-v24-no-trailers-crlf.hl7", 1),
        ("uclh-emap__two-oru-v23-duplicate-result-segments.hl7", 2),
        ("python-hl7__batch-bhs-then-msh-less-body-malformed.hl7", 1),
    ],
)
def test_framing_splits_streams_and_batches(corpus_dir: Path, name: str, frames: int) -> None:
    assert len(split_messages((corpus_dir / name).read_bytes())) == frames


@pytest.mark.parametrize(
    "name", ["hl7apy__mllp-framed-qbp-q22-v25.hl7", "hl7apy__mllp-frame-missing-trailing-cr.hl7"])
def test_mllp_framing_is_stripped(corpus_dir: Path, name: str) -> None:
    (frame,) = split_messages((corpus_dir / name).read_bytes())
    assert frame.offset == 1
    assert frame.data.startswith(b"MSH|")
    assert not frame.data.endswith((b"\x1c", b"\r"))


def test_nist_cbc_with_bom_reads_all_28_observations(corpus_dir: Path) -> None:
    message = _only_message(corpus_dir, "msft-fhirconv__oru-r01-v251-nist-lri-cbc-diff-28obx-bom.hl7")
    assert message.header.charset_note == "BOM UTF-8"
    assert message.header.version == "2.5.1"
    assert sum(len(order.observations) for order in message.orders) == 28


def test_chemistry_cbc_panel_has_its_platelet_count(corpus_dir: Path) -> None:
    message = _only_message(corpus_dir, "hl7-v2tofhir__oru-r01-v231-32obx-chem-cbc-plt-ed-mismatch-crlf.hl7")
    observations = [o for order in message.orders for o in order.observations]
    assert len(observations) == 32
    platelets = [o for o in observations if o.code.code == "777-3"]
    assert len(platelets) == 1
    assert platelets[0].numeric is not None


def test_hemogram_two_orders_keep_their_own_observations(corpus_dir: Path) -> None:
    message = _only_message(corpus_dir, "msft-fhirconv__oru-r01-v25-hemogram-platelets-2obr-bom.hl7")
    assert [len(order.observations) for order in message.orders] == [5, 5]
    platelets = message.orders[0].observations[4]
    assert (platelets.code.code, platelets.values, platelets.result_status) == ("11125-2", ("221",), "F")
    assert platelets.observed_at is not None and platelets.observed_at.utcoffset() is not None
    assert message.orders[0].observations[0].values == ()


def test_adt_then_cbc_stream(corpus_dir: Path) -> None:
    adt, cbc = _read_all(corpus_dir, "mirth__multi-message-adt-a40-plus-oru-cbc-v23-lf.hl7")
    assert isinstance(adt, Rejection) and adt.message_type == "ADT^A40"
    assert isinstance(cbc, OruMessage)
    assert sum(len(order.observations) for order in cbc.orders) == 14


def test_large_batch_reads_twenty_results(corpus_dir: Path) -> None:
    results = _read_all(corpus_dir, "prime-rs__batch-fhs-bhs-20-oru-bts-fts-cr-67kb.hl7")
    assert all(isinstance(r, OruMessage) for r in results)
    messages = [r for r in results if isinstance(r, OruMessage)]
    assert sum(len(o.observations) for m in messages for o in m.orders) == 120
    assert {m.header.charset_note for m in messages} == {"MSH-18 UNICODE UTF-8"}
    assert len({m.header.control_id for m in messages}) == 20


def test_truncation_character_is_accepted(corpus_dir: Path) -> None:
    message = _only_message(corpus_dir, "hl7-v2tofhir__oru-r01-v251-lri-lipid-panel-truncation-char-crlf.hl7")
    assert len(message.orders[0].observations) == 4


def test_sn_comparator_and_nm_comparators(corpus_dir: Path) -> None:
    glucose = _only_message(corpus_dir, "python-hl7__oru-r01-v24-hl7-normative-glucose-sn.hl7")
    assert glucose.orders[0].observations[0].numeric == StructuredNumeric("", 182.0)
    # This sample puts its SN one field late (OBX-7): nothing numeric may be read from OBX-5.
    shifted = _only_message(corpus_dir, "node-hl7-complete__oru-r01-v251-elr-ig-hepc-sn-comparator.hl7")
    assert (shifted.orders[0].observations[0].values, shifted.orders[0].observations[0].numeric) == ((), None)
    odd = _only_message(corpus_dir, "uclh-emap__oru-r01-v23-bone-profile-b12-folate-odd-numerics.hl7")
    numerics = [o.numeric for o in odd.orders[0].observations]
    assert numerics[1:4] == [StructuredNumeric("<", 7.0), StructuredNumeric(">", 7.0), None]
    assert odd.orders[0].observations[8].abnormal_flags == ("H",)


def test_results_placed_after_spm_are_kept(corpus_dir: Path) -> None:
    lead = _only_message(corpus_dir, "node-hl7-complete__oru-r01-v251-cerner-lead-mixed-cr-lf.hl7")
    (observation,) = lead.orders[0].observations
    assert (observation.code.code, observation.numeric) == ("10368-9", StructuredNumeric("", 50.0))


@pytest.mark.parametrize(
    ("name", "codec", "text"),
    [
        ("camel__qry-a19-v24-msh18-8859-7-greek.hl7", "iso8859-7", "Παπαδόπουλος"),
        ("camel__qry-a19-v24-msh18-8859-5-cyrillic.hl7", "iso8859-5", "Иванов"),
        ("camel__qry-a19-v24-msh18-gb18030-chinese.hl7", "gb18030", "张伟"),
        ("hapi__erp-z99-v231-olis-query-resp-zseg-8859-1.hl7", "latin-1", "ERP^Z99"),
        ("python-hl7__msh-cp1252-byte-not-utf8.hl7", "latin-1", "ELAB\x963"),
        ("cdc-ti__oru-r01-v251-nbs-micro-sign-utf8.hl7", "utf-8", "µ"),
    ],
)
def test_character_sets(corpus_dir: Path, name: str, codec: str, text: str) -> None:
    decoded = decode_message((corpus_dir / name).read_bytes())
    assert decoded.codec == codec
    assert text in decoded.text


def test_declared_charset_reaches_the_header(corpus_dir: Path) -> None:
    result = _only_rejection(corpus_dir, "camel__qry-a19-v24-msh18-8859-7-greek.hl7")
    assert result.message_type == "QRY^A19"


def test_missing_control_id_is_rejected_naming_msh10(corpus_dir: Path) -> None:
    rejection = _only_rejection(corpus_dir, "hl7-dotnetcore__oru-r01-v24-missing-msh10-control-id.hl7")
    assert "MSH-10" in rejection.reason
    assert (rejection.location.segment, rejection.location.field) == ("MSH", 10)


def test_pid_first_is_rejected_naming_the_first_segment(corpus_dir: Path) -> None:
    rejection = _only_rejection(corpus_dir, "hl7apy__first-segment-pid-not-msh-malformed.hl7")
    assert "PID" in rejection.reason
    assert (rejection.location.segment, rejection.location.segment_index, rejection.location.byte_offset) == (
        "PID", 1, 0)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("hapi__oru-r01-v24-malformed-msh2-three-encoding-chars-crlf.hl7", 2),
        ("hl7apy__msh-duplicate-encoding-chars-malformed.hl7", 2),
        ("hl7apy__msh-too-many-encoding-chars-malformed.hl7", 2),
        ("nhapi-fuzz__msh-without-field-separator.hl7", 1),
        ("cdc-ti__msh-missing-msh9-message-type.hl7", 9),
    ],
)
def test_broken_headers_are_rejected_at_the_field(corpus_dir: Path, name: str, field: int) -> None:
    rejection = _only_rejection(corpus_dir, name)
    assert (rejection.location.segment, rejection.location.field) == ("MSH", field)


def test_raw_carriage_returns_inside_a_field_are_rejected(corpus_dir: Path) -> None:
    rejection = _only_rejection(corpus_dir, "hapi__oru-r01-v23-malformed-segment-named-I-zseg-crlf.hl7")
    assert "segment id" in rejection.reason
    assert rejection.location.segment_index == 2


def test_oru_without_trigger_event_is_not_an_r01(corpus_dir: Path) -> None:
    rejection = _only_rejection(corpus_dir, "hapi__oru-v23-olis-cholesterol-nte-escaped-table.hl7")
    assert rejection.message_type == "ORU"
