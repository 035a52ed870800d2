"""The engine's configuration: terminology, rules, patient key rule and output settings, loaded once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from b12stream.clinical.model import Severity
from b12stream.clinical.patient_key import KeyRule
from b12stream.clinical.rules_config import RulesConfig, load_rules_config
from b12stream.clinical.terminology import Terminology
from b12stream.config_file import read_yaml_mapping, shown
from b12stream.engine.rules_version import rules_version
from b12stream.engine.suppression import SuggestionPolicy
from b12stream.errors import ConfigError
from b12stream.hl7.build import HD_NAMESPACE_MAX, PROCESSING_IDS, escape
from b12stream.paths import CONFIG_DIR

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Engine",
    "OutputSettings",
    "engine_settings",
    "key_rule",
    "terminology_paths",
]

DEFAULT_CONFIG_PATH = CONFIG_DIR / "b12stream.yaml"
_SECTION_KEYS = frozenset({"terminology", "rules", "patient_key", "suppression", "outputs"})
# The names every order message carries, and where: checked at start-up, as a name too long for its
# field would make each order message unbuildable and dead-letter every result that suggests an order.
_MSH_NAMES = {
    "sending_application": "MSH-3",
    "sending_facility": "MSH-4",
    "receiving_application": "MSH-5",
    "receiving_facility": "MSH-6",
}


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """Names the outputs carry: MSH-3..6 and MSH-11 of order messages and the pager envelope's
    ``source``."""

    sending_application: str = "B12STREAM"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"
    pager_source: str = "b12stream"


@dataclass(frozen=True, slots=True)
class Engine:
    """Everything ``ingest`` and ``process`` need besides the message and the patient state. Immutable.

    ``rules_version`` (derived, never given) names the rule logic and settings every alert comes from.
    """

    terminology: Terminology
    rules: RulesConfig
    key_rule: KeyRule = field(default_factory=KeyRule)
    suppression: SuggestionPolicy = field(default_factory=SuggestionPolicy)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    rules_version: str = field(init=False)

    def __post_init__(self) -> None:
        # Once per engine, not per alert; frozen, hence object.__setattr__.
        object.__setattr__(self, "rules_version", rules_version(self.rules, self.suppression))

    @classmethod
    def load(cls, config_path: Path | None = None) -> Engine:
        """Read the ``engine:`` section of ``config_path`` (default ``config/b12stream.yaml``).

        Relative file names in the section are relative to the configuration file. Raises ConfigError
        naming the file and key when anything is missing, unknown or of the wrong type.
        """
        path = config_path or DEFAULT_CONFIG_PATH
        section = engine_settings(path)
        rules_file = section.get("rules")
        if rules_file is not None and not isinstance(rules_file, str):
            got = shown(rules_file, "rules")
            raise ConfigError(f"{path.name}: engine.rules must be a file name, got {got}")
        return cls(
            terminology=Terminology.load(terminology_paths(section, path)),
            rules=load_rules_config(path.parent / rules_file if rules_file else None),
            key_rule=key_rule(section, path),
            suppression=_suggestion_policy(_mapping(section, "suppression", path), path),
            outputs=_outputs(_mapping(section, "outputs", path), path),
        )


def engine_settings(path: Path) -> Mapping[str, Any]:
    """The ``engine:`` mapping of a configuration file (empty when the section is empty)."""
    document = read_yaml_mapping(path)
    section = document.get("engine") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path.name}: engine must be a mapping, got {shown(section, 'engine')}")
    unknown = sorted(set(section) - _SECTION_KEYS)
    if unknown:
        raise ConfigError(f"{path.name}: unknown key engine.{unknown[0]}")
    return section


def terminology_paths(section: Mapping[str, Any], path: Path) -> list[Path]:
    """The files ``engine.terminology`` of ``section`` lists, relative to the configuration file at
    ``path``; empty when it lists none (the default terminology then applies). Raises ConfigError."""
    names = section.get("terminology")
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        got = shown(names, "terminology")
        raise ConfigError(f"{path.name}: engine.terminology must be a list of file names, got {got}")
    return [path.parent / name for name in names]


def key_rule(section: Mapping[str, Any], path: Path) -> KeyRule:
    """The patient key rule ``engine.patient_key`` of ``section`` sets. Raises ConfigError."""
    return KeyRule.from_mapping(_mapping(section, "patient_key", path), f"{path.name}: engine.patient_key")


def _mapping(section: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = section.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path.name}: engine.{key} must be a mapping, got {shown(value, key)}")
    return value


def _suggestion_policy(settings: Mapping[str, Any], path: Path) -> SuggestionPolicy:
    known = {"window_days", "max_per_episode", "always_show_from"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"{path.name}: unknown key engine.suppression.{unknown[0]}")
    default = SuggestionPolicy()
    window = settings.get("window_days", default.window / timedelta(days=1))
    limit = settings.get("max_per_episode", default.max_per_episode)
    always = settings.get("always_show_from", default.always_show_from.label)
    at = f"{path.name}: engine.suppression"
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise ConfigError(f"{at}.window_days must be a positive number, got {shown(window, 'window_days')}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        got = shown(limit, "max_per_episode")
        raise ConfigError(f"{at}.max_per_episode must be a whole number >= 1, got {got}")
    if not isinstance(always, str) or always.upper() not in Severity.__members__:
        severities = ", ".join(name.lower() for name in Severity.__members__)
        got = shown(always, "always_show_from")
        raise ConfigError(f"{at}.always_show_from must be one of {severities}, got {got}")
    return SuggestionPolicy(timedelta(days=window), limit, Severity.parse(always))


def _outputs(settings: Mapping[str, Any], path: Path) -> OutputSettings:
    known = {f.name for f in fields(OutputSettings)}
    for key, value in settings.items():
        if key not in known:
            raise ConfigError(f"{path.name}: unknown key engine.outputs.{key}")
        if not isinstance(value, str):
            raise ConfigError(f"{path.name}: engine.outputs.{key} must be text, got {shown(value, key)}")
    outputs = OutputSettings(**settings)
    for key in ("sending_application", "pager_source"):
        value = getattr(outputs, key)
        if not value.strip():
            raise ConfigError(f"{path.name}: engine.outputs.{key} must be set, got {shown(value, key)}")
    if outputs.processing_id not in PROCESSING_IDS:
        raise ConfigError(
            f"{path.name}: engine.outputs.processing_id must be one of {', '.join(PROCESSING_IDS)} "
            f"(MSH-11, HL7 table 0103), got {outputs.processing_id!r}"
        )
    for key, field_name in _MSH_NAMES.items():
        length = len(escape(getattr(outputs, key)))
        if length > HD_NAMESPACE_MAX:
            raise ConfigError(
                f"{path.name}: engine.outputs.{key} is {length} characters as {field_name} of an order "
                f"message writes it (delimiters escaped); HL7 v2.5.1 allows at most {HD_NAMESPACE_MAX}"
            )
    return outputs
