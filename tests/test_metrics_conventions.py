"""Prometheus series of the bridge, the sink and the processors, read as Prometheus reads them.

Each service is built (not started: no broker, database or traffic) and its registry
rendered as ``/metrics`` serves it, then parsed with prometheus_client's text parser.

* Every series of a known label value (dead-letter reasons, broker events, topics,
  stages) is there at 0 before the first event, so ``rate()`` and ``increase()`` count
  that first event.
* Names follow Prometheus' conventions: ``ww_<component>_`` prefix, snake_case,
  counters end in ``_total``, durations in ``_seconds``, a Unix time in a gauge ending
  in ``_timestamp_seconds``, no unit but a base unit, no ``_created`` series.

The check is the parser's: ``promtool check metrics`` is not used (the Debian package
that ships it brings a whole Prometheus server, ~100 MB, for one lint).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from wastewatch.core.settings import KafkaSettings, Settings
from wastewatch.ingest.bridge import RECEIVED_KINDS, Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.ingest.validate import BROKER, DLQ, LANDFILL, READINGS, STATUS
from wastewatch.processors.service import STAGES, ProcessorService
from wastewatch.schema.broker import BrokerEventKind
from wastewatch.schema.dlq import DeadLetterReason

PREFIX = "tconv."


def _scrapes() -> dict[str, str]:
    """The /metrics text of each service, built with every stage and no traffic."""

    async def build() -> dict[str, str]:
        settings = Settings(kafka=KafkaSettings(topic_prefix=PREFIX))
        bridge, sink, procs = Bridge(settings), Sink(settings), ProcessorService(settings)
        return {
            name: generate_latest(svc.metrics.registry).decode()
            for name, svc in (("bridge", bridge), ("sink", sink), ("processors", procs))
        }

    return asyncio.run(build())


@pytest.fixture(scope="module")
def scrapes() -> dict[str, str]:
    return _scrapes()


def _families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _all_families(scrapes: dict[str, str]) -> Iterator[Metric]:
    for text in scrapes.values():
        yield from text_string_to_metric_families(text)


def _value(families: dict[str, Metric], sample: str, **labels: str) -> float | None:
    family = families[sample.removesuffix("_total").removesuffix("_count")]
    for s in family.samples:
        if s.name == sample and s.labels == labels:
            return float(s.value)
    return None


def test_bridge_series_exist_at_zero(scrapes: dict[str, str]) -> None:
    f = _families(scrapes["bridge"])
    for reason in DeadLetterReason:
        assert _value(f, "ww_bridge_dead_letters_total", reason=reason.value) == 0.0, reason
    for event in BrokerEventKind:
        assert _value(f, "ww_bridge_broker_events_total", event=event.value) == 0.0, event
    assert set(RECEIVED_KINDS) == {READINGS, STATUS, LANDFILL, BROKER, "invalid"}
    for kind in RECEIVED_KINDS:
        assert _value(f, "ww_bridge_received_total", kind=kind) == 0.0, kind
    for topic in (READINGS, STATUS, DLQ, LANDFILL, BROKER):
        assert _value(f, "ww_bridge_produced_total", topic=topic) == 0.0, topic
    for name in ("ww_bridge_mqtt_acked_total", "ww_bridge_kafka_send_errors_total"):
        assert _value(f, name) == 0.0, name


def test_sink_series_exist_at_zero(scrapes: dict[str, str]) -> None:
    f = _families(scrapes["sink"])
    for topic in (READINGS, STATUS, LANDFILL, BROKER):
        assert _value(f, "ww_sink_consumed_total", topic=PREFIX + topic) == 0.0, topic
    for name in (
        "ww_sink_readings_written_total",
        "ww_sink_duplicates_skipped_total",
        "ww_sink_rejected_total",
        "ww_sink_db_errors_total",
    ):
        assert _value(f, name) == 0.0, name


def test_processor_series_exist_at_zero(scrapes: dict[str, str]) -> None:
    f = _families(scrapes["processors"])
    for name, stage in STAGES.items():
        for topic in stage.topics:
            assert _value(f, "ww_processor_consumed_total", processor=name, topic=topic) == 0.0
        for topic in stage.produces:
            assert _value(f, "ww_processor_produced_total", processor=name, topic=topic) == 0.0
        for counter in ("ww_processor_undecodable_total", "ww_processor_db_errors_total"):
            assert _value(f, counter, processor=name) == 0.0, (counter, name)
        for histogram in ("ww_processor_lag_seconds", "ww_processor_batch_seconds"):
            assert _value(f, histogram + "_count", processor=name) == 0.0, (histogram, name)
    assert STAGES["alerts"].produces == ("waste.alerts.v1",)
    assert STAGES["collections"].produces == ("waste.events.v1",)
    for name in ("delivered", "failures", "given_up"):
        assert _value(f, f"ww_processor_webhook_{name}_total") == 0.0, name
    # A Unix time at 0 would read as 1970: the gauge appears with the first commit.
    assert not f["ww_processor_last_record_timestamp_seconds"].samples


def test_every_labelled_counter_has_its_series_from_the_start(scrapes: dict[str, str]) -> None:
    for text in scrapes.values():
        for line in text.splitlines():
            if line.startswith("# TYPE ") and line.endswith(" counter"):
                name = line.split()[2]
                assert re.search(rf"^{name}(\{{| )", text, re.M), f"{name}: no series at start-up"


_NAME = re.compile(r"^ww_(bridge|sink|processor)_[a-z0-9]+(_[a-z0-9]+)*$")
_NOT_BASE_UNITS = re.compile(
    r"_(s|ms|us|ns|sec|secs|millis|milliseconds|microseconds|nanoseconds|minutes|hours|days"
    r"|kb|mb|gb|kib|mib|gib|kilobytes|megabytes|gigabytes|bits|percent|pct)$"
)
_TIME_WORDS = re.compile(r"\b(unix|epoch|timestamp)\b", re.I)
_DURATION_WORDS = re.compile(r"\b(time|latency|duration|delay|seconds)\b", re.I)


def _problems(families: list[Metric]) -> list[str]:
    """What breaks the conventions, one line per problem."""
    out: list[str] = []
    names = [f.name for f in families]
    out += [f"{n}: defined twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for f in families:
        n, exposed = f.name, {s.name for s in f.samples}
        if not _NAME.match(n):
            out.append(f"{n}: not snake_case with the ww_<component>_ prefix")
        if _NOT_BASE_UNITS.search(n):
            out.append(f"{n}: not in a base unit (seconds, bytes)")
        if n.endswith("_created"):
            out.append(f"{n}: prometheus_client's _created series")
        if not f.documentation:
            out.append(f"{n}: no HELP")
        if f.type == "counter" and any(e != n + "_total" for e in exposed):
            out.append(f"{n}: a counter's series end in _total")
        if f.type != "counter" and n.endswith("_total"):
            out.append(f"{n}: _total on a {f.type}")
        is_time = _TIME_WORDS.search(f.documentation) or "time" in n
        if f.type == "gauge" and is_time and not n.endswith("_timestamp_seconds"):
            out.append(f"{n}: a Unix time ends in _timestamp_seconds")
        if n.endswith("_timestamp_seconds") and f.type != "gauge":
            out.append(f"{n}: a timestamp is a gauge")
        is_duration = _DURATION_WORDS.search(f.documentation)
        if f.type in ("histogram", "summary") and is_duration and not n.endswith("_seconds"):
            out.append(f"{n}: a duration is in seconds")
    return out


def test_names_follow_the_prometheus_conventions(scrapes: dict[str, str]) -> None:
    families = list(_all_families(scrapes))
    assert len(families) >= 25
    assert _problems(families) == []


def test_the_convention_check_finds_what_it_should() -> None:
    bad = """# HELP ww_sink_seen_at newest record, Unix time
# TYPE ww_sink_seen_at gauge
ww_sink_seen_at 1.7e9
# HELP ww_sink_write_ms batch write time
# TYPE ww_sink_write_ms histogram
ww_sink_write_ms_count 0.0
ww_sink_write_ms_sum 0.0
# HELP wwSinkRows rows
# TYPE wwSinkRows counter
wwSinkRows_total 0.0
# HELP ww_sink_rows_total rows
# TYPE ww_sink_rows_total gauge
ww_sink_rows_total 0.0
# HELP ww_sink_rows_created created
# TYPE ww_sink_rows_created gauge
ww_sink_rows_created 1.7e9
"""
    problems = "\n".join(_problems(list(text_string_to_metric_families(bad))))
    for expected in (
        "ww_sink_seen_at: a Unix time ends in _timestamp_seconds",
        "ww_sink_write_ms: not in a base unit",
        "ww_sink_write_ms: a duration is in seconds",
        "wwSinkRows: not snake_case",
        "ww_sink_rows_total: _total on a gauge",
        "ww_sink_rows_created: prometheus_client's _created series",
    ):
        assert expected in problems, (expected, problems)
