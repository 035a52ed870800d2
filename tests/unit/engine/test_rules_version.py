"""rules_version: the package version and a digest of the effective rule settings. Layout, key order,
comments and number spelling of the YAML leave it as it is; any changed setting changes it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from b12stream import __version__
from b12stream.clinical.model import Severity
from b12stream.clinical.rules_config import DEFAULT_RULES_PATH, R02Config, RulesConfig, load_rules_config
from b12stream.engine.engine import Engine
from b12stream.engine.rules_version import DIGEST_LENGTH, rules_version
from b12stream.engine.suppression import SuggestionPolicy
from b12stream.paths import CONFIG_DIR

DEFAULTS = rules_version(RulesConfig(), SuggestionPolicy())


def _version_of(tmp_path: Path, rules_text: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text, encoding="utf-8")
    return rules_version(load_rules_config(path), SuggestionPolicy())


def _reordered(value: Any) -> Any:
    """Every mapping's keys in reverse order, all the way down."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    return value


def test_it_is_the_package_version_and_a_short_digest() -> None:
    assert re.fullmatch(rf"{re.escape(__version__)}\+[0-9a-f]{{{DIGEST_LENGTH}}}", DEFAULTS)
    other = rules_version(RulesConfig(), SuggestionPolicy(), package_version="0.2.0")
    assert other == "0.2.0+" + DEFAULTS.partition("+")[2]


def test_the_shipped_file_gives_the_defaults_version() -> None:
    """It is over the settings in effect: keys written at their default count as left out."""
    assert rules_version(load_rules_config(), SuggestionPolicy()) == DEFAULTS
    assert Engine.load().rules_version == DEFAULTS


def test_key_order_comments_and_layout_do_not_change_it(tmp_path: Path) -> None:
    shipped = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    flow_reversed = yaml.safe_dump(_reordered(shipped), sort_keys=False, default_flow_style=True)
    assert _version_of(tmp_path, flow_reversed) == DEFAULTS
    assert _version_of(tmp_path, yaml.safe_dump(shipped, sort_keys=True)) == DEFAULTS


def test_number_spelling_does_not_change_it(tmp_path: Path) -> None:
    block = "# site thresholds\nb12:\n  unlikely_above_ng_l: 400\n  deficient_below_ng_l: 200\n"
    flow = "b12: {deficient_below_ng_l: 200.0, unlikely_above_ng_l: 4.0e+2}  # same values\n"
    assert _version_of(tmp_path, block) == _version_of(tmp_path, flow) != DEFAULTS
    built_with_an_int = dataclasses.replace(RulesConfig(), r02=R02Config(high_below_10e9_l=50))
    assert rules_version(built_with_an_int, SuggestionPolicy()) == DEFAULTS


def _leaves(config: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, (*path, item.name))
        else:
            yield (*path, item.name)


def _changed(config: Any, path: tuple[str, ...]) -> Any:
    """``config`` with the setting at ``path`` moved a little (not checked: only the digest matters)."""
    head, *rest = path
    value = getattr(config, head)
    if rest:
        return dataclasses.replace(config, **{head: _changed(value, tuple(rest))})
    if isinstance(value, bool):
        moved: Any = not value
    elif isinstance(value, int | float):
        moved = value + 1
    elif isinstance(value, str):
        moved = value + "0"
    else:
        moved = value[:-1]
    return dataclasses.replace(config, **{head: moved})


@pytest.mark.parametrize("path", list(_leaves(RulesConfig())), ids=".".join)
def test_any_changed_rule_setting_changes_it(path: tuple[str, ...]) -> None:
    assert rules_version(_changed(RulesConfig(), path), SuggestionPolicy()) != DEFAULTS


@pytest.mark.parametrize(
    "policy",
    [
        SuggestionPolicy(window=timedelta(days=8)),
        SuggestionPolicy(max_per_episode=3),
        SuggestionPolicy(always_show_from=Severity.CRITICAL),
    ],
)
def test_any_changed_suppression_setting_changes_it(policy: SuggestionPolicy) -> None:
    """R11 (c) decides which reflex orders an alert suggests: part of the rules an alert came from."""
    assert rules_version(RulesConfig(), policy) != DEFAULTS


def _engine_config(folder: Path, rules: str, suppression: str = "", terminology: str = "") -> Path:
    (folder / "rules.yaml").write_text(rules, encoding="utf-8")
    path = folder / "b12stream.yaml"
    files = [str(CONFIG_DIR / "terminology.yaml"), *([terminology] if terminology else [])]
    path.write_text(
        f"engine:\n  terminology: [{', '.join(files)}]\n  rules: rules.yaml\n{suppression}",
        encoding="utf-8",
    )
    return path


def test_the_engine_computes_it_from_the_configuration_it_loads(tmp_path: Path) -> None:
    assert Engine.load(_engine_config(tmp_path, "{}\n")).rules_version == DEFAULTS
    lowered = Engine.load(_engine_config(tmp_path, "r02: {high_below_10e9_l: 40}\n"))
    assert lowered.rules_version != DEFAULTS
    assert lowered.rules_version == rules_version(lowered.rules, lowered.suppression)
    shorter = Engine.load(_engine_config(tmp_path, "{}\n", "  suppression: {window_days: 3}\n"))
    assert shorter.rules_version != DEFAULTS


def test_a_site_terminology_file_leaves_it_as_it_is(tmp_path: Path) -> None:
    """Each alert's evidence shows the code, canonical value and unit its results were read by."""
    site = tmp_path / "site-terminology.yaml"
    site.write_text('local_codes:\n  - {system: "L", code: "PLT", analyte: platelets}\n', encoding="utf-8")
    engine = Engine.load(_engine_config(tmp_path, "{}\n", terminology=str(site)))
    assert engine.terminology.analyte_for_code("PLT", "L") is not None
    assert engine.rules_version == DEFAULTS
