"""Observations as JSON-safe dicts, the form patient histories are stored in, and as JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from math import isfinite
from operator import itemgetter
from typing import Any

from b12stream.clinical.model import Observation, PatientKey, ResultKey
from b12stream.hl7.records import slot_constructor

__all__ = [
    "aware",
    "compact_json",
    "observation_from_dict",
    "observation_json",
    "observation_to_dict",
    "observations_from_dicts",
    "patient_json",
    "time_text",
]

# The one JSON form of stored state: compact, UTF-8 kept as is, no NaN or infinity.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compact_json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``."""
    return _ENCODER.encode(value)


def aware(moment: datetime) -> datetime:
    """A naive time read as UTC, as the HL7 layer reads a timestamp without an offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# The last time written and its text. A message's results share one collection time, one datetime
# object (the HL7 reader memoises its timestamps), and its applied-message record repeats it: written
# once, not once per result (``isoformat`` of a time with an offset is dearer than the rest of a
# record's JSON). Kept by identity, never by equality: equal instants in other zones are other texts.
_last_time: tuple[datetime | None, str] = (None, "")


def time_text(moment: datetime) -> str:
    """``moment.isoformat()``."""
    global _last_time
    last, text = _last_time  # one tuple, read at once: safe to share between threads
    if moment is not last:
        text = moment.isoformat()
        _last_time = (moment, text)
    return text


def observation_to_dict(observation: Observation) -> dict[str, Any]:
    """Every field, under fixed keys in a fixed order (stored state is byte-stable)."""
    key = observation.result_key
    return {
        "analyte": observation.analyte,
        "code": observation.code,
        "value": observation.value,
        "unit": observation.unit,
        "observed_at": observation.observed_at.isoformat(),
        "status": observation.status,
        "result_key": [key.filler_order_number, key.code, key.sub_id],
        "source_message_id": observation.source_message_id,
        "comparator": observation.comparator,
        "text": observation.text,
        "reference_low": observation.reference_low,
        "reference_high": observation.reference_high,
        "flags": list(observation.flags),
        "unusable_reason": observation.unusable_reason,
    }


def patient_json(patient: PatientKey) -> str:
    """``compact_json`` of the patient key as a history stores it (``id``, ``assigning_authority``)."""
    if type(patient.id) is str and type(patient.assigning_authority) is str:
        identifier, authority = encode_basestring(patient.id), encode_basestring(patient.assigning_authority)
        return f'{{"id":{identifier},"assigning_authority":{authority}}}'
    return compact_json({"id": patient.id, "assigning_authority": patient.assigning_authority})


def _number(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is float and isfinite(value):
        return float.__repr__(value)  # what the encoder writes for a float
    return _ENCODER.encode(value)  # an int, or a non-finite float (ValueError, as the encoder says)


def observation_json(observation: Observation) -> str:
    """``compact_json(observation_to_dict(observation))``, written directly (no dict in between):
    stored state is mostly these, and a patient's state is written after every change."""
    key = observation.result_key
    try:
        # The encoder's own string escaping, in one pass over every string field.
        (analyte, code, unit, moment, status, filler, key_code, sub_id, source, comparator, text, reason) = (
            map(
                encode_basestring,
                (
                    observation.analyte,
                    observation.code,
                    observation.unit,
                    time_text(observation.observed_at),
                    observation.status,
                    key.filler_order_number,
                    key.code,
                    key.sub_id,
                    observation.source_message_id,
                    observation.comparator,
                    observation.text,
                    observation.unusable_reason,
                ),
            )
        )
        flags = ",".join(map(encode_basestring, observation.flags))
    except TypeError:  # a field that is not a string (never in a well-typed observation)
        return compact_json(observation_to_dict(observation))
    value = _number(observation.value)
    low = _number(observation.reference_low)
    high = _number(observation.reference_high)
    return (
        f'{{"analyte":{analyte},"code":{code},"value":{value},"unit":{unit},"observed_at":{moment},'
        f'"status":{status},"result_key":[{filler},{key_code},{sub_id}],"source_message_id":{source},'
        f'"comparator":{comparator},"text":{text},"reference_low":{low},"reference_high":{high},'
        f'"flags":[{flags}],"unusable_reason":{reason}}}'
    )


def observation_from_dict(data: Mapping[str, Any]) -> Observation:
    """Inverse of ``observation_to_dict``; raises KeyError, TypeError or ValueError when malformed."""
    return _read(data, {})[0]


def observations_from_dicts(items: Sequence[Mapping[str, Any]]) -> tuple[tuple[Observation, ...], bool]:
    """``observation_from_dict`` of each, and whether every item is exactly what ``observation_json``
    writes for the observation read (same JSON types, the time as ``isoformat`` writes it), so that
    writing the observations again gives the text read. Results collected together share one time."""
    times: dict[str, datetime] = {}
    read = [_read(item, times) for item in items]
    as_written = all([written for _, written in read]) and all(
        [moment.isoformat() == stamp for stamp, moment in times.items()]
    )
    return tuple([observation for observation, _ in read]), as_written


_FIELDS = itemgetter(
    "analyte",
    "code",
    "value",
    "unit",
    "observed_at",
    "status",
    "result_key",
    "source_message_id",
    "comparator",
    "text",
    "reference_low",
    "reference_high",
    "flags",
    "unusable_reason",
)
_FIELD_COUNT = 14
# A stored history is mostly these records, and every one is rebuilt each time the patient's state is
# read: the frozen classes' own constructors would set each field through object.__setattr__.
_new_observation = slot_constructor(Observation)
_new_result_key = slot_constructor(ResultKey)
_NUMBER_TYPES = frozenset({float, type(None)})
_STRING_TYPE = {str}


def _read(data: Mapping[str, Any], times: dict[str, datetime]) -> tuple[Observation, bool]:
    """The observation, and whether ``data`` holds exactly the JSON types ``observation_json`` writes.
    ``times`` maps the time texts read so far to their datetime."""
    (analyte, code, value, unit, stamp, status, key, source, comparator, text, low, high, flags, reason) = (
        _FIELDS(data)
    )
    filler, key_code, sub_id = key
    strings = (
        analyte,
        code,
        unit,
        status,
        source,
        comparator,
        text,
        reason,
        filler,
        key_code,
        sub_id,
        *flags,
    )
    exact = set(map(type, strings)) == _STRING_TYPE
    if not exact:
        strings = tuple(map(str, strings))
    moment = times.get(stamp)
    if moment is None:
        moment = times[stamp] = aware(datetime.fromisoformat(stamp))
    observation = _new_observation(
        strings[0],
        strings[1],
        None if value is None else float(value),
        strings[2],
        moment,
        strings[3],
        _new_result_key(strings[8], strings[9], strings[10]),
        strings[4],
        strings[5],
        strings[6],
        None if low is None else float(low),
        None if high is None else float(high),
        strings[11:],
        strings[7],
    )
    numbers = type(value) in _NUMBER_TYPES and type(low) in _NUMBER_TYPES and type(high) in _NUMBER_TYPES
    return observation, exact and numbers and len(data) == _FIELD_COUNT
