"""/metrics: the engine's counts as Prometheus text that reads back to the same values, counters that
only grow, and label values escaped."""

from __future__ import annotations

import itertools

from b12stream.stream.metrics import exposition
from b12stream.stream.stages import StageResult
from b12stream.stream.status import EngineStatus
from tests.conftest import ManualClock
from tests.prometheus_text import parse


def _batch(rule: str = "R06", severity: str = "critical") -> list[StageResult]:
    ingest = StageResult("ingest", dead_lettered=1)
    process = StageResult("process", processed=3, dead_lettered=2, orders=1)
    process.alerts.update({("alert", rule, severity): 2, ("retraction", rule, severity): 1})
    process.pages.update({"trigger": 1})
    return [ingest, process]


def test_the_text_reads_back_to_the_counts_of_the_batches() -> None:
    clock = ManualClock()
    status = EngineStatus(clock)
    clock.now += 5
    status.committed(_batch(), {"ingest": 4, "process": 2}, 0.03)
    status.restored(7)
    clock.now += 2
    found = parse(exposition(status.snapshot(), clock.now))

    assert found.by("b12stream_records_read_total", "stage") == {"ingest": 4, "process": 2}
    assert found.value("b12stream_messages_processed_total") == 3
    assert found.by("b12stream_messages_dead_lettered_total", "stage") == {"ingest": 1, "process": 2}
    assert found.by("b12stream_events_published_total", "type") == {
        "alert": 2, "alert_update": 0, "retraction": 1, "rejected": 3,
    }
    assert found.value(
        "b12stream_alert_events_published_total", type="alert", rule="R06", severity="critical"
    ) == 2
    assert found.by("b12stream_pages_published_total", "action") == {"trigger": 1, "resolve": 0}
    assert found.value("b12stream_order_messages_published_total") == 1
    assert found.value("b12stream_batches_committed_total") == 1
    assert found.value("b12stream_partition_restores_total") == 1
    assert found.value("b12stream_changelog_records_restored_total") == 7
    assert found.value("b12stream_seconds_since_last_commit") == 2
    assert found.value("b12stream_batch_duration_seconds_count") == 1
    assert found.value("b12stream_batch_duration_seconds_bucket", le="0.025") == 0
    assert found.value("b12stream_batch_duration_seconds_bucket", le="0.05") == 1
    assert found.value("b12stream_batch_duration_seconds_bucket", le="+Inf") == 1
    assert all(found.help.values())
    assert set(found.types.values()) == {"counter", "gauge", "histogram"}


def test_before_any_batch_every_counter_is_there_at_zero() -> None:
    """A rate over a series that appears later loses its first increase: the known ones start at 0."""
    clock = ManualClock()
    found = parse(exposition(EngineStatus(clock).snapshot(), clock.now + 3))
    counters = [name for name, kind in found.types.items() if kind == "counter"]
    for name in counters:
        if name != "b12stream_alert_events_published_total":  # by rule: none known before an alert
            assert any(sample == name for sample, _ in found.samples), name
    assert all(value == 0 for (name, _), value in found.samples.items() if name in counters)
    assert found.value("b12stream_seconds_since_last_commit") == 3  # since the start


def test_counters_only_grow_from_scrape_to_scrape() -> None:
    clock = ManualClock()
    status = EngineStatus(clock)
    scrapes = []
    for batch in range(4):
        status.committed(_batch(severity="high" if batch % 2 else "critical"), {"ingest": batch}, 0.2 * batch)
        if batch == 2:
            status.abandoned()
        scrapes.append(parse(exposition(status.snapshot(), clock.now)))
    for earlier, later in itertools.pairwise(scrapes):
        for (name, labels), value in earlier.samples.items():
            family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
            if later.types[family] in ("counter", "histogram"):
                assert later.samples[(name, labels)] >= value, (name, labels)
    assert scrapes[-1].value("b12stream_batches_abandoned_total") == 1
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in scrapes[-1].samples.items()
        if name == "b12stream_batch_duration_seconds_bucket"
    )
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)  # cumulative


def test_label_values_are_escaped_and_read_back_unchanged() -> None:
    """Rule ids and severities come from configuration and code, never from a message; whatever
    they hold, a backslash, a quote or a line feed cannot break the text."""
    odd = 'R"9\\\nx'
    status = EngineStatus(ManualClock())
    status.committed(_batch(rule=odd, severity="a\\n"), {}, 0.0)
    text = exposition(status.snapshot(), 1000.0)
    assert 'rule="R\\"9\\\\\\nx"' in text
    found = parse(text)
    assert found.value("b12stream_alert_events_published_total", type="alert", rule=odd, severity="a\\n") == 2


def test_the_log_totals_are_the_counts_the_metrics_give() -> None:
    status = EngineStatus(ManualClock())
    status.committed(_batch(), {"ingest": 4, "process": 2}, 0.1)
    assert status.totals() == {"processed": 3, "dead_lettered": 3, "in_place": 0, "records": 6, "batches": 1}
