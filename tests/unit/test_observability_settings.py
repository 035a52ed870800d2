"""The `observability:` section: defaults, off, any free port, a port per worker, errors that name
the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from b12stream.errors import ConfigError
from b12stream.stream.settings import ObservabilitySettings, load_observability_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "b12stream.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_serves_on_localhost_9464() -> None:
    assert load_observability_settings() == ObservabilitySettings("127.0.0.1", 9464)


def test_an_absent_section_takes_the_defaults_and_null_turns_the_endpoint_off(tmp_path: Path) -> None:
    assert load_observability_settings(_write(tmp_path, "kafka: {}\n")) == ObservabilitySettings()
    off = load_observability_settings(_write(tmp_path, "observability:\n  http_port: null\n"))
    assert off.http_port is None and off.for_worker(3).http_port is None


def test_worker_k_serves_on_the_port_plus_k_minus_one_and_port_0_stays_any_free_port(tmp_path: Path) -> None:
    path = _write(tmp_path, "observability:\n  http_host: 0.0.0.0\n  http_port: 9500\n")
    settings = load_observability_settings(path, processes=3)
    assert [settings.for_worker(k) for k in (1, 2, 3)] == [
        ObservabilitySettings("0.0.0.0", 9500),
        ObservabilitySettings("0.0.0.0", 9501),
        ObservabilitySettings("0.0.0.0", 9502),
    ]
    any_free = load_observability_settings(_write(tmp_path, "observability:\n  http_port: 0\n"), processes=3)
    assert any_free.for_worker(3).http_port == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("observability:\n  http_prot: 9464\n", "b12stream.yaml: unknown key observability.http_prot"),
        (
            "observability:\n  http_port: '9464'\n",
            "b12stream.yaml: observability.http_port must be a non-negative whole number, got '9464'",
        ),
        (
            "observability:\n  http_port: -1\n",
            "b12stream.yaml: observability.http_port must be a non-negative whole number, got -1",
        ),
        (
            "observability:\n  http_port: true\n",
            "b12stream.yaml: observability.http_port must be a non-negative whole number, got True",
        ),
        (
            "observability:\n  http_port: 70000\n",
            "b12stream.yaml: observability.http_port must be a port number up to 65535, got 70000",
        ),
        (
            "observability:\n  http_host: ''\n",
            "b12stream.yaml: observability.http_host must be a non-empty string, got ''",
        ),
        ("observability: on\n", "b12stream.yaml: observability must be a mapping, got True"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_observability_settings(_write(tmp_path, text))
    assert str(raised.value) == message


def test_a_port_that_leaves_the_last_worker_no_port_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "observability:\n  http_port: 65535\n")
    assert load_observability_settings(path, processes=1).http_port == 65535
    with pytest.raises(ConfigError) as raised:
        load_observability_settings(path, processes=2)
    assert str(raised.value) == (
        "b12stream.yaml: observability.http_port must be a port number up to 65535 with 2 processes "
        "(worker k serves on http_port + k - 1), got 65535"
    )


def test_run_http_port_replaces_the_files_port_and_is_checked_as_it_would_be(tmp_path: Path) -> None:
    """`run --http-port` lets one instance (or the demo) take another port without a config copy."""
    path = _write(tmp_path, "observability:\n  http_host: 0.0.0.0\n  http_port: 9500\n")
    assert load_observability_settings(path, 2, http_port=0) == ObservabilitySettings("0.0.0.0", 0)
    assert load_observability_settings(path, 2, http_port=9600).for_worker(2).http_port == 9601
    with pytest.raises(ConfigError, match=r"^--http-port: observability\.http_port .* got 65535"):
        load_observability_settings(path, 2, http_port=65535)
    with pytest.raises(ConfigError, match=r"^--http-port: .*got -1"):
        load_observability_settings(path, 1, http_port=-1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("observability: [9464]\n", "b12stream.yaml: observability must be a mapping, got [9464]"),
        (
            "observability:\n  http_host: ''\n",
            "b12stream.yaml: observability.http_host must be a non-empty string, got ''",
        ),
    ],
)
def test_with_run_http_port_an_error_of_the_file_still_names_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    """`--http-port` replaces one value: what is wrong in the file is the file's, said as without it."""
    with pytest.raises(ConfigError) as raised:
        load_observability_settings(_write(tmp_path, text), 1, http_port=9600)
    assert str(raised.value) == message
