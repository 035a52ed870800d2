"""The two stream stages over a real state file: the ingest stage packs each patient's messages into
their partition's repartition record, in input order; the process stage reads them back and
dead-letters a record it cannot read."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.state import PatientState
from b12stream.log import configure_logging, patient_hash
from b12stream.state import SqlitePatientStore
from b12stream.stream.records import Message, OutRecord, SourceRef
from b12stream.stream.repartition import partition_of, unpack
from b12stream.stream.settings import KafkaSettings, TopicNames
from b12stream.stream.stages import StageResult, Stages, log_committed_notices, pager_key, split_record
from tests.conftest import CORPUS, SAMPLES
from tests.integration.harness import for_patient_copy, hl7_messages

_TOPICS = TopicNames()
_RECORD = SourceRef(_TOPICS.repartition, 1, 41)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def _patient_partition(engine: Engine, message: Message) -> int:
    accepted = ingest(message.data, engine)
    assert isinstance(accepted, Accepted)
    return partition_of(accepted.patient.as_text().encode(), 4)


def test_ingest_packs_each_patient_into_its_partition_in_order(engine: Engine) -> None:
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    values = [for_patient_copy(normal, n % 5) for n in range(12)] + [b"not HL7"]
    inputs = [Message(value, SourceRef("hl7.oru", 0, offset)) for offset, value in enumerate(values)]
    result = Stages(engine, _TOPICS, 1_000_000).rekey(inputs, partitions=4)
    assert result.dead_lettered == 1
    assert [r.value for r in result.records if r.topic == _TOPICS.dlq] == [b"not HL7"]
    packed = [r for r in result.records if r.topic == _TOPICS.repartition]
    for partition in range(4):
        received = [m for r in packed if r.partition == partition for m in unpack(r.value, _RECORD)]
        assert received == [m for m in inputs[:-1] if _patient_partition(engine, m) == partition]


def test_ingest_keeps_the_messages_of_partitions_taken_in_place_in_order(engine: Engine) -> None:
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    values = [for_patient_copy(normal, n % 7) for n in range(21)] + [b"not HL7"]
    inputs = [Message(value, SourceRef("hl7.oru", 0, offset)) for offset, value in enumerate(values)]
    result = Stages(engine, _TOPICS, 1_000_000).rekey(inputs, partitions=4, in_place=frozenset({1, 2}))
    assert result.dead_lettered == 1
    packed = [r for r in result.records if r.topic == _TOPICS.repartition]
    assert {r.partition for r in packed} <= {0, 3}
    for partition in range(4):
        sent = [m for r in packed if r.partition == partition for m in unpack(r.value, _RECORD)]
        wanted = [m for m in inputs[:-1] if _patient_partition(engine, m) == partition]
        assert (result.in_place.get(partition, []) if partition in (1, 2) else sent) == wanted
    assert set(result.in_place) == {1, 2}


def test_process_dead_letters_an_unreadable_repartition_record_with_its_reason(
    engine: Engine, tmp_path: Path
) -> None:
    value = b"MSH|^~\\&|written by something else"
    with SqlitePatientStore.open(tmp_path / "patients.sqlite") as store:
        result = Stages(engine, _TOPICS, 1_000_000).process(unpack(value, _RECORD), store.begin(), 1, 42)
    assert (result.processed, result.dead_lettered) == (0, 1)
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    headers = dict(dead.headers)
    assert dead.value == value
    assert b"repartition record unreadable" in headers["b12stream.error.reason"]
    assert headers["b12stream.error.stage"] == b"process"
    assert (headers["b12stream.source.topic"], headers["b12stream.source.offset"]) == (
        _TOPICS.repartition.encode(),
        b"41",
    )


def test_a_message_over_max_message_bytes_is_dead_lettered_without_its_bytes(engine: Engine) -> None:
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    small, large = (
        Message(for_patient_copy(normal, n) + b"\rNTE|1||" + b"x" * size, SourceRef("hl7.oru", 0, n))
        for n, size in ((1, 10), (2, 5000))
    )
    result = Stages(engine, _TOPICS, 4000).rekey([large, small], partitions=4)
    assert result.dead_lettered == 1
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    headers = dict(dead.headers)
    assert dead.value == b""
    assert headers["b12stream.error.value-omitted"] == str(len(large.data)).encode()
    assert b"over kafka.max_message_bytes (4,000)" in headers["b12stream.error.reason"]
    assert headers["b12stream.error.control-id"]
    assert headers["b12stream.source.offset"] == b"2"
    packed = [m for r in result.records if r.topic == _TOPICS.repartition for m in unpack(r.value, _RECORD)]
    assert packed == [small]


def _record_bytes(record: OutRecord) -> int:
    return len(record.key or b"") + len(record.value) + sum(len(n) + len(v) for n, v in record.headers)


def test_no_field_of_a_message_makes_its_dead_letter_or_rejected_event_over_the_record_limit(
    engine: Engine,
) -> None:
    """A field copied whole into the reason and the control-id header would double the record, which
    the producer refuses batch after batch until the engine stops."""
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    long = b"A" * 600_000
    values = [
        normal.replace(b"|ORU^R01^ORU_R01|", b"|ADT^" + long + b"|"),
        normal.replace(b"|ORU^R01^ORU_R01|CGH20260302091512001|", b"|ADT^A01|" + long + b"|"),
        normal.replace(b"|CGH20260302091512001|", b"|" + long + long + b"|"),  # over max_message_bytes
    ]
    inputs = [Message(value, SourceRef("hl7.oru", 0, n)) for n, value in enumerate(values)]
    result = Stages(engine, _TOPICS, 1_000_000).rekey(inputs, partitions=4)
    assert result.dead_lettered == 3
    dead = [r for r in result.records if r.topic == _TOPICS.dlq]
    assert [r.value for r in dead] == [*values[:2], b""]
    assert dict(dead[2].headers)["b12stream.error.reason"].endswith(b"max.message.bytes to match)")
    limit = KafkaSettings(max_message_bytes=1_000_000).record_limit
    assert all(_record_bytes(r) - len(r.value) < 2_000 for r in dead)
    assert all(_record_bytes(r) < limit for r in dead)
    events = [r for r in result.records if r.topic == _TOPICS.alerts]
    assert len(events) == 3
    assert all(_record_bytes(r) < 2_000 for r in events)


def test_a_message_whose_alerts_would_be_over_the_record_limit_is_dead_lettered(
    engine: Engine, tmp_path: Path
) -> None:
    """An alert repeats the control id once per result it cites: a message well within the limit
    whose MSH-10 is long would make an alert several times its size, which the alerts topic refuses,
    batch after batch."""
    [normal] = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])
    first, *rest = hl7_messages([SAMPLES / "s07-pseudo-tma-adamts13-normal.hl7"])  # alerts and orders
    long = b"C" * 40_000
    values = [
        first.replace(b"|MH0302034500007|", b"|" + long + b"|"),
        *rest,
        normal.replace(b"|CGH20260302091512001|", b"|" + long + b"|"),  # gives no alert: processed
    ]
    messages = [Message(value, SourceRef(_TOPICS.repartition, 0, n)) for n, value in enumerate(values)]
    with SqlitePatientStore.open(tmp_path / "patients.sqlite") as store:
        result = Stages(engine, _TOPICS, 100_000).process(messages, store.begin(), 0, len(values))
    assert (result.processed, result.dead_lettered) == (len(values) - 1, 1)
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    assert dead.value == values[0]
    reason = dict(dead.headers)["b12stream.error.reason"]
    assert b"record this message gives would be" in reason
    assert b"over kafka.max_message_bytes (100,000)" in reason
    assert max(_record_bytes(r) for r in result.records if r.topic != _TOPICS.changelog) <= 100_000
    assert reason.startswith(f"a {_TOPICS.alerts} record".encode())
    changelog = [r for r in result.records if r.topic == _TOPICS.changelog]
    assert len(changelog) == 2
    assert sum(long in r.value for r in changelog) == 1  # the refused message is in no state


def test_bytes_outside_the_mllp_frames_are_dead_lettered_apart_from_the_framed_messages(
    engine: Engine,
) -> None:
    """A result after a frame's end block is not read as the framed patient's (a stray platelet count
    would be), and junk before the next frame does not take that frame's message down with it."""
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    first, second = for_patient_copy(normal, 1), for_patient_copy(normal, 2)
    outside = b"OBX|6|NM|777-3^Platelets^LN||12|10*3/uL|150-400|LL|||F|||20260302083000-0500\rJUNK"
    value = b"\x0b" + first + b"\x1c\r" + outside + b"\x0b" + second + b"\x1c\r"
    messages = split_record(value, SourceRef("hl7.oru", 0, 7))
    read = [ingest(message.data, engine) for message in messages]
    accepted = [result.message for result in read if isinstance(result, Accepted)]
    assert [message.header.control_id.encode() for message in accepted] == [
        framed.split(b"|")[9] for framed in (first, second)]
    for message in accepted:
        observations = [o for order in message.orders for o in order.observations]
        assert [o.values for o in observations if o.code.code == "777-3"] == [("245",)]
    result = Stages(engine, _TOPICS, 1_000_000).rekey(messages, partitions=4)
    assert result.dead_lettered == 1
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    headers = dict(dead.headers)
    assert dead.value == outside
    assert headers["b12stream.error.reason"] == b"first segment is OBX, not MSH"
    assert headers["b12stream.source.frame-offset"] == str(value.index(outside)).encode()


