"""The two stream stages over plain records: ingest (re-key by patient) and process (state + outputs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from b12stream.engine.engine import Engine
from b12stream.engine.events import encode_event, rejected_event
from b12stream.engine.ingest import Accepted, Keyed, ingest, patient_of
from b12stream.engine.process import Outcome, process
from b12stream.engine.state import PatientState
from b12stream.errors import cause
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import Rejection
from b12stream.hl7.records import slot_constructor
from b12stream.log import get_logger
from b12stream.notices import Notice, say
from b12stream.state.transaction import StoreTransaction
from b12stream.stream.dead_letter import dead_letter
from b12stream.stream.decoded_states import DecodedStates
from b12stream.stream.message_notices import (
    dead_lettered,
    order_bytes,
    processing_failed,
    reading_failed,
    state_not_encodable,
    state_over_limit,
)
from b12stream.stream.message_size import oversized, too_large
from b12stream.stream.records import Header, Message, OutRecord, SourceRef
from b12stream.stream.repartition import envelopes, partition_of
from b12stream.stream.settings import DEFAULT_MAX_STATE_BYTES, TopicNames
from b12stream.unusable_results import unusable_notices

__all__ = [
    "CHANGELOG_SOURCE_HEADER",
    "CHANGELOG_SOURCE_ID_HEADER",
    "StageResult",
    "Stages",
    "changelog_stamp",
    "log_committed_notices",
    "pager_key",
    "split_record",
]

CHANGELOG_SOURCE_HEADER = "b12stream.changelog.source-offset"
CHANGELOG_SOURCE_ID_HEADER = "b12stream.changelog.source-topic-id"

_log = get_logger("stream.stages")
# Two to four per message: the frozen classes' own constructors set each field through
# object.__setattr__ (dataclasses.replace, slower still, cost 2 % of a cycle).
_new_message = slot_constructor(Message)
_new_source = slot_constructor(SourceRef)
_new_record = slot_constructor(OutRecord)


_Read = TypeVar("_Read", Accepted, Keyed)


def _read_or_refused(
    read: Callable[[bytes, Engine], _Read | Rejection], data: bytes, engine: Engine, notices: list[Notice]
) -> _Read | Rejection:
    """``read(data, engine)``, or, should the reader raise after all, a rejection saying so, noticed
    in ``notices``. The readers never raise for bad input by design; a defect that made one raise
    would stop the stream for everyone, batch after batch, as the same message came back: it costs
    the one message a dead letter instead."""
    try:
        return read(data, engine)
    except Exception as error:
        notices.append(reading_failed(error))
        return Rejection(reason=f"reading failed: {cause(error)}")


@dataclass(slots=True)
class StageResult:
    """Records to produce and the counts the invariant is checked with. ``in_place``: messages the
    ingest stage hands to the process stage of a partition this instance runs (stream/in_place.py),
    by partition, in input order.

    What the records publish, for the engine's metrics: ``alerts`` counts the alert, alert_update and
    retraction events by (type, rule, severity), ``pages`` the pager envelopes by ``event_action``,
    ``orders`` the order messages written, ``orders_not_written`` those v2.5.1 could not carry
    (``order_bytes``). Each dead letter comes with one ``rejected`` event.

    ``notices``: the log lines about its messages, said by ``log_committed_notices`` once the batch
    commits: said as it ran, an abandoned batch said them again each time it was read again. First
    those that explain its dead letters, as they were made, then those about the messages processed
    and not dead-lettered (message_notices.py), in input order."""

    stage: str
    records: list[OutRecord] = field(default_factory=list)
    processed: int = 0
    dead_lettered: int = 0
    in_place: dict[int, list[Message]] = field(default_factory=dict)
    alerts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    orders_not_written: int = 0
    notices: list[Notice] = field(default_factory=list)

    def count(self, outcome: Outcome, orders_written: int) -> None:
        """Add what ``outcome`` publishes to the counts: ``orders_written`` of its order messages."""
        self.alerts.update((e["type"], e["rule"], e["severity"]) for e in outcome.events)
        self.pages.update(page["event_action"] for page in outcome.pages)
        self.orders += orders_written
        self.orders_not_written += len(outcome.orders) - orders_written


def split_record(value: bytes | None, source: SourceRef) -> list[Message]:
    """The messages in one input record value (single, MLLP-framed or batch). An empty value gives one
    empty message, so that it is dead-lettered rather than skipped."""
    frames = split_messages(value or b"")
    if not frames:
        return [Message(value or b"", source)]
    topic, partition, offset = source.topic, source.partition, source.offset
    return [
        _new_message(frame.data, _new_source(topic, partition, offset, index, frame.offset), None)
        for index, frame in enumerate(frames)
    ]


def changelog_stamp(source_offset: int | None, source_id: str | None) -> tuple[Header, ...]:
    """The headers of a changelog state that reflects its stateful partition up to ``source_offset``
    (the offset after the last message it reflects; none when that is not known), of the stateful
    topic whose id is ``source_id`` (none when the broker gives no ids): a topic deleted and created
    again counts its offsets anew."""
    if source_offset is None:
        return ()
    offset = (CHANGELOG_SOURCE_HEADER, str(source_offset).encode())
    return (offset,) if source_id is None else (offset, (CHANGELOG_SOURCE_ID_HEADER, source_id.encode()))


def log_committed_notices(results: Iterable[StageResult]) -> None:
    """Log the notices of a batch's ``results``; called once the batch has committed, so each is
    said once whatever the batch's earlier, abandoned attempts."""
    for result in results:
        say(_log, result.notices)


