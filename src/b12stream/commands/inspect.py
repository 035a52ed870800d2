"""`b12stream inspect`: what the engine sees in HL7 files, one JSON line per message on stdout.

For each message: where it is (file, byte offset), whether it was accepted, and, if so, its header,
the character-set decision, the hashed patient key (never the identifier itself) and every result
terminology recognised, in canonical units; codes it did not recognise are listed compactly, and
so are results it leaves out (outside any order, with their segment; unusable, with why: a
cancellation with no time). A rejected message shows the reason and the location. Files are read
in the order given; a directory is read in file-name order (not recursively; dot-files and .md/.rst
notes skipped). A one-line count goes to stderr. Exit 0 when every path was readable, 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from b12stream.clinical.model import Observation, PatientKey
from b12stream.clinical.patient_key import KeyRule
from b12stream.clinical.terminology import DEFAULT_TERMINOLOGY_PATH, Terminology, TerminologyReading
from b12stream.commands.inputs import input_files
from b12stream.engine.engine import DEFAULT_CONFIG_PATH, engine_settings, key_rule, terminology_paths
from b12stream.engine.ingest import patient_key, time_rejection
from b12stream.hl7.framing import split_messages
from b12stream.hl7.model import OruMessage, Rejection
from b12stream.hl7.oru import read_oru
from b12stream.log import patient_hash

__all__ = ["add_arguments", "describe_observation", "inspect_bytes", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR", help="HL7 files or folders")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help="configuration whose engine.terminology and engine.patient_key are used "
        "(default: the shipped config/b12stream.yaml)",
    )
    parser.add_argument(
        "--terminology",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="another terminology file (site codes) read after the configured ones; repeatable",
    )


def run(args: argparse.Namespace) -> int:
    terminology, key_rule = _load(args.config, args.terminology)
    files, missing = input_files(args.paths)
    for path in missing:
        print(f"b12stream inspect: no such file or directory: {path}", file=sys.stderr)
    unreadable = 0
    outcomes = {"accepted": 0, "rejected": 0}
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            print(f"b12stream inspect: cannot read {path}: {error.strerror}", file=sys.stderr)
            unreadable += 1
            continue
        for line in inspect_bytes(data, str(path), terminology, key_rule):
            outcomes[line["outcome"]] += 1
            _write(sys.stdout, line)
    print(
        f"b12stream inspect: {len(files) - unreadable} file(s), {outcomes['accepted']} accepted, "
        f"{outcomes['rejected']} rejected",
        file=sys.stderr,
    )
    return 2 if missing or unreadable else 0


def inspect_bytes(
    data: bytes, source: str, terminology: Terminology, key_rule: KeyRule
) -> Iterator[dict[str, Any]]:
    """One description per message in ``data`` (a file's bytes), in order; never raises on input."""
    for frame in split_messages(data):
        parsed = read_oru(frame.data)
        if isinstance(parsed, Rejection):
            yield _rejected(parsed, source, frame.offset)
            continue
        # Keyed as the engine keys it: a message it cannot key is one it dead-letters.
        patient = patient_key(frame.data, parsed.patient_ids, key_rule)
        if isinstance(patient, Rejection):
            yield {**_rejected(patient, source, frame.offset), "patient_note": _no_patient(parsed, key_rule)}
            continue
        reading = terminology.read(parsed)
        untimed = time_rejection(frame.data, parsed, terminology, reading.untimed)
        if untimed is not None:
            yield _rejected(untimed, source, frame.offset)
        else:
            yield _accepted(parsed, patient, source, frame.offset, reading)


def describe_observation(observation: Observation) -> dict[str, Any]:
    """The JSON-safe view of one observation that `inspect` prints."""
    return {
        "analyte": observation.analyte,
        "code": observation.code,
        "value": observation.value,
        "unit": observation.unit,
        "comparator": observation.comparator,
        "text": observation.text,
        "reference": [observation.reference_low, observation.reference_high],
        "flags": list(observation.flags),
        "status": observation.status,
        "observed_at": observation.observed_at.isoformat(),
        "result_key": [
            observation.result_key.filler_order_number,
            observation.result_key.code,
            observation.result_key.sub_id,
        ],
        "unusable_reason": observation.unusable_reason,
    }


def _accepted(
    message: OruMessage, patient: PatientKey, source: str, offset: int, reading: TerminologyReading
) -> dict[str, Any]:
    header = message.header
    return {
        "file": source,
        "offset": offset,
        "outcome": "accepted",
        "control_id": header.control_id,
        "message_type": f"{header.message_type}^{header.trigger_event}",
        "version": header.version,
        "charset": {"codec": header.charset, "why": header.charset_note},
        "message_time": None if header.message_time is None else header.message_time.isoformat(),
        "patient": patient_hash(patient.as_text()),
        "observations": [describe_observation(observation) for observation in reading.observations],
        "unmapped": list(reading.unmapped),
        "excluded": list(reading.excluded),
        "outside_orders": list(reading.outside_orders),
        "unusable": [f"{result.code} ({result.reason})" for result in reading.unusable],
    }


def _rejected(rejection: Rejection, source: str, offset: int) -> dict[str, Any]:
    return {
        "file": source,
        "offset": offset,
        "outcome": "rejected",
        "reason": rejection.reason,
        "location": rejection.location.as_dict(),
        "control_id": rejection.control_id,
        "message_type": rejection.message_type,
    }


def _no_patient(message: OruMessage, rule: KeyRule) -> str:
    if not message.patient_ids:
        return "no PID-3 identifier: the engine cannot key this message to a patient"
    return (
        f"no PID-3 identifier matches the key rule (type {rule.identifier_type!r}, "
        f"authority {rule.assigning_authority or 'any'!r}); {len(message.patient_ids)} repetition(s) present"
    )


def _load(config: Path, extra: Sequence[Path]) -> tuple[Terminology, KeyRule]:
    section = engine_settings(config)
    files = terminology_paths(section, config) or [DEFAULT_TERMINOLOGY_PATH]
    return Terminology.load([*files, *extra]), key_rule(section, config)


def _write(stream: TextIO, line: dict[str, Any]) -> None:
    stream.write(json.dumps(line, ensure_ascii=False) + "\n")
