"""Stream settings from the `kafka:` and `observability:` sections of config/b12stream.yaml; secrets
from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.cluster import get_ip_port_afi

from b12stream.config_file import ZERO_OK, dataclass_from_mapping, read_yaml_mapping, shown
from b12stream.errors import ConfigError
from b12stream.paths import CONFIG_DIR

__all__ = [
    "DEFAULT_MAX_STATE_BYTES",
    "BatchSettings",
    "KafkaSettings",
    "ObservabilitySettings",
    "RetrySettings",
    "SecuritySettings",
    "TopicNames",
    "bootstrap_addresses",
    "load_kafka_settings",
    "load_observability_settings",
]

DEFAULT_CONFIG = CONFIG_DIR / "b12stream.yaml"
_GUARANTEES = ("exactly_once", "at_least_once")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# The keys that name the environment variables holding credentials, and what such a name looks like.
_SECRET_VARIABLES = ("ssl_password_env", "sasl_username_env", "sasl_password_env")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONVENTIONAL_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")  # how environment variables are named
# What a record b12stream produces may add to a message: the repartition record's framing, or a dead
# letter's headers (reason, location, source), and Kafka's record overhead. The headers fit whatever
# the message holds: they repeat at most hl7.model.SHOWN_LIMIT characters of any of its fields.
_RECORD_HEADROOM = 64 * 1024
# The largest patient state the engine writes to the changelog (kafka.max_state_bytes).
DEFAULT_MAX_STATE_BYTES = 8 * 1024 * 1024
_HIGHEST_PORT = 65535


@dataclass(frozen=True, slots=True)
class TopicNames:
    input: str = "hl7.oru"
    alerts: str = "b12stream.alerts"
    orders: str = "b12stream.orders"
    pager: str = "b12stream.pager"
    dlq: str = "b12stream.dlq"
    changelog: str = "b12stream.changelog"
    repartition: str = "b12stream.repartition"


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_records: int = 1000
    poll_timeout_ms: int = field(default=100, metadata=ZERO_OK)


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Bounded exponential backoff for transient broker errors: attempts x (initial .. max) seconds."""

    attempts: int = 12
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """TLS and SASL. Passwords are named by environment variable, never written in the file."""

    protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password_env: str | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: str | None = None
    sasl_username_env: str = "B12STREAM_KAFKA_USERNAME"
    sasl_password_env: str = "B12STREAM_KAFKA_PASSWORD"


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Everything the stream layer needs. ``client_options`` gives the kafka-python keyword arguments
    shared by every client; ``consumer`` and ``producer`` are passed through as extra options."""

    bootstrap_servers: str = "127.0.0.1:9092"
    application_id: str = "b12stream"
    processing_guarantee: str = "exactly_once"
    input_keyed_by_patient: bool = False
    process_in_place: bool = True
    partitions: int = 4
    input_partitions: int = 1
    replication_factor: int = 1
    processes: int = 1
    max_message_bytes: int = 1_000_000
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    state_cache_mib: int = field(default=128, metadata=ZERO_OK)
    topics: TopicNames = field(default_factory=TopicNames)
    batch: BatchSettings = field(default_factory=BatchSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    consumer: Mapping[str, Any] = field(default_factory=dict)
    producer: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee == "exactly_once"

    @property
    def record_limit(self) -> int:
        """The largest record b12stream produces: a message of ``max_message_bytes`` with its framing.
        The producer's ``max_request_size`` and the repartition and dead-letter topics' limit."""
        return self.max_message_bytes + _RECORD_HEADROOM

    @property
    def state_record_limit(self) -> int:
        """The largest changelog record: a patient state of ``max_state_bytes`` with its key and
        headers. The changelog topic's limit; the engine's producer takes the larger of the two."""
        return self.max_state_bytes + _RECORD_HEADROOM

    @property
    def flush_timeout_s(self) -> float:
        """How long a batch's records may take to be delivered: the transaction timeout (after
        which the broker aborts the transaction anyway), also under at-least-once."""
        return float(self.producer.get("transaction_timeout_ms", 60_000)) / 1000

    @property
    def stateful_topic(self) -> str:
        """The topic whose partitions own patients: the repartition topic, or the input when keyed."""
        return self.topics.input if self.input_keyed_by_patient else self.topics.repartition

    def client_options(self) -> dict[str, Any]:
        """bootstrap servers, TLS and SASL options for any kafka-python client. Reads secrets now."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.application_id,
            "security_protocol": self.security.protocol,
        }
        security = self.security
        if "SSL" in security.protocol:
            options.update(
                ssl_cafile=security.ssl_cafile,
                ssl_certfile=security.ssl_certfile,
                ssl_keyfile=security.ssl_keyfile,
                ssl_check_hostname=security.ssl_check_hostname,
            )
            if security.ssl_password_env:
                options["ssl_password"] = _secret(security.ssl_password_env, "ssl_password_env")
        if security.protocol.startswith("SASL"):
            options.update(
                sasl_mechanism=security.sasl_mechanism,
                sasl_plain_username=_secret(security.sasl_username_env, "sasl_username_env"),
                sasl_plain_password=_secret(security.sasl_password_env, "sasl_password_env"),
            )
        return options


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    """The HTTP endpoint (/metrics, /health/live, /health/ready) of each engine process. ``http_port``
    None serves none; 0 takes any free port (the "observability listening" log line names it)."""

    http_host: str = "127.0.0.1"
    http_port: int | None = field(default=9464, metadata=ZERO_OK)

    def for_worker(self, index: int) -> ObservabilitySettings:
        """The endpoint of worker ``index`` (1..N) of ``run --processes N``: ``http_port + index - 1``,
        so that worker 1 serves on ``http_port`` itself, as a single engine process does, and a probe
        aimed there works whatever N is. Port 0 stays 0: each worker takes a free port of its own."""
        if not self.http_port:
            return self
        return replace(self, http_port=self.http_port + index - 1)


