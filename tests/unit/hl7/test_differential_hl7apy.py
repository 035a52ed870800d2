"""Our tokenizer agrees with hl7apy's on every corpus ORU^R01 that hl7apy can parse.

hl7apy keeps values as raw ER7 (it does not decode escapes), so its leaf values are decoded with
our ``unescape`` before comparing: the comparison checks where each value starts and ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hl7apy.base_datatypes import ST
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from b12stream.hl7.charset import decode_message
from b12stream.hl7.er7 import NULL, Encoding, read_encoding, unescape
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import CodedElement, OruMessage
from b12stream.hl7.oru import read_oru
from b12stream.hl7.timestamps import parse_ts

_CODED = frozenset({"CE", "CWE", "CNE", "CF", "IS", "ID"})
_POSITION = re.compile(r"_(\d+)$")


def _corpus_orus(corpus_dir: Path) -> Iterator[tuple[str, OruMessage, str]]:
    for path in sorted(corpus_dir.iterdir()):
        if path.suffix != ".hl7":
            continue
        for frame in split_messages(path.read_bytes()):
            result = read_oru(frame.data)
            if isinstance(result, OruMessage):
                text = decode_message(frame.data.lstrip(b"\xef\xbb\xbf")).text
                yield f"{path.name}@{frame.offset}", result, text


def _hl7apy(text: str) -> Any | None:
    normalised = "\r".join(s for s in text.replace("\n", "\r").split("\r") if s.strip())
    try:
        return parse_message(normalised, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    except (HL7apyException, ValueError, KeyError, IndexError, AttributeError, TypeError):
        return None


def _raw_leaf(element: Any) -> str:
    value = element.value
    if isinstance(value, str):
        return value
    inner = getattr(value, "value", None)
    # Text types keep the raw ER7 in .value; dates and numbers are converted, so ask for their ER7.
    return inner if isinstance(inner, str) else value.to_er7()


def _parts(element: Any) -> dict[int, Any]:
    """Children by 1-based position: from hl7apy's names (``CX_4``), else their order.

    hl7apy leaves components beyond its data type's definition unnamed (``None``); they lie past
    every position compared here, so they are left out.
    """
    parts = {}
    for order, child in enumerate(element.children, 1):
        if child.name is None:
            continue
        match = _POSITION.search(child.name)
        parts[int(match.group(1)) if match else order] = child
    return parts


def _repetitions(segment: Any, number: int) -> list[Any]:
    name = f"{segment.name}_{number}"
    return [field for field in segment.children if field.name == name]


def _component_raw(field: Any, component: int, enc: Encoding) -> str:
    """Undecoded component (all its sub-components) of one hl7apy field repetition."""
    if not field.children:
        return _raw_leaf(field) if component == 1 else ""
    comp = _parts(field).get(component)
    if comp is None:
        return ""
    if not comp.children:
        return _raw_leaf(comp)
    subs = _parts(comp)
    return enc.subcomponent.join(_raw_leaf(subs[i]) if i in subs else "" for i in range(1, max(subs) + 1))


def _repetition_raw(field: Any, enc: Encoding) -> str:
    if not field.children:
        return _raw_leaf(field)
    comps = _parts(field)
    return enc.component.join(_component_raw(field, i, enc) for i in range(1, max(comps) + 1))


def _text(raw: str, enc: Encoding) -> str:
    return "" if raw == NULL else unescape(raw, enc)


def _first(segment: Any, number: int, enc: Encoding, component: int = 1) -> str:
    reps = _repetitions(segment, number)
    if not reps:
        return ""
    raw = _component_raw(reps[0], component, enc).split(enc.subcomponent)[0]
    return _text(raw, enc).strip()


def _coded(segment: Any, number: int, enc: Encoding) -> CodedElement:
    return CodedElement(*(_first(segment, number, enc, i) for i in range(1, 7)))


def _ts(segment: Any, number: int, enc: Encoding) -> datetime | None:
    return parse_ts(_first(segment, number, enc))


def _expected_observation(obx: Any, enc: Encoding) -> dict[str, object]:
    value_type = _first(obx, 2, enc)
    reps = _repetitions(obx, 5)
    raws = [_repetition_raw(rep, enc) for rep in reps]
    if value_type in _CODED:
        decoded = [_text(_component_raw(rep, 1, enc).split(enc.subcomponent)[0], enc) for rep in reps]
    else:
        decoded = [unescape(raw, enc) for raw in raws]
    values = tuple(value for value in decoded if value.strip() not in ("", NULL))  # empty or null: no value
    flag_codes = (_text(_component_raw(r, 1, enc), enc).strip() for r in _repetitions(obx, 8))
    flags = tuple(f for f in flag_codes if f)
    ranges = _repetitions(obx, 7)
    reference = _text(_repetition_raw(ranges[0], enc), enc).strip() if ranges else ""
    return {
        "set_id": _first(obx, 1, enc), "value_type": value_type, "code": _coded(obx, 3, enc),
        "sub_id": _first(obx, 4, enc), "values": values, "units": _first(obx, 6, enc),
        "reference_range": reference, "abnormal_flags": flags, "result_status": _first(obx, 11, enc),
        "observed_at": _ts(obx, 14, enc),
    }


def _compare(message: OruMessage, parsed: Any, enc: Encoding) -> list[str]:
    segments = list(parsed.children)
    problems = []
    msh = segments[0]
    if message.header.control_id != _first(msh, 10, enc):
        problems.append("MSH-10")
    if message.header.version != _first(msh, 12, enc):
        problems.append("MSH-12")
    pid = next(s for s in segments if s.name == "PID")
    expected_ids = [
        (_text(_component_raw(r, 1, enc), enc).strip(),
         _text(_component_raw(r, 4, enc).split(enc.subcomponent)[0], enc).strip(),
         _text(_component_raw(r, 5, enc), enc).strip())
        for r in _repetitions(pid, 3)
    ]
    ids = [(p.id, p.assigning_authority, p.identifier_type) for p in message.patient_ids]
    if ids != [e for e in expected_ids if e[0]]:
        problems.append(f"PID-3 {ids} != {expected_ids}")
    for order in message.orders:
        obr = segments[order.segment_index - 1]
        orc = _orc_before(segments, order.segment_index - 1)
        placer = (_first(orc, 2, enc) if orc is not None else "") or _first(obr, 2, enc)
        filler = (_first(orc, 3, enc) if orc is not None else "") or _first(obr, 3, enc)
        control = _first(orc, 1, enc) if orc is not None else ""
        expected_order = (placer, filler, _coded(obr, 4, enc), _ts(obr, 7, enc), _first(obr, 25, enc),
                          control)
        actual_order = (order.placer_order_number, order.filler_order_number, order.universal_service_id,
                        order.observation_time, order.result_status, order.order_control)
        if obr.name != "OBR" or actual_order != expected_order:
            problems.append(f"OBR at {order.segment_index}: {actual_order} != {expected_order}")
        for observation in order.observations:
            obx = segments[observation.segment_index - 1]
            actual = {key: getattr(observation, key) for key in _expected_observation(obx, enc)}
            expected = _expected_observation(obx, enc)
            if obx.name != "OBX" or actual != expected:
                diff = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
                problems.append(f"OBX at {observation.segment_index}: {diff}")
    return problems


def _orc_before(segments: list[Any], obr_position: int) -> Any | None:
    for segment in reversed(segments[:obr_position]):
        if segment.name == "ORC":
            return segment
        if segment.name == "OBR":
            return None
    return None


def test_extracted_fields_equal_hl7apy(corpus_dir: Path) -> None:
    compared, skipped, problems = 0, [], []
    for name, message, text in _corpus_orus(corpus_dir):
        parsed = _hl7apy(text)
        if parsed is None:
            skipped.append(name)
            continue
        if len(parsed.children) != len([s for s in text.replace("\n", "\r").split("\r") if s.strip()]):
            skipped.append(name)
            continue
        compared += 1
        problems.extend(f"{name}: {p}" for p in _compare(message, parsed, read_encoding(text)))
    assert problems == []
    # hl7apy parses nearly all of the corpus ORUs; a collapse here means the comparison stopped testing.
    assert compared >= 30, (compared, skipped)


@pytest.mark.parametrize("text", ["a|b^c~d&e\\f", "\\", "C:\\temp\\x", "^^", "~", "plain", "µ|Á"])
def test_unescape_inverts_hl7apy_escaping(text: str) -> None:
    assert unescape(ST(text).to_er7(), read_encoding("MSH|^~\\&|")) == text
