"""Reading YAML configuration: a file into a mapping, a mapping into a checked dataclass."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from b12stream.errors import ConfigError

__all__ = ["SHOWN_LENGTH", "ZERO_OK", "dataclass_from_mapping", "read_yaml_mapping", "shown"]

# Field metadata: zero is a valid value (a window of 0 days, a poll timeout of 0 ms).
ZERO_OK = {"zero_ok": True}

SHOWN_LENGTH = 60
"""The most characters of a refused value an error shows: enough to recognise it, not a whole file."""

# Keys whose value is, or may by mistake be, a secret: a password (or the variable naming it, where
# the password itself may have been pasted), a token, a key that signs or hashes.
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)|secret|token|credential|(hash|api|private|signing)_key")


def shown(value: Any, key: str, *, may_hold_secrets: bool = False) -> str:
    """``value`` of ``key`` as a configuration error shows it: its repr, cut to `SHOWN_LENGTH` characters.

    Errors reach terminals and logs, so a value of a key that names a secret, or one the caller knows
    ``may_hold_secrets`` (a mapping passed through to kafka-python), is shown by its type only.
    """
    if may_hold_secrets or _SECRET_KEY.search(key.casefold()):
        return f"a value of type {type(value).__name__} (not shown: it may be a secret)"
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "…"


def read_yaml_mapping(path: Path) -> Mapping[str, Any]:
    """The file's top-level mapping (empty for an empty file).

    Raises ConfigError naming the file when it cannot be read, is not YAML, or is not a mapping.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path.name}: the top level must be a mapping")
    return document


def dataclass_from_mapping(defaults: Any, document: Any, source: str, prefix: str = "") -> Any:
    """A copy of the dataclass ``defaults`` with the keys of ``document`` checked and applied.

    Nested dataclasses are built the same way. Raises ConfigError naming ``source`` and the dotted key
    for an unknown key, a wrong type, or a number that is not positive (non-negative where the field's
    metadata is ``ZERO_OK``). A field typed ``X | None`` also takes null.
    """
    if not isinstance(document, Mapping):
        where = prefix.rstrip(".") or "top level"
        raise ConfigError(f"{source}: {where} must be a mapping, got {shown(document, where)}")
    cls = type(defaults)
    hints = typing.get_type_hints(cls)
    fields = {item.name: item for item in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in document.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {dotted}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = dataclass_from_mapping(getattr(defaults, key), raw, source, dotted + ".")
        else:
            values[key] = _convert(hint, raw, source, dotted, fields[key].metadata)
    return dataclasses.replace(defaults, **values)


def _convert(hint: Any, raw: Any, source: str, dotted: str, metadata: Mapping[str, Any]) -> Any:
    optional = typing.get_args(hint)
    if types.NoneType in optional:
        if raw is None:
            return None
        (hint,) = (arg for arg in optional if arg is not types.NoneType)
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{source}: {dotted} must be true or false, got {shown(raw, dotted)}")
        return raw
    if hint is str:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{source}: {dotted} must be a non-empty string, got {shown(raw, dotted)}")
        return raw.strip()
    if typing.get_origin(hint) is tuple:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ConfigError(f"{source}: {dotted} must be a list of strings, got {shown(raw, dotted)}")
        return tuple(raw)
    if hint in (int, float):
        return _number(hint, raw, source, dotted, zero_ok=bool(metadata.get("zero_ok")))
    raise ConfigError(f"{source}: {dotted} has an unsupported type")


def _number(hint: type, raw: Any, source: str, dotted: str, zero_ok: bool) -> float | int:
    kind = "whole number" if hint is int else "number"
    adjective = "non-negative" if zero_ok else "positive"
    valid_type = isinstance(raw, int) if hint is int else isinstance(raw, int | float)
    if (
        isinstance(raw, bool)
        or not valid_type
        or not math.isfinite(raw)
        or raw < 0
        or (raw == 0 and not zero_ok)
    ):
        raise ConfigError(f"{source}: {dotted} must be a {adjective} {kind}, got {shown(raw, dotted)}")
    return hint(raw)