def bootstrap_addresses(servers: str) -> list[tuple[str, int]]:
    """``(host, port)`` of each comma-separated server, read as kafka-python reads them (``host``,
    ``host:port``, ``[ipv6]:port``; without a port, Kafka's 9092). Raises ValueError for one that
    names no host or port, which kafka-python would refuse, or read as a host named '', and for a
    host name no lookup takes (an empty label, a label over 63 characters)."""
    addresses = []
    for server in servers.split(","):
        host, port, _ = get_ip_port_afi(server)
        if not host or not 0 < port < 65536 or not _can_look_up(host):
            raise ValueError(server)
        addresses.append((host, port))
    return addresses


def _can_look_up(host: str) -> bool:
    try:
        host.encode("idna")  # as getaddrinfo encodes a name before it asks for it
    except UnicodeError:
        return False
    return True


def _secret(variable: str, key: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if _CONVENTIONAL_VARIABLE.fullmatch(variable):
        raise ConfigError(f"kafka.security.{key}: environment variable {variable} is not set")
    # A name that is not upper case may be the secret itself, pasted where its variable belongs: it
    # would be printed, and kept by whatever collects the engine's output.
    raise ConfigError(
        f"kafka.security.{key}: the environment variable it names is not set (the name is not shown: "
        "it is not upper case, and may be the secret itself)"
    )


def load_kafka_settings(
    path: Path | None = None, bootstrap_servers: str | None = None, processes: int | None = None
) -> KafkaSettings:
    """Read the `kafka:` section of ``path`` (default config/b12stream.yaml).

    An absent section or key takes its default. Raises ConfigError naming the key for an unknown key,
    a wrong type or an invalid choice. ``bootstrap_servers`` and ``processes`` (from the command line)
    override the file when given.
    """
    config_path = path or DEFAULT_CONFIG
    document = read_yaml_mapping(config_path)
    where = config_path.name
    section = document.get("kafka") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: kafka must be a mapping, got {shown(section, 'kafka')}")
    raw = dict(section)
    nested = {
        "topics": TopicNames,
        "batch": BatchSettings,
        "retry": RetrySettings,
        "security": SecuritySettings,
    }
    parts = {
        name: dataclass_from_mapping(cls(), raw.pop(name, None) or {}, where, f"kafka.{name}.")
        for name, cls in nested.items()
    }
    for name, client in (("consumer", KafkaConsumer), ("producer", KafkaProducer)):
        value = raw.pop(name, None) or {}
        if not isinstance(value, Mapping):
            got = shown(value, f"kafka.{name}", may_hold_secrets=True)  # sasl_plain_password is an option
            raise ConfigError(f"{where}: kafka.{name} must be a mapping of kafka-python options, got {got}")
        # Checked here, where the key can be named: kafka-python refuses an unknown option only when
        # the client is built, with a ValueError that says neither the key nor the file.
        unknown = sorted(set(value) - set(client.DEFAULT_CONFIG))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key kafka.{name}.{unknown[0]} (not a kafka-python {name} option)"
            )
        parts[name] = dict(value)
    settings = replace(dataclass_from_mapping(KafkaSettings(), raw, where, "kafka."), **parts)
    if bootstrap_servers:
        settings = replace(settings, bootstrap_servers=bootstrap_servers)
    try:
        bootstrap_addresses(settings.bootstrap_servers)
    except ValueError:
        key = "--bootstrap-servers" if bootstrap_servers else f"{where}: kafka.bootstrap_servers"
        got = shown(settings.bootstrap_servers, "bootstrap_servers")
        raise ConfigError(f"{key} must be HOST[:PORT][,HOST[:PORT]...], got {got}") from None
    if processes is not None:
        if processes < 1:  # the file's value was checked as it was read; this one is the command line's
            raise ConfigError(f"kafka.processes (--processes) must be at least 1, got {processes}")
        settings = replace(settings, processes=processes)
    _validate(settings, where)
    return settings