def test_an_mllp_frame_cut_off_in_transit_is_dead_lettered_whole(engine: Engine) -> None:
    """Its cut-off segments may have held a result: what arrived is not read as the whole message."""
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    first, second = for_patient_copy(normal, 1), for_patient_copy(normal, 2)
    cut_off = b"\x0b" + second[: second.index(b"\rOBX|")]
    value = b"\x0b" + first + b"\x1c\r" + cut_off
    messages = split_record(value, SourceRef("hl7.oru", 0, 7))
    result = Stages(engine, _TOPICS, 1_000_000).rekey(messages, partitions=4)
    assert result.dead_lettered == 1
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    headers = dict(dead.headers)
    assert dead.value == cut_off
    assert headers["b12stream.error.reason"].startswith(b"MLLP frame has no end block (0x1C)")
    assert headers["b12stream.source.frame-offset"] == str(value.index(cut_off)).encode()



def _batches(
    store: SqlitePatientStore, stages: Stages, values: list[bytes], abort_first: bool = False
) -> list[StageResult]:
    """Each message in a batch of its own, committed to ``store``, so that each later message of a
    patient reads the state stored by the batch before; with ``abort_first``, each batch is first
    processed in a transaction that is thrown away."""
    results = []
    for offset, value in enumerate(values):
        batch = [Message(value, SourceRef(_TOPICS.repartition, 0, offset))]
        if abort_first:
            stages.process(batch, store.begin(), 0, offset + 1)
        transaction = store.begin()
        results.append(stages.process(batch, transaction, 0, offset + 1))
        transaction.prepare({(_TOPICS.repartition, 0): offset + 1}, offset + 1)
        transaction.flush()
    return results


