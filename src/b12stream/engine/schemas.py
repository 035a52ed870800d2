"""The shipped JSON Schemas of the output events (package data ``b12stream/schemas/*.json``)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

__all__ = ["SCHEMA_FILES", "schema", "validation_errors", "validator"]

# Event ``type`` (or ``pager`` for pager envelopes) → schema file.
SCHEMA_FILES = {
    "alert": "alert.json",
    "alert_update": "alert_update.json",
    "retraction": "retraction.json",
    "rejected": "rejected.json",
    "pager": "pager.json",
}


@cache
def _registry() -> Registry:
    resources = []
    for name in SCHEMA_FILES.values():
        document = json.loads((files("b12stream") / "schemas" / name).read_text(encoding="utf-8"))
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def schema(kind: str) -> dict[str, Any]:
    """The schema document for an event type (``alert``, ``alert_update``, ``retraction``,
    ``rejected``) or ``pager``. Raises KeyError for any other kind."""
    name = SCHEMA_FILES[kind]
    for uri in _registry():
        if uri.endswith("/" + name):
            return dict(_registry()[uri].contents)
    raise KeyError(kind)


@cache
def validator(kind: str) -> Draft202012Validator:
    """A validator for ``kind`` that resolves the schemas' references to each other offline."""
    return Draft202012Validator(schema(kind), registry=_registry())


def validation_errors(document: dict[str, Any], kind: str | None = None) -> list[str]:
    """Every way ``document`` breaks its schema (``kind`` defaults to its ``type``); empty when valid."""
    chosen = kind or str(document.get("type"))
    if chosen not in SCHEMA_FILES:
        return [f"no schema for event type {chosen!r}"]
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator(chosen).iter_errors(document)
    ]