def pager_key(page: dict[str, Any]) -> bytes:
    """The key of a pager record: the envelope's ``dedup_key`` (an alert id, already in the
    envelope). Pages go on to a paging service, which must get no patient identifier, nor a token it
    could turn back into one by trying every MRN; one key per alert keeps an alert's trigger and its
    resolve in one partition, in order, which is the order a paging service needs."""
    return str(page["dedup_key"]).encode()


class Stages:
    """Both stages bound to one engine and one set of topic names. Deterministic given its inputs:
    the states kept decoded (``state_cache_bytes`` of memory, none by default) change only how fast
    a stored state is read, never what is read."""

    def __init__(
        self,
        engine: Engine,
        topics: TopicNames,
        max_message_bytes: int,
        *,
        state_cache_bytes: int = 0,
        max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    ) -> None:
        self._engine = engine
        self._topics = topics
        self._max_bytes = max_message_bytes
        self._max_state_bytes = max_state_bytes
        self._decoded = DecodedStates(state_cache_bytes)

    def rekey(
        self, messages: Iterable[Message], partitions: int, in_place: frozenset[int] = frozenset()
    ) -> StageResult:
        """Ingest stage: each message whose patient key can be read (MSH and PID alone, ``patient_of``)
        to the partition of the repartition topic (of ``partitions``) that key hashes to, packed per
        partition (stream/repartition.py), or, for the partitions in ``in_place``, to
        ``result.in_place``; each other one to the dead-letter topic (plus a ``rejected`` event on the
        alerts topic). Each message is read whole once: by the process stage, or here when every
        partition is taken in place (``_keyed``). A whole read kept here for a message bound for the
        repartition topic was reused only while the process stage ran close behind, never on a
        backlog, nor for the patients another process holds."""
        result = StageResult("ingest")
        routed: list[tuple[int, Message]] = []
        read_whole = in_place.issuperset(range(partitions))
        for original in messages:
            keyed, message = self._keyed(original, read_whole, result.notices)
            if isinstance(keyed, Keyed) and len(message.data) > self._max_bytes:
                keyed = too_large(message, keyed.control_id, self._max_bytes)
            if isinstance(keyed, Rejection):
                self._reject(result, original, keyed, "ingest")
                continue
            partition = partition_of(keyed.patient.as_text().encode("utf-8"), partitions)
            if partition in in_place:
                result.in_place.setdefault(partition, []).append(message)
            else:
                routed.append((partition, message))
        result.records.extend(envelopes(routed, self._topics.repartition))
        return result

    def _keyed(
        self, message: Message, read_whole: bool, notices: list[Notice]
    ) -> tuple[Keyed | Rejection, Message]:
        """The message's patient key (or why it has none) and the message to pass on. ``read_whole``:
        the message is read whole (``ingest``) and what that gives is kept on the message passed on,
        for the process stage; a message whose whole read is refused while its key alone can be read
        goes on with that refusal, to be dead-lettered by the process stage, as it is when the
        process stage reads it. A reader that raises is noticed in ``notices``."""
        if not read_whole:
            return _read_or_refused(patient_of, message.data, self._engine, notices), message
        accepted = _read_or_refused(ingest, message.data, self._engine, notices)
        read = _new_message(message.data, message.source, accepted)
        if isinstance(accepted, Accepted):
            return Keyed(accepted.patient, accepted.message.header.control_id), read
        return _read_or_refused(patient_of, message.data, self._engine, notices), read

    def process(
        self,
        messages: Iterable[Message],
        transaction: StoreTransaction,
        partition: int,
        next_offset: int,
        source_id: str | None = None,
    ) -> StageResult:
        """Process stage for one partition of the stateful topic: read and update patient state in
        ``transaction``, publish events, orders and pages, then one changelog record per patient
        changed (its latest state), sent to changelog partition ``partition`` and stamped with
        ``next_offset`` (the stateful-topic offset this batch ends at) and ``source_id`` (the
        stateful topic's id, when the broker gives ids).

        A patient whose new state would be over ``max_state_bytes``, or cannot be encoded at all,
        keeps the state stored before the batch, and the batch's messages about them are
        dead-lettered instead of published (``_refuse_state``): a record the changelog refuses, or an
        error raised here, would stop the stream for everyone, batch after batch. For the same reason
        a message whose alerts, orders or pages would make a record over ``max_message_bytes`` is
        dead-lettered and leaves its patient's state as it was (``oversized``)."""
        result = StageResult("process")
        engine = self._engine
        parsed = [
            (message, message.read or _read_or_refused(ingest, message.data, engine, result.notices))
            for message in messages
        ]
        stored = transaction.get_many(a.patient.as_text() for _, a in parsed if isinstance(a, Accepted))
        states: dict[str, PatientState] = {}
        changed: set[str] = set()
        # Each patient's processed messages, with the span of result.records each one published.
        applied: dict[str, list[tuple[Message, str, range]]] = {}
        # The outcomes that publish anything, by patient: counted once the patient's state is stored.
        publishing: dict[str, list[tuple[Outcome, int]]] = {}
        # The processed messages' notices, in input order, with their patient: dropped with its state.
        noticed: list[tuple[str, list[Notice]]] = []
        for message, accepted in parsed:
            if isinstance(accepted, Rejection):
                self._reject(result, message, accepted, "process")
                continue
            key = accepted.patient.as_text()
            control_id = accepted.message.header.control_id
            # Reading the stored state, processing and writing the outputs all fail for this message
            # alone: raised, the error would stop the stream for everyone, batch after batch, as the
            # same message came back.
            try:
                state = states.get(key) or self._stored_state(key, accepted, stored.get(key))
                outcome = process(state, accepted, self._engine)
                published, unwritten = self._published(key.encode("utf-8"), outcome, control_id)
            except Exception as error:
                result.notices.append(processing_failed(error, control_id, key))
                reason = Rejection(reason=f"processing failed: {cause(error)}", control_id=control_id)
                self._reject(result, message, reason, "process")
                continue
            unsendable = oversized(published, control_id, self._max_bytes)
            if unsendable is not None:
                self._reject(result, message, unsendable, "process")
                continue
            result.processed += 1
            if outcome.state is not state or key not in stored:
                changed.add(key)  # a first-seen patient is stored even when nothing was found
            states[key] = outcome.state
            first = len(result.records)
            result.records.extend(published)
            span = range(first, len(result.records))
            applied.setdefault(key, []).append((message, control_id, span))
            if notices := [*unusable_notices(accepted, key), *unwritten]:
                noticed.append((key, notices))
            if published:
                orders_written = sum(1 for record in published if record.topic == self._topics.orders)
                publishing.setdefault(key, []).append((outcome, orders_written))
        stamp = changelog_stamp(next_offset, source_id)
        changelog: list[OutRecord] = []
        refused: set[int] = set()
        refused_patients: set[str] = set()
        for key in sorted(changed):
            data = self._state_bytes(key, states[key], result.notices)
            if isinstance(data, str):
                refused.update(self._refuse_state(result, data, applied[key]))
                refused_patients.add(key)  # its records and notices are dropped
                publishing.pop(key, None)
                continue
            transaction.put(key, data)
            if key in stored:  # a returning patient; one seen once may never come back
                self._decoded.keep(key, data, states[key])
            changelog.append(_new_record(self._topics.changelog, key.encode("utf-8"), data, stamp, partition))
        if refused:
            result.records = [record for index, record in enumerate(result.records) if index not in refused]
        for outcomes in publishing.values():
            for outcome, orders_written in outcomes:
                result.count(outcome, orders_written)
        result.notices.extend(n for key, notices in noticed if key not in refused_patients for n in notices)
        result.records.extend(changelog)
        return result

    def _stored_state(self, key: str, accepted: Accepted, raw: bytes | None) -> PatientState:
        """The patient ``key``'s state as stored before this batch (empty for a first-seen patient)."""
        if raw is None:
            return PatientState.empty(accepted.patient)
        return self._decoded.decode(key, raw)

    def _state_bytes(self, key: str, state: PatientState, notices: list[Notice]) -> bytes | str:
        """What the patient ``key``'s ``state`` is stored as, or why it cannot be stored, noticed in
        ``notices``."""
        try:
            data = state.to_bytes()
        except Exception as error:  # a defect must not stop the stream or lose the messages
            notices.append(state_not_encodable(error, key))
            return (
                f"the patient's state could not be encoded with this message ({cause(error)}); "
                "the patient's earlier state is kept"
            )
        if len(data) > self._max_state_bytes:
            notices.append(state_over_limit(key, len(data), self._max_state_bytes))
            return (
                f"the patient's stored state would be {len(data):,} bytes with this message, over "
                f"kafka.max_state_bytes ({self._max_state_bytes:,}); the patient's earlier state is "
                "kept. Raise the setting and restart the engine (it raises the changelog topic's "
                "max.message.bytes to match), then send the message again"
            )
        return data

    def _refuse_state(
        self, result: StageResult, why: str, applied: list[tuple[Message, str, range]]
    ) -> set[int]:
        """Dead-letter the messages ``applied`` to a patient in this batch, whose state cannot be
        stored for ``why``; return the indices of the records they published, to drop."""
        for message, control_id, _ in applied:
            result.processed -= 1
            self._reject(result, message, Rejection(reason=why, control_id=control_id), "process")
        return {index for _, _, span in applied for index in span}

    def _published(
        self, key: bytes, outcome: Outcome, control_id: str
    ) -> tuple[list[OutRecord], list[Notice]]:
        """The records ``outcome`` publishes, and the notices of the order messages it cannot."""
        if not (outcome.events or outcome.orders or outcome.pages):
            return [], []  # most messages
        topics = self._topics
        orders = [(order, order_bytes(order, control_id)) for order in outcome.orders]
        records = [
            *(OutRecord(topics.alerts, key, encode_event(event)) for event in outcome.events),
            *(
                OutRecord(topics.orders, order.key.encode("utf-8"), er7)
                for order, er7 in orders
                if isinstance(er7, bytes)
            ),
            *(OutRecord(topics.pager, pager_key(page), encode_event(page)) for page in outcome.pages),
        ]
        return records, [notice for _, notice in orders if isinstance(notice, Notice)]

    def _reject(self, result: StageResult, message: Message, rejection: Rejection, stage: str) -> None:
        rejection = rejection.bounded()  # for the log line; the records bound it themselves
        result.dead_lettered += 1
        result.records.append(dead_letter(message, rejection, stage, self._topics.dlq, self._max_bytes))
        event = rejected_event(rejection, message.source.text())
        result.records.append(OutRecord(self._topics.alerts, None, encode_event(event)))
        result.notices.append(dead_lettered(rejection, stage, message.source.text()))