def _outputs(engine: Engine, store_path: Path, cache_bytes: int, abort_first: bool) -> list[tuple]:
    """Every record the process stage gives for the sample scenarios, a message per batch."""
    stages = Stages(engine, _TOPICS, 1_000_000, state_cache_bytes=cache_bytes)
    with SqlitePatientStore.open(store_path) as store:
        results = _batches(store, stages, hl7_messages(sorted(SAMPLES.glob("*.hl7"))), abort_first)
    return [(r.topic, r.key, r.value, r.headers, r.partition) for result in results for r in result.records]


def test_states_kept_decoded_change_nothing_the_process_stage_gives(engine: Engine, tmp_path: Path) -> None:
    without = _outputs(engine, tmp_path / "without.sqlite", 0, abort_first=False)
    kept = _outputs(engine, tmp_path / "kept.sqlite", 1 << 20, abort_first=True)
    assert kept == without
    assert any(topic == _TOPICS.alerts for topic, *_ in without)


def test_a_state_over_max_state_bytes_keeps_the_earlier_state_and_dead_letters_the_message(
    engine: Engine, tmp_path: Path
) -> None:
    values = hl7_messages([SAMPLES / "s05-indeterminate-b12-mma-functional.hl7"])
    with SqlitePatientStore.open(tmp_path / "free.sqlite") as store:
        free = _batches(store, Stages(engine, _TOPICS, 1_000_000), values)
    [second_state] = [r.value for r in free[1].records if r.topic == _TOPICS.changelog]
    [patient] = [r.key.decode() for r in free[2].records if r.topic == _TOPICS.changelog]
    limit = len(second_state)  # the third message's results make the state larger than this
    with SqlitePatientStore.open(tmp_path / "bounded.sqlite") as store:
        bounded = _batches(store, Stages(engine, _TOPICS, 1_000_000, max_state_bytes=limit), values)
        assert store.begin().get(patient) == second_state
    assert [r.records for r in bounded[:2]] == [r.records for r in free[:2]]
    refused = bounded[2]
    assert (refused.processed, refused.dead_lettered) == (0, 1)
    assert {r.topic for r in refused.records} == {_TOPICS.dlq, _TOPICS.alerts}
    [dead] = [r for r in refused.records if r.topic == _TOPICS.dlq]
    assert dead.value == values[2]
    assert f"over kafka.max_state_bytes ({limit:,})".encode() in dict(dead.headers)["b12stream.error.reason"]
    [event] = [r for r in refused.records if r.topic == _TOPICS.alerts]
    assert b'"rejected"' in event.value


