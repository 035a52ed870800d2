"""The output producer's options: b12stream's defaults, kafka.producer over them, the connection last."""

from __future__ import annotations

from pathlib import Path

from b12stream.stream.clients import output_producer_options
from b12stream.stream.settings import KafkaSettings, load_kafka_settings


def _settings(tmp_path: Path, text: str) -> KafkaSettings:
    path = tmp_path / "b12stream.yaml"
    path.write_text(text, encoding="utf-8")
    return load_kafka_settings(path)


def test_exactly_once_retries_transactional_requests_after_20_ms(tmp_path: Path) -> None:
    options = output_producer_options(_settings(tmp_path, "kafka:\n  producer:\n    linger_ms: 5\n"), "app-0")
    assert options["retry_backoff_ms"] == 20
    assert options["transactional_id"] == "app-0"
    assert options["acks"] == "all" and options["enable_idempotence"] is True
    assert options["linger_ms"] == 5


def test_a_backoff_set_in_kafka_producer_wins(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "kafka:\n  producer:\n    retry_backoff_ms: 250\n")
    assert output_producer_options(settings, "app-0")["retry_backoff_ms"] == 250


def test_at_least_once_keeps_kafka_pythons_backoff_and_has_no_transaction(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        "kafka:\n  processing_guarantee: at_least_once\n  producer:\n    transaction_timeout_ms: 10000\n",
    )
    options = output_producer_options(settings, "app-0")
    assert "retry_backoff_ms" not in options
    assert "transactional_id" not in options and "transaction_timeout_ms" not in options


def test_the_shipped_file_gives_the_transactional_backoff() -> None:
    assert output_producer_options(load_kafka_settings(), "app-0")["retry_backoff_ms"] == 20


def test_the_producer_can_send_the_largest_input_record_and_the_largest_patient_state(tmp_path: Path) -> None:
    for text, limit in (
        ("kafka:\n  max_message_bytes: 3000000\n  max_state_bytes: 1000\n", 3_000_000),
        ("kafka:\n  max_message_bytes: 1000\n  max_state_bytes: 9000000\n", 9_000_000),
    ):
        settings = _settings(tmp_path, text)
        size = output_producer_options(settings, "app-0")["max_request_size"]
        assert size == max(settings.record_limit, settings.state_record_limit)
        assert size > limit
