"""Which rule logic and which thresholds an alert came from: the package version and a config digest.

A lab team auditing an alert needs the code (the package version) and the effective settings of every
rule: the thresholds and windows of ``rules.yaml`` and the R11 (c) suppression settings of
``engine.suppression``, which decide which reflex orders an alert suggests. The digest is taken over
the settings as the engine uses them, so the YAML's key order, comments, number spelling (``75`` or
``75.0``) and keys left at their default do not change it; any changed value does.

Terminology is left out: it says which codes and units a result is recognised by, and every alert
already carries that for each of its results (``evidence``: code, value in the canonical unit, unit).
A site adding a local code would otherwise change the version of rules that did not change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta
from typing import Any

from b12stream import __version__
from b12stream.clinical.model import Severity
from b12stream.clinical.rules_config import RulesConfig
from b12stream.engine.suppression import SuggestionPolicy

__all__ = ["DIGEST_LENGTH", "rules_version"]

DIGEST_LENGTH = 12  # hex digits: 48 bits, ample to tell a site's successive configurations apart


def rules_version(
    rules: RulesConfig, suppression: SuggestionPolicy, package_version: str = __version__
) -> str:
    """``<package version>+<digest>``, e.g. ``0.1.0+3f2a9c1d0b7e``."""
    settings = {"rules": _canonical(rules), "suppression": _canonical(suppression)}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{package_version}+{hashlib.sha256(text.encode('ascii')).hexdigest()[:DIGEST_LENGTH]}"


def _canonical(value: Any) -> Any:
    """Plain JSON values, one spelling per setting: numbers as floats, windows in days, severities
    by label (their names in the YAML)."""
    if dataclasses.is_dataclass(value):
        return {item.name: _canonical(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, timedelta):
        return value / timedelta(days=1)
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