def test_a_state_that_cannot_be_encoded_keeps_the_earlier_state_and_dead_letters_its_messages(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error is not let out of the stage, where it would stop the engine on every restart: the
    patient's messages of the batch are dead-lettered and the other patients' processed."""
    [normal] = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])
    others = [for_patient_copy(normal, 1), for_patient_copy(normal, 2)]
    failing = hl7_messages([SAMPLES / "s07-pseudo-tma-adamts13-normal.hl7"])  # alerts and orders
    values = [others[0], *failing, others[1]]
    accepted = ingest(failing[0], engine)
    assert isinstance(accepted, Accepted)
    patient = accepted.patient
    encode = PatientState.to_bytes

    def to_bytes(state: PatientState) -> bytes:
        if state.patient == patient:
            raise ValueError("Out of range float values are not JSON compliant")
        return encode(state)

    monkeypatch.setattr(PatientState, "to_bytes", to_bytes)
    messages = [Message(value, SourceRef(_TOPICS.repartition, 0, n)) for n, value in enumerate(values)]
    with SqlitePatientStore.open(tmp_path / "patients.sqlite") as store:
        transaction = store.begin()
        result = Stages(engine, _TOPICS, 1_000_000).process(messages, transaction, 0, len(values))
        transaction.prepare({(_TOPICS.repartition, 0): len(values)}, len(values))
        transaction.flush()
        assert store.begin().get(patient.as_text()) is None
    assert (result.processed, result.dead_lettered) == (len(others), len(failing))
    dead = [r for r in result.records if r.topic == _TOPICS.dlq]
    assert [r.value for r in dead] == failing
    for record in dead:
        reason = dict(record.headers)["b12stream.error.reason"]
        assert reason.startswith(b"the patient's state could not be encoded with this message (ValueError)")
    assert not any(r.key == patient.as_text().encode() for r in result.records)
    assert len([r for r in result.records if r.topic == _TOPICS.changelog]) == len(others)
    rejected = [r for r in result.records if r.topic == _TOPICS.alerts and b'"rejected"' in r.value]
    assert len(rejected) == len(failing)


def test_messages_in_utf16_give_the_outputs_they_give_in_utf8(engine: Engine, tmp_path: Path) -> None:
    """Through both stages, as the engine sends them: split from the input record, packed into the
    repartition record by patient, unpacked and processed."""

    def outputs(values: list[bytes], store_path: Path) -> list[tuple]:
        stages = Stages(engine, _TOPICS, 1_000_000)
        inputs = [m for n, value in enumerate(values) for m in split_record(value, SourceRef("in", 0, n))]
        routed = stages.rekey(inputs, partitions=1)
        assert routed.dead_lettered == 0
        messages = [m for r in routed.records for m in unpack(r.value, _RECORD)]
        with SqlitePatientStore.open(store_path) as store:
            result = stages.process(messages, store.begin(), 0, 1)
        kept = (_TOPICS.alerts, _TOPICS.orders, _TOPICS.pager)
        return [(r.topic, r.key, r.value) for r in result.records if r.topic in kept]

    messages = hl7_messages(sorted(SAMPLES.glob("*.hl7")))
    in_utf8 = outputs(messages, tmp_path / "utf8.sqlite")
    wide = [codecs.BOM_UTF16_LE + message.decode("utf-8").encode("utf-16-le") for message in messages]
    in_utf16 = outputs(wide, tmp_path / "utf16.sqlite")
    assert in_utf16 == in_utf8
    assert any(topic == _TOPICS.orders for topic, *_ in in_utf8)


def test_every_partition_in_place_gives_what_the_repartition_topic_gives(
    engine: Engine, tmp_path: Path
) -> None:
    """When every partition is taken in place the ingest stage reads each message whole and the
    process stage does not read it again: the records are the same, dead letters and their stages
    included, as when the messages pass through the repartition topic."""
    files = sorted(SAMPLES.glob("*.hl7")) + sorted(CORPUS.glob("*.hl7"))
    values = [path.read_bytes() for path in files] + [b"", b"MSH|^~\\&|just a header"]
    normal = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0]
    values.append(normal.replace(b"OBR|", b"OBX|1|NM|777-3^PLT^LN||12\rOBR|", 1))  # an OBX before any OBR
    inputs = [m for n, value in enumerate(values) for m in split_record(value, SourceRef("in", 0, n))]

    def records(in_place: bool, folder: Path) -> list[tuple]:
        stages = Stages(engine, _TOPICS, 1_000_000)
        routed = stages.rekey(inputs, 4, frozenset(range(4)) if in_place else frozenset())
        rekeyed = [r for r in routed.records if r.topic == _TOPICS.repartition]
        packed = [(r.partition, m) for r in rekeyed for m in unpack(r.value, _RECORD)]
        by_partition = routed.in_place if in_place else {
            p: [m for at, m in packed if at == p] for p in range(4)
        }
        found = [r for r in routed.records if r.topic != _TOPICS.repartition]
        counts = [routed.dead_lettered]
        for partition, messages in sorted(by_partition.items()):
            with SqlitePatientStore.open(folder / f"{partition}.sqlite") as store:
                result = stages.process(messages, store.begin(), partition, 1)
            found.extend(result.records)
            counts += [result.processed, result.dead_lettered]
        return [(r.topic, r.key, r.value, r.headers, r.partition) for r in found] + [tuple(counts)]

    (tmp_path / "through").mkdir()
    (tmp_path / "in-place").mkdir()
    through = records(False, tmp_path / "through")
    assert records(True, tmp_path / "in-place") == through
    stages_named = {dict(r[3]).get("b12stream.error.stage") for r in through if r[0] == _TOPICS.dlq}
    assert stages_named == {b"ingest", b"process"}



def test_pager_records_carry_no_patient_identifier(engine: Engine, tmp_path: Path) -> None:
    """Pages go on to a paging service: their key is the page's dedup key (an alert id), never the
    patient key (the alerts topic's key) nor a token of it, and neither key nor value holds the
    patient's identifier."""
    stages = Stages(engine, _TOPICS, 1_000_000)
    messages = [
        m for n, value in enumerate(hl7_messages(sorted(SAMPLES.glob("*.hl7"))))
        for m in split_record(value, SourceRef("in", 0, n))
    ]
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        result = stages.process(messages, store.begin(), 0, len(messages))
    alerts = [r for r in result.records if r.topic == _TOPICS.alerts and b'"rejected"' not in r.value]
    pages = [r for r in result.records if r.topic == _TOPICS.pager]
    assert pages, "the samples should page someone"
    patients = {r.key: json.loads(r.value)["patient"]["id"] for r in alerts}
    for page in pages:
        assert page.key == pager_key(json.loads(page.value)) == json.loads(page.value)["dedup_key"].encode()
        assert page.key not in patients
        assert page.key not in {patient_hash(key.decode()).encode() for key in patients}
        assert not any(identifier.encode() in page.key + page.value for identifier in patients.values())


def test_a_stored_state_that_cannot_be_read_dead_letters_its_message_alone(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stored state that cannot be read costs its own message a dead letter, named, and nothing
    else: raised, it would stop the stream batch after batch. An order message v2.5.1 cannot carry
    (an assigning authority over PID-3.4's 20 characters that is no OID) costs nothing but itself,
    logged: its alert, which lists the same suggested orders, still goes out."""
    [alerting] = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    long_authority = alerting.replace(b"^^^RIVERSIDE^MR", b"^^^RIVERSIDE-GENERAL-HOSPITAL^MR")
    unreadable = for_patient_copy(alerting, 7)
    normal = for_patient_copy(hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])[0], 8)
    messages = [
        m for n, value in enumerate([long_authority, unreadable, normal])
        for m in split_record(value, SourceRef("in", 0, n))
    ]
    stages = Stages(engine, _TOPICS, 1_000_000)
    read = ingest(unreadable, engine)
    assert isinstance(read, Accepted)
    configure_logging()  # as `b12stream run` does: JSON lines on stderr
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        damaged = store.begin()
        cut = b'{"format":1,"history":{"patient":{"id":"' + read.patient.id.encode() + b'"}},\xff'
        damaged.put(read.patient.as_text(), cut)
        damaged.prepare({("in", 0): 0}, 0)
        damaged.flush()
        result = stages.process(messages, store.begin(), 0, 3)
    log_committed_notices([result])  # as the engine does once the batch commits
    assert (result.processed, result.dead_lettered) == (2, 1)
    [reason] = [dict(r.headers)["b12stream.error.reason"] for r in result.records if r.topic == _TOPICS.dlq]
    assert reason.startswith(b"processing failed: StateError: stored patient state is unreadable")
    assert read.patient.id.encode() not in reason
    events = [json.loads(r.value) for r in result.records if r.topic == _TOPICS.alerts]
    [alert] = [event for event in events if event["type"] == "alert"]
    assert alert["rule"] == "B12-UNKNOWN-THROMBOCYTOPENIA" and alert["suggested_orders"]
    assert [r.topic for r in result.records if r.topic == _TOPICS.orders] == []
    assert (result.orders, result.orders_not_written) == (0, 1)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [logged] = [line for line in lines if line["event"] == "order message not written"]
    assert "PID-3.4" in logged["error"] and logged["alert_id"] == alert["id"]
    assert "RIVERSIDE-GENERAL" not in json.dumps(lines)


@pytest.mark.parametrize("every_partition_in_place", [False, True])
def test_a_message_a_reader_raises_on_is_dead_lettered_alone_in_both_stages(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_partition_in_place: bool
) -> None:
    """The readers never raise by design; should a defect make one raise, the message is
    dead-lettered with the reason and the others go on: raised, the error would stop the stream
    batch after batch, as the same message came back."""
    from b12stream.stream import stages as stages_module

    [normal] = hl7_messages([SAMPLES / "s01-normal-platelets.hl7"])
    values = [for_patient_copy(normal, n) for n in range(3)]
    poisoned = values[1]

    def raising(read):  # type: ignore[no-untyped-def]
        def reader(data: bytes, engine: Engine):  # type: ignore[no-untyped-def]
            if data == poisoned:
                raise RuntimeError("a reader defect")
            return read(data, engine)

        return reader

    monkeypatch.setattr(stages_module, "ingest", raising(stages_module.ingest))
    monkeypatch.setattr(stages_module, "patient_of", raising(stages_module.patient_of))
    stages = Stages(engine, _TOPICS, 1_000_000)
    inputs = [Message(value, SourceRef("hl7.oru", 0, n)) for n, value in enumerate(values)]
    in_place = frozenset(range(4)) if every_partition_in_place else frozenset()
    routed = stages.rekey(inputs, partitions=4, in_place=in_place)
    [dead] = [r for r in routed.records if r.topic == _TOPICS.dlq]
    assert dead.value == poisoned
    assert dict(dead.headers)["b12stream.error.reason"] == b"reading failed: RuntimeError"
    assert routed.dead_lettered == 1
    kept = [m for messages in routed.in_place.values() for m in messages]
    packed = [m for r in routed.records if r.topic == _TOPICS.repartition for m in unpack(r.value, _RECORD)]
    assert sorted(m.data for m in kept + packed) == sorted([values[0], values[2]])
    # The process stage reads what the repartition topic hands it: a message read there raises too.
    with SqlitePatientStore.open(tmp_path / "patients.sqlite") as store:
        messages = [Message(value, SourceRef(_TOPICS.repartition, 0, n)) for n, value in enumerate(values)]
        result = stages.process(messages, store.begin(), 0, len(values))
    assert (result.processed, result.dead_lettered) == (2, 1)
    [dead] = [r for r in result.records if r.topic == _TOPICS.dlq]
    assert (dead.value, dict(dead.headers)["b12stream.error.stage"]) == (poisoned, b"process")


def test_a_result_the_numeric_rules_cannot_use_is_logged_with_ids_only(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A platelet count in a unit the terminology does not know (spec S18) is named in the engine's
    log, as `replay` names it, so that the interface analyst hears of the mapping to add."""
    [alerting] = hl7_messages([SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7"])
    odd_unit = alerting.replace(b"|82|K/uL|", b"|82|bananas|")
    assert odd_unit != alerting
    read = ingest(odd_unit, engine)
    assert isinstance(read, Accepted)
    messages = split_record(odd_unit, SourceRef("in", 0, 0))
    configure_logging()  # as `b12stream run` does: JSON lines on stderr
    with SqlitePatientStore.open(tmp_path / "state.sqlite") as store:
        result = Stages(engine, _TOPICS, 1_000_000).process(messages, store.begin(), 0, 1)
    log_committed_notices([result])  # as the engine does once the batch commits
    assert result.processed == 1
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line["event"] == "observation not usable for numeric rules"]
    assert (line["control_id"], line["analyte"], line["patient_hash"]) == (
        read.message.header.control_id, "platelets", patient_hash(read.patient.as_text()))
    assert "bananas" in line["reason"]
    assert read.patient.id not in json.dumps(lines)