def load_observability_settings(
    path: Path | None = None, processes: int = 1, http_port: int | None = None
) -> ObservabilitySettings:
    """Read the `observability:` section of ``path`` (default config/b12stream.yaml); an absent section
    or key takes its default, and ``http_port`` (``run --http-port``), when given, replaces the
    file's. Raises ConfigError naming the key for an unknown key or a wrong value, and for an
    ``http_port`` that leaves no port for the last of ``processes`` workers."""
    config_path = path or DEFAULT_CONFIG
    where = config_path.name
    section = read_yaml_mapping(config_path).get("observability") or {}
    settings = dataclass_from_mapping(ObservabilitySettings(), section, where, "observability.")
    if http_port is not None:  # checked apart: an error of the file's is still the file's
        where = "--http-port"
        settings = dataclass_from_mapping(settings, {"http_port": http_port}, where, "observability.")
    last = settings.for_worker(processes).http_port
    if last is not None and last > _HIGHEST_PORT:
        got = shown(settings.http_port, "observability.http_port")
        workers = f" with {processes} processes (worker k serves on http_port + k - 1)"
        raise ConfigError(
            f"{where}: observability.http_port must be a port number up to {_HIGHEST_PORT}"
            f"{workers if processes > 1 else ''}, "
            f"got {got}"
        )
    return settings


def _validate(settings: KafkaSettings, where: str) -> None:
    """The checks that span keys or choose among names; numbers and types were checked as read."""
    security = settings.security
    _choice(where, "kafka.processing_guarantee", settings.processing_guarantee, _GUARANTEES)
    _choice(where, "kafka.security.protocol", security.protocol, _PROTOCOLS)
    if security.protocol.startswith("SASL"):
        _choice(where, "kafka.security.sasl_mechanism", security.sasl_mechanism, _MECHANISMS,
                f" under {security.protocol}")
    for name in _SECRET_VARIABLES:
        variable = getattr(security, name)
        if variable is not None and not _VARIABLE_NAME.fullmatch(variable):
            key = f"kafka.security.{name}"
            raise ConfigError(f"{where}: {key} must name an environment variable (letters, digits and _), "
                              f"got {shown(variable, key)}")
    seen: dict[str, str] = {}
    for item in fields(TopicNames):
        topic = getattr(settings.topics, item.name)
        first = seen.setdefault(topic, item.name)
        if first != item.name:
            raise ConfigError(f"{where}: kafka.topics.{first} and kafka.topics.{item.name} are both "
                              f"{shown(topic, 'kafka.topics')}: every topic needs its own name")


def _choice(where: str, key: str, value: str | None, choices: tuple[str, ...], context: str = "") -> None:
    if value not in choices:
        got = shown(value, key)
        raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}{context}, got {got}")
