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
    assert settings.state_cache_mib == 128


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
        ("kafka:\n  state_cache_mib: -1\n", "kafka.state_cache_mib"),
        ("kafka:\n  producer:\n    lingr_ms: 5\n", "unknown key kafka.producer.lingr_ms"),
        ("kafka:\n  consumer:\n    fetch_max_byte: 1\n", "unknown key kafka.consumer.fetch_max_byte"),
        ("kafka:\n  consumer: 5\n", "kafka.consumer must be a mapping"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_kafka_settings(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kafka:\n  processing_guarantee: exactly-once\n",
            "b12stream.yaml: kafka.processing_guarantee must be one of exactly_once, at_least_once, "
            "got 'exactly-once'",
        ),
        (
            "kafka:\n  security:\n    protocol: SASL-SSL\n",
            "b12stream.yaml: kafka.security.protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, "
            "SASL_SSL, got 'SASL-SSL'",
        ),
        (
            "kafka:\n  security:\n    protocol: SASL_SSL\n    sasl_mechanism: SCRAM\n",
            "b12stream.yaml: kafka.security.sasl_mechanism must be one of PLAIN, SCRAM-SHA-256, "
            "SCRAM-SHA-512 under SASL_SSL, got 'SCRAM'",
        ),
        (
            "kafka:\n  topics:\n    alerts: cds.out\n    pager: cds.out\n",
            "b12stream.yaml: kafka.topics.alerts and kafka.topics.pager are both 'cds.out': every topic "
            "needs its own name",
        ),
        (
            "kafka:\n  topics:\n    input: [" + "hl7.oru, " * 40 + "]\n",
            "b12stream.yaml: kafka.topics.input must be a non-empty string, got "
            "['hl7.oru', 'hl7.oru', 'hl7.oru', 'hl7.oru', 'hl7.oru', 'hl7…",
        ),
        (
            "kafka:\n  batch: lots\n",
            "b12stream.yaml: kafka.batch must be a mapping, got 'lots'",
        ),
    ],
)
def test_an_error_shows_the_value_it_refuses_shortened(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_kafka_settings(_write(tmp_path, text))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "text",
    [
        "kafka:\n  security:\n    sasl_password_env: 31415926535\n",
        # the password itself where the name of its variable goes
        "kafka:\n  security:\n    sasl_password_env: 'Tr0ub4dor&3'\n",
        "kafka:\n  security:\n    ssl_password_env: ['Tr0ub4dor&3']\n",
        "kafka:\n  producer: [sasl_plain_password=Tr0ub4dor&3]\n",
    ],
)
def test_the_value_of_a_key_that_may_hold_a_secret_is_never_shown(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_kafka_settings(_write(tmp_path, text))
    message = str(raised.value)
    assert "Tr0ub4dor" not in message and "31415926535" not in message
    assert message.startswith("b12stream.yaml: kafka.") and "(not shown" in message


@pytest.mark.parametrize("servers", ["kafka1:90a2", "a:1,,b:2", "kafka1:70000", "[::1", "kafka..example:1"])
def test_bootstrap_servers_that_no_client_can_read_name_the_key_and_the_value(
    tmp_path: Path, servers: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_kafka_settings(_write(tmp_path, f"kafka:\n  bootstrap_servers: '{servers}'\n"))
    assert str(raised.value) == (
        f"b12stream.yaml: kafka.bootstrap_servers must be HOST[:PORT][,HOST[:PORT]...], got {servers!r}")
    with pytest.raises(ConfigError, match=r"^--bootstrap-servers must be HOST\[:PORT\]"):
        load_kafka_settings(_write(tmp_path, "kafka: {}\n"), bootstrap_servers=servers)


def test_bootstrap_servers_without_a_port_are_read_as_kafka_python_reads_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "kafka:\n  bootstrap_servers: 'kafka1, [::1]:9093, 10.0.0.7'\n")
    assert load_kafka_settings(path).bootstrap_servers == "kafka1, [::1]:9093, 10.0.0.7"


def test_processes_defaults_to_one_and_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    assert load_kafka_settings().processes == 1
    path = _write(tmp_path, "kafka:\n  processes: 3\n")
    assert load_kafka_settings(path).processes == 3
    assert load_kafka_settings(path, processes=2).processes == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kafka:\n  processes: 0\n", "kafka.processes must be a positive whole number, got 0"),
        ("kafka:\n  processes: two\n", "kafka.processes must be a positive whole number"),
        ("kafka:\n  processes: 1.5\n", "kafka.processes must be a positive whole number"),
    ],
)
def test_processes_in_the_file_must_be_a_whole_number_of_at_least_one(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_kafka_settings(_write(tmp_path, text))


@pytest.mark.parametrize("processes", [0, -2])
def test_processes_from_the_command_line_must_be_at_least_one(tmp_path: Path, processes: int) -> None:
    expected = rf"kafka\.processes \(--processes\) must be at least 1, got {processes}"
    with pytest.raises(ConfigError, match=expected):
        load_kafka_settings(_write(tmp_path, "kafka: {}\n"), processes=processes)


def test_sasl_ssl_gives_kafka_python_its_option_names_with_secrets_from_the_named_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        "kafka:\n  bootstrap_servers: a:1,b:2\n  security:\n    protocol: SASL_SSL\n"
        "    ssl_cafile: /etc/ca.pem\n    sasl_mechanism: SCRAM-SHA-512\n"
        "    sasl_username_env: SITE_KAFKA_USER\n    sasl_password_env: SITE_KAFKA_SECRET\n",
    )
    monkeypatch.setenv("SITE_KAFKA_USER", "engine")
    monkeypatch.setenv("SITE_KAFKA_SECRET", "s3cret")
    options = load_kafka_settings(path).client_options()
    assert options["bootstrap_servers"] == ["a:1", "b:2"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_cafile"] == "/etc/ca.pem"
    assert options["ssl_check_hostname"] is True
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("engine", "s3cret")


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        ("B12STREAM_KAFKA_PASSWORD", "kafka.security.sasl_password_env: environment variable "
         "B12STREAM_KAFKA_PASSWORD is not set"),
        # A password pasted where its variable's name belongs would otherwise be printed.
        ("Tr0ub4dor3", "kafka.security.sasl_password_env: the environment variable it names is not set"),
    ],
)
def test_a_missing_secret_variable_is_a_config_error_naming_the_variable_unless_it_may_be_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, said: str
) -> None:
    path = _write(
        tmp_path,
        "kafka:\n  security:\n    protocol: SASL_PLAINTEXT\n    sasl_mechanism: PLAIN\n"
        f"    sasl_password_env: {variable}\n",
    )
    monkeypatch.setenv("B12STREAM_KAFKA_USERNAME", "engine")
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError) as raised:
        load_kafka_settings(path).client_options()
    assert str(raised.value).startswith(said)
    assert (variable in str(raised.value)) == variable.isupper()


@pytest.mark.parametrize(("text", "got"), [("kafka: oops\n", "'oops'"), ("kafka: [a, b]\n", "['a', 'b']")])
def test_a_kafka_section_that_is_no_mapping_is_a_config_error_showing_it(
    tmp_path: Path, text: str, got: str
) -> None:
    """Not a traceback from deep inside the reader: the file, the key and what it holds."""
    with pytest.raises(ConfigError) as raised:
        load_kafka_settings(_write(tmp_path, text))
    assert str(raised.value) == f"b12stream.yaml: kafka must be a mapping, got {got}"

