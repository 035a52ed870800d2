"""The engine's metrics in the Prometheus text exposition format (version 0.0.4), from a Snapshot.

Labels hold only what b12stream itself names (stages, event types, rule ids, severities, pager
actions), never a value read from a message: no patient, MRN or control id can reach a scraper.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from b12stream.stream.status import BATCH_SECONDS_BUCKETS, Snapshot

__all__ = ["CONTENT_TYPE", "exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Label values known in advance are exposed from the start, at 0, so that a rate over them is
# defined before the first such message (a series that appears later loses its first increase).
_STAGES = ("ingest", "process")
_ALERT_TYPES = ("alert", "alert_update", "retraction")
_PAGE_ACTIONS = ("trigger", "resolve")

Labels = tuple[tuple[str, str], ...]
# A sample: the suffix of its name (a histogram's _bucket, _sum, _count; else ""), labels, value.
Sample = tuple[str, Labels, float]


def exposition(snapshot: Snapshot, now: float) -> str:
    """Every metric of ``snapshot`` as Prometheus text; ``now`` is ``time.monotonic`` seconds."""
    s = snapshot
    events = Counter({kind: 0 for kind in _ALERT_TYPES})
    for (kind, _, _), count in s.alerts.items():
        events[kind] += count
    events["rejected"] = sum(s.dead_lettered.values())  # each dead letter has its rejected event
    last_commit = s.started if s.last_commit is None else s.last_commit
    families = [
        ("b12stream_records_read_total", "counter",
         "Kafka records read in committed batches, by the stage that read them (ingest: the input "
         "re-keyed by patient; process: the stateful topic).", _by("stage", s.records_read, _STAGES)),
        ("b12stream_messages_processed_total", "counter",
         "HL7 messages applied to their patient's state in committed batches.", _one(s.processed)),
        ("b12stream_messages_dead_lettered_total", "counter",
         "HL7 messages sent to the dead-letter topic, by the stage that refused them.",
         _by("stage", s.dead_lettered, _STAGES)),
        ("b12stream_messages_in_place_total", "counter",
         "Messages the ingest stage handed to the process stage in the same transaction "
         "(kafka.process_in_place).", _one(s.in_place)),
        ("b12stream_events_published_total", "counter",
         "Events published on the alerts topic, by type.", _by("type", events, events)),
        ("b12stream_alert_events_published_total", "counter",
         "Alert, alert_update and retraction events published, by type, rule and severity.",
         [("", (("type", t), ("rule", r), ("severity", v)), n) for (t, r, v), n in sorted(s.alerts.items())]),
        ("b12stream_pages_published_total", "counter",
         "Pager envelopes published, by event action.", _by("action", s.pages, _PAGE_ACTIONS)),
        ("b12stream_order_messages_published_total", "counter",
         "OML^O21 order messages published.", _one(s.orders)),
        ("b12stream_order_messages_not_written_total", "counter",
         "OML^O21 order messages v2.5.1 could not carry (a value over its length): their alerts, which "
         "list the same orders, were published; the log names the component.", _one(s.orders_not_written)),
        ("b12stream_batches_committed_total", "counter",
         "Batches committed (one Kafka transaction each under exactly-once).", _one(s.batches)),
        ("b12stream_batches_abandoned_total", "counter",
         "Batches abandoned after an error: transaction aborted, records read again.", _one(s.abandoned)),
        ("b12stream_partition_restores_total", "counter",
         "Restores of a stateful partition from the changelog.", _one(s.restores)),
        ("b12stream_changelog_records_restored_total", "counter",
         "Changelog records read by restores.", _one(s.restored_records)),
        ("b12stream_consumer_group_joined", "gauge",
         "1 while the consumer is in its group with an assignment (maybe empty), 0 while it joins.",
         _one(int(s.joined))),
        ("b12stream_partitions_assigned", "gauge",
         "Partitions of the topics it reads that the consumer holds.", _one(s.partitions_held)),
        ("b12stream_partitions_restoring", "gauge",
         "Stateful partitions held but not yet restored from the changelog.",
         _one(s.partitions_unrestored)),
        ("b12stream_seconds_since_last_commit", "gauge",
         "Seconds since the last committed batch (since the start, before the first).",
         _one(now - last_commit)),
        ("b12stream_seconds_since_last_cycle", "gauge",
         "Seconds since the main loop last polled, restored a partition or saw a rebalance.",
         _one(now - s.last_cycle)),
        ("b12stream_batch_duration_seconds", "histogram",
         "Time from the start of a batch's processing (its partitions restored) to its commit.",
         _histogram(s.batch_buckets, s.batch_seconds)),
    ]
    lines = [line for family in families for line in _family(*family)]
    return "\n".join(lines) + "\n"


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    for suffix, labels, value in samples:
        text = ",".join(f'{label}="{_escape_label(content)}"' for label, content in labels)
        braced = f"{{{text}}}" if text else ""
        lines.append(f"{name}{suffix}{braced} {_value(value)}")
    return lines


def _one(value: float) -> list[Sample]:
    return [("", (), value)]


def _by(label: str, counts: Mapping[str, int], known: Iterable[str]) -> list[Sample]:
    """One sample per value of ``label``: the ``known`` ones (0 when not counted), then the others."""
    values = list(dict.fromkeys([*known, *sorted(counts)]))
    return [("", ((label, value),), counts.get(value, 0)) for value in values]


def _histogram(buckets: list[int], total_seconds: float) -> list[Sample]:
    samples: list[Sample] = []
    cumulative = 0
    for bound, count in zip([*BATCH_SECONDS_BUCKETS, math.inf], buckets, strict=True):
        cumulative += count
        samples.append(("_bucket", (("le", _value(bound)),), cumulative))
    return [*samples, ("_sum", (), total_seconds), ("_count", (), cumulative)]


def _value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "NaN" if math.isnan(value) else repr(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
