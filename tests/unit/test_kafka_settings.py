"""The `kafka:` section: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.errors import ConfigError
from b12stream.stream.settings import load_kafka_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "b12stream.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_gives_the_documented_defaults() -> None:
    settings = load_kafka_settings()
    assert settings.topics.input == "hl7.oru"
    assert settings.processing_guarantee == "exactly_once"
    assert settings.security.ssl_cafile is None


def test_values_override_and_the_command_line_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "kafka:\n  bootstrap_servers: a:1\n  batch:\n    poll_timeout_ms: 0\n"
        "  security:\n    ssl_cafile: /etc/ca.pem\n",
    )
    settings = load_kafka_settings(path, bootstrap_servers="b:2")
    assert settings.bootstrap_servers == "b:2"
    assert settings.batch.poll_timeout_ms == 0
    assert settings.security.ssl_cafile == "/etc/ca.pem"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kafka:\n  nope: 1\n", "unknown key kafka.nope"),
        ("kafka:\n  batch:\n    max_records: x\n", "kafka.batch.max_records must be a positive whole number"),
        ("kafka:\n  security:\n    ssl_cafile: 5\n", "kafka.security.ssl_cafile must be a non-empty string"),
        ("kafka:\n  processing_guarantee: maybe\n", "kafka.processing_guarantee"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_kafka_settings(_write(tmp_path, text))
