"""Observations as JSON-safe dicts, the form patient histories are stored in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from b12stream.clinical.model import Observation, ResultKey

__all__ = ["aware", "observation_from_dict", "observation_to_dict"]


def aware(moment: datetime) -> datetime:
    """A naive time read as UTC, as the HL7 layer reads a timestamp without an offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def observation_from_dict(data: Mapping[str, Any]) -> Observation:
    """Inverse of ``observation_to_dict``; raises KeyError, TypeError or ValueError when malformed."""
    filler, code, sub_id = data["result_key"]
    return Observation(
        analyte=str(data["analyte"]),
        code=str(data["code"]),
        value=_optional_float(data["value"]),
        unit=str(data["unit"]),
        observed_at=aware(datetime.fromisoformat(data["observed_at"])),
        status=str(data["status"]),
        result_key=ResultKey(str(filler), str(code), str(sub_id)),
        source_message_id=str(data["source_message_id"]),
        comparator=str(data["comparator"]),
        text=str(data["text"]),
        reference_low=_optional_float(data["reference_low"]),
        reference_high=_optional_float(data["reference_high"]),
        flags=tuple(str(flag) for flag in data["flags"]),
        unusable_reason=str(data["unusable_reason"]),
    )
