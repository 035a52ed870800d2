"""rules.yaml: the shipped file equals the spec defaults; every bad value is a ConfigError naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.clinical.rules_config import RulesConfig, load_rules_config
from b12stream.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rules_file_holds_the_spec_defaults() -> None:
    config = load_rules_config()
    assert config == RulesConfig()
    assert config.platelets.lln_fallback_10e9_l == 150
    assert (config.b12.deficient_below_ng_l, config.b12.unlikely_above_ng_l) == (180, 350)
    assert config.suggestions.film.validity_days == 3
    assert config.secondary_triggers is True
    assert config.history_retention.days_for("parietal_cell_ab") == 1826
    assert config.history_retention.days_for("platelets") == 400


def test_partial_file_keeps_defaults_and_nested_window_defaults(tmp_path: Path) -> None:
    config = load_rules_config(
        write(tmp_path, "suggestions:\n  film: {pending_days: 2}\nsecondary_triggers: false\n")
    )
    assert config.suggestions.film.validity_days == 3 and config.suggestions.film.pending_days == 2
    assert config.secondary_triggers is False
    assert config.b12 == RulesConfig().b12


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_rules_config(write(tmp_path, "")) == RulesConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "b12:\n  deficient_below_ng_l: abc\n",
            "rules.yaml: b12.deficient_below_ng_l must be a positive number, got 'abc'",
        ),
        ("b12:\n  deficient_below_ng_l: -5\n", "b12.deficient_below_ng_l must be a positive number"),
        ("b12:\n  deficient_below_ng_l: 0\n", "b12.deficient_below_ng_l must be a positive number"),
        ("b12:\n  deficient_below_ng_l: true\n", "b12.deficient_below_ng_l must be a positive number"),
        (
            "b12:\n  deficient_below_ng_l: 400\n",
            "b12.deficient_below_ng_l (400) must be below b12.unlikely_above_ng_l",
        ),
        ("b12:\n  deficent_below_ng_l: 150\n", "unknown key b12.deficent_below_ng_l"),
        ("colour: blue\n", "unknown key colour"),
        (
            "episode:\n  close_normal_results: 1.5\n",
            "episode.close_normal_results must be a positive whole number",
        ),
        ("secondary_triggers: yes please\n", "secondary_triggers must be true or false"),
        ("platelets: 150\n", "platelets must be a mapping"),
        (
            "platelets:\n  non_trigger_codes: 13056-7\n",
            "platelets.non_trigger_codes must be a list of strings",
        ),
        ("orders:\n  b12_loinc: ''\n", "orders.b12_loinc must be a non-empty string"),
        (
            "suggestions:\n  cbc: {pending_days: -1}\n",
            "suggestions.cbc.pending_days must be a non-negative number",
        ),
        ("suggestions:\n  film: {validity_hours: 72}\n", "unknown key suggestions.film.validity_hours"),
        (
            "adamts13:\n  severe_below_pct: 30\n",
            "adamts13.severe_below_pct (30) must be below adamts13.indeterminate_max_pct",
        ),
        ("- a list\n", "top level must be a mapping"),
        ("b12: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_rules_config(write(tmp_path, text))
    assert message in str(raised.value)


def test_a_long_value_is_shown_shortened(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_rules_config(write(tmp_path, "platelets:\n  non_trigger_codes: " + "13056-7 " * 100 + "\n"))
    assert str(raised.value) == (
        "rules.yaml: platelets.non_trigger_codes must be a list of strings, got "
        "'13056-7 13056-7 13056-7 13056-7 13056-7 13056-7 13056-7 130…")


def test_zero_pending_window_is_allowed(tmp_path: Path) -> None:
    config = load_rules_config(write(tmp_path, "suggestions:\n  cbc: {pending_days: 0}\n"))
    assert config.suggestions.cbc.pending_days == 0


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules_config(tmp_path / "absent.yaml")
