"""`wastewatch bench failover`: the ingest path's promise while Kafka brokers fail.

What is measured, in one run (see ``bench/README.md``):

* a private Apache Kafka cluster of B brokers (KRaft, default 3: every topic 3
  replicas, ``min.insync.replicas=2``) with its state under
  ``.wastewatch/bench-failover/<run>/`` and ports of its own, stopped and its data
  deleted at the end; Mosquitto and PostgreSQL of the local stack, a database, topic
  prefix, city, MQTT client id and consumer group of the run's own;
* the real ``python -m wastewatch.ingest.bridge`` and ``python -m wastewatch.ingest.sink``
processes,
  configured only through ``WW_*`` variables;
* N readings from D devices published over MQTT (QoS 1) at R readings/s by publisher
  processes (`wastewatch.workbench.bench.mqtt_load`); a reading counts as **acked** when its
  publisher got
  the PUBACK;
* once a fifth of them are published, ``kill -9`` of the broker that leads the most
  partitions of the run's ``waste.readings.v1``; it is started again once the
  controller moved leadership away, and the run waits until every ISR is full;
* with ``--kill-pipeline`` the pipeline goes first, at a fifth: the bridge is paused
  (SIGSTOP) until Mosquitto holds more readings for its session than the bridge's
  buffers (Receive Maximum in flight + the hand-off), then the bridge and the sink get
  ``kill -9`` and are started again a second later, as a supervisor would;
  ``recovered_s`` is how long after that restart every reading acked before it was in
  TimescaleDB.  The leader is then killed once three fifths are published.

Figures: ``lost`` (acked readings missing from ``readings``), ``duplicates`` (rows
beyond one per device, boot and seq), ``max_stall_s`` (the longest time
``select count(*)``, sampled every 0.25 s from the first publish until every acked
reading is stored, did not grow), ``e2e_per_s`` (acked ÷ last ``stored_at`` − first
publish), ``broker_peak_rss_mb`` (the largest broker's peak resident memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psycopg

from wastewatch.core import Settings, TopicError, create_topics, load_settings
from wastewatch.ingest.validate import READINGS
from wastewatch.schema import telemetry_topic
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.ingest import (
    _bench_database,
    _connect,
    _lost,
    _Run,
    _scalar,
    _scrape,
    _Service,
    _service_env,
    _wait_ready,
)
from wastewatch.workbench.bench.mqtt_load import PublisherPool, PublishJob
from wastewatch.workbench.bench.payloads import BENCH_DEVICE_PREFIX
from wastewatch.workbench.bench.procstat import PeakSampler, peak_rss_mb, rss_mb
from wastewatch.workbench.simulators import target_from_env
from wastewatch.workbench.stack import KafkaNode, KafkaService, Stack, StackError, free_port_block

__all__ = ["FailoverOptions", "run_failover_bench"]

SAMPLE_S: Final = 0.25
"""How often the stall clock counts the stored readings."""
FIRST_FAULT_AT: Final = 0.2
"""The first fault starts once this share of the readings is published and acked."""
SECOND_FAULT_AT: Final = 0.6
"""With --kill-pipeline, the leader is killed from this share on (after the recovery)."""
RESTART_DELAY_S: Final = 1.0
"""Between the kill -9 of the bridge and sink and their restart, as a supervisor waits."""
SINGLE_BROKER_DOWN_S: Final = 5.0
"""With one broker there is no failover: it stays down this long."""
FAILOVER_TIMEOUT_S: Final = 90.0
REJOIN_TIMEOUT_S: Final = 120.0
CATCH_UP_STALL_S: Final = 120.0
"""Stop waiting for the last readings when none arrived for this long."""
CHUNK_S: Final = 1.0
"""Readings are published in chunks of about this long, so progress is known mid-run."""

STORED_QUERY: Final = "select count(*) from readings where device_id like 'bench-dev-%%'"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class FailoverOptions:
    """What to run; validated by the CLI, which holds the defaults (``bench failover``)."""

    messages: int
    devices: int
    brokers: int
    publishers: int
    rate_per_s: float
    """Offered readings per second, all publishers together; 0 = as fast as they can."""
    kill_pipeline: bool


# --------------------------------------------------------------------------- the cluster


def _state_dir(settings: Settings, run: _Run) -> Path:
    """Where the run's cluster, and the logs of its brokers, bridge and sink, live."""
    return settings.state_dir.resolve() / "bench-failover" / run.run_id


@contextlib.contextmanager
def _private_cluster(
    settings: Settings, run: _Run, brokers: int, progress: Progress
) -> Iterator[KafkaService]:
    """A cluster of the run's own; stopped, and its data deleted, whatever happens."""
    state = _state_dir(settings, run)
    first = free_port_block(2 * brokers)
    own = settings.model_copy(
        update={
            "state_dir": state,
            "stack": settings.stack.model_copy(
                update={
                    "kafka_port": first,
                    "kafka_controller_port": first + brokers,
                    "kafka_brokers": brokers,
                }
            ),
        }
    )
    cluster = KafkaService(own, nodes=brokers)
    started = time.monotonic()
    try:
        cluster.install()
        cluster.start()
    except StackError as exc:
        cluster.stop()
        shutil.rmtree(state / "kafka", ignore_errors=True)
        raise BenchError(f"the private Kafka cluster did not start: {exc}") from exc
    progress(
        f"private Kafka cluster of {brokers} broker(s) at {cluster.bootstrap} up after "
        f"{time.monotonic() - started:.1f} s (state {state})"
    )
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(state / "kafka", ignore_errors=True)
        progress(f"private Kafka cluster stopped and its data deleted (logs kept in {state})")


def _describe(cluster: KafkaService, topic: str) -> dict[int, tuple[int, int, int]]:
    """partition -> (leader, replicas, in-sync replicas) of ``topic``.

    Asked again when it fails: aiokafka's admin client sends to a random broker of
    its metadata, which may be the one just killed.
    """
    deadline = time.monotonic() + 20
    while True:
        try:
            view = cluster.describe(topics=[topic])
            return {
                p.partition: (p.leader, len(p.replicas), len(p.isr))
                for p in view.topics.get(topic, ())
            }
        except TopicError as exc:
            if time.monotonic() > deadline:
                raise BenchError(f"cannot describe {topic}: {exc}") from exc
            time.sleep(0.3)


def _in_sync(cluster: KafkaService, topic: str) -> bool:
    """Every node running, every partition of ``topic`` led, every ISR full."""
    if not all(node.running() for node in cluster.nodes):
        return False
    try:
        parts = _describe(cluster, topic)
    except BenchError:
        return False
    return bool(parts) and all(leader >= 0 and isr == rf for leader, rf, isr in parts.values())


def _wait(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise BenchError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(SAMPLE_S)
    return time.monotonic() - started


def _rss_of(node: KafkaNode) -> Callable[[], float | None]:
    """The node's current resident memory, whichever process it is now (it is restarted)."""
    return lambda: rss_mb(node.pid)


def _kill_leader(cluster: KafkaService, topic: str, progress: Progress) -> None:
    """kill -9 the broker leading the most partitions of ``topic``; bring it back."""
    leaders = Counter(leader for leader, _, _ in _describe(cluster, topic).values())
    victim, led = leaders.most_common(1)[0]
    progress(f"kill -9 broker {victim} (leads {led} of {sum(leaders.values())} partitions)")
    cluster.node(victim).kill()
    if len(cluster.nodes) > 1:
        took = _wait(
            f"leadership of {topic} moving off broker {victim}",
            lambda: all(
                leader not in (victim, -1) for leader, _, _ in _describe(cluster, topic).values()
            ),
            FAILOVER_TIMEOUT_S,
        )
        progress(f"    the controller moved leadership off broker {victim} after {took:.1f} s")
    else:
        time.sleep(SINGLE_BROKER_DOWN_S)
    try:
        cluster.start_node(victim, wait=False)
    except StackError as exc:
        raise BenchError(f"broker {victim} did not start again: {exc}") from exc
    # Not start_node's own wait: right after a kill -9 the other brokers' metadata may
    # still list the node, so that wait can end before the node is back.
    took = _wait(
        f"broker {victim} back with every ISR full",
        lambda: _in_sync(cluster, topic),
        REJOIN_TIMEOUT_S,
    )
    progress(f"    broker {victim} restarted; every ISR full {took:.1f} s later")


# --------------------------------------------------------------------------- publishing


class _Publishing:
    """Publishes the run's readings in chunks of about a second, from a thread.

    A publisher process reports its PUBACKs only when its job ends; short jobs let the
    run know, chunk by chunk, how many readings Mosquitto has taken while publishing
    goes on.  Chunks are paced from one start time, so the offered rate holds across
    them.
    """

    def __init__(self, pool: PublisherPool, *, topic_format: str, opts: FailoverOptions) -> None:
        self._pool = pool
        self._topic_format = topic_format
        self._opts = opts
        per_chunk = opts.rate_per_s * CHUNK_S if opts.rate_per_s else 5000.0
        self.rows_per_chunk = max(1, round(per_chunk / opts.devices))
        self._lock = threading.Lock()
        self._acked: set[int] = set()
        self.done_messages = 0
        self.done_rows = 0
        self.first_publish = math.nan
        self.error: Exception | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-publishing", daemon=True)

    def start(self) -> _Publishing:
        self._thread.start()
        return self

    @property
    def fraction(self) -> float:
        return self.done_messages / self._opts.messages

    def acked(self) -> set[int]:
        with self._lock:
            return set(self._acked)

    def acked_count(self) -> int:
        with self._lock:
            return len(self._acked)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self.error is not None:
            raise BenchError(f"publishing failed: {self.error}") from self.error

    def _run(self) -> None:
        opts = self._opts
        started = time.time() + 0.2
        row = 0
        try:
            while (k_base := row * opts.devices) < opts.messages:
                count = min(self.rows_per_chunk * opts.devices, opts.messages - k_base)
                offset = k_base / opts.rate_per_s if opts.rate_per_s else 0.0
                job = PublishJob(
                    topic_format=self._topic_format,
                    device_prefix=BENCH_DEVICE_PREFIX,
                    devices=opts.devices,
                    messages=count,
                    seq_base=row,
                    start_at=started + offset if opts.rate_per_s else time.time(),
                    rate_per_s=opts.rate_per_s or None,
                )
                results = self._pool.run(job, timeout_s=120 + 2 * count / max(opts.rate_per_s, 1))
                firsts = [r.first_publish for r in results if not math.isnan(r.first_publish)]
                with self._lock:
                    for result in results:
                        self._acked.update(result.acked_ks())
                    if firsts and math.isnan(self.first_publish):
                        self.first_publish = min(firsts)
                    row += self.rows_per_chunk
                    self.done_rows = row
                    self.done_messages = k_base + count
        except Exception as exc:  # reported to the run by join()
            self.error = exc
        finally:
            self.finished.set()


# --------------------------------------------------------------------------- stalls


class _StallClock:
    """Counts the run's stored readings every SAMPLE_S in a thread; keeps the longest
    time the count did not grow."""

    def __init__(self, dsn: str) -> None:
        self._conn = _connect(dsn)
        self.stored = 0
        self.max_stall_s = 0.0
        self.stall_ended_at = 0.0
        self._changed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stall-clock", daemon=True)

    def start(self) -> _StallClock:
        self._changed = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(10)
        self._conn.close()
        return self.max_stall_s

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            try:
                count = int(_scalar(self._conn, STORED_QUERY))
            except psycopg.Error:
                continue  # a missed sample only makes a gap look longer
            now = time.monotonic()
            if count != self.stored:
                gap = now - self._changed
                if gap > self.max_stall_s:
                    self.max_stall_s = gap
                    self.stall_ended_at = now
                self.stored, self._changed = count, now


# --------------------------------------------------------------------------- the pipeline


@dataclass(slots=True)
class _Pipeline:
    """The bridge and sink processes of the run; replaced when killed and restarted."""

    env: dict[str, str]
    logs: Path
    sink: _Service | None = None
    bridge: _Service | None = None

    def start(self) -> None:
        self.sink = _Service("wastewatch.ingest.sink", self.env, self.logs / "sink.log")
        self.bridge = _Service("wastewatch.ingest.bridge", self.env, self.logs / "bridge.log")

    def both(self) -> list[_Service]:
        return [s for s in (self.sink, self.bridge) if s is not None]

    def check(self) -> None:
        for service in self.both():
            service.check()

    def kill9(self) -> None:
        for service in self.both():
            service.kill()

    def stop(self, timeout_s: float, progress: Progress) -> dict[str, int | None]:
        """Bridge first, so the sink can drain; a paused bridge is resumed first."""
        codes: dict[str, int | None] = {}
        for service in (self.bridge, self.sink):
            if service is None:
                continue
            service.send(signal.SIGCONT)
            codes[service.module] = service.stop_reporting(timeout_s, progress)
        return codes


def _kill_pipeline(
    pipeline: _Pipeline,
    publishing: _Publishing,
    *,
    metrics_port: int,
    buffers: int,
    progress: Progress,
) -> tuple[float, int]:
    """Pause the bridge until Mosquitto holds more than ``buffers`` readings for its
    session, kill -9 bridge and sink, restart them; (restart time, backlog lower bound)."""
    bridge = pipeline.bridge
    assert bridge is not None
    acked_by_bridge = _scrape(metrics_port, "ww_bridge_mqtt_acked_total")
    if acked_by_bridge is None:
        raise BenchError("cannot read the bridge's /metrics before pausing it")
    bridge.send(signal.SIGSTOP)

    def backlog() -> int:
        # Between the scrape and the SIGSTOP the bridge may have acked what it held (at
        # most its buffers): counting all of that as acked keeps this a lower bound.
        return publishing.acked_count() - int(acked_by_bridge) - buffers

    paused = time.monotonic()
    progress(f"bridge paused (SIGSTOP); waiting for a backlog of more than {buffers} readings")
    while backlog() <= buffers and not publishing.finished.is_set():
        time.sleep(SAMPLE_S)
    at_kill = backlog()
    if at_kill <= buffers:
        progress(
            f"WARNING: publishing ended with a backlog of only {max(at_kill, 0)} readings "
            f"(buffers {buffers}); give more --messages for a backlog larger than the buffers"
        )
    pipeline.kill9()
    progress(
        f"kill -9 of the bridge and the sink after {time.monotonic() - paused:.1f} s paused, "
        f"with at least {max(at_kill, 0)} readings queued in Mosquitto for the bridge"
    )
    time.sleep(RESTART_DELAY_S)
    pipeline.start()
    restarted = time.monotonic()
    progress(f"bridge and sink restarted after {RESTART_DELAY_S:g} s")
    return restarted, max(at_kill, 0)


def _wait_recovered(
    conn: psycopg.Connection[tuple[Any, ...]],
    pipeline: _Pipeline,
    acked: set[int],
    *,
    devices: int,
    rows: int,
    restarted: float,
) -> float:
    """Seconds from the restart until every reading acked before it (chunks published by
    then: seq < ``rows``) is stored."""
    k_end = rows * devices
    want = sum(1 for k in acked if k < k_end)
    query = "select count(*) from readings where device_id like 'bench-dev-%%' and seq < %s"
    last, changed = -1, time.monotonic()
    while (have := int(_scalar(conn, query, rows))) < want:
        pipeline.check()
        now = time.monotonic()
        if have != last:
            last, changed = have, now
        elif now - changed > CATCH_UP_STALL_S:
            raise BenchError(
                f"after the pipeline restart only {have} of {want} acked readings were stored "
                f"and none arrived for {CATCH_UP_STALL_S:.0f} s"
            )
        time.sleep(SAMPLE_S)
    return time.monotonic() - restarted


# --------------------------------------------------------------------------- the run


def _start_stack(settings: Settings, progress: Progress) -> dict[str, str]:
    """Mosquitto and PostgreSQL of the local stack (the run brings its own Kafka)."""
    stack = Stack(settings)
    progress("bringing Mosquitto and PostgreSQL up (idempotent)")
    try:
        for service in (stack.mosquitto, stack.postgres):
            service.install()
            service.start()
    except StackError as exc:
        raise BenchError(f"the local stack is not available: {exc}") from exc
    return stack.env()


def run_failover_bench(opts: FailoverOptions, progress: Progress) -> dict[str, Any]:
    """Run the scenario; the result object (keys in ``bench/README.md``)."""
    # The run's own admin calls meet the killed broker on purpose; aiokafka logs each
    # refused connection as an error, which would bury the progress lines.
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        return _run(opts, progress)
    finally:
        kafka_log.setLevel(level)


def _run(opts: FailoverOptions, progress: Progress) -> dict[str, Any]:
    settings = load_settings()
    env = _start_stack(settings, progress)
    run = _Run()
    target = target_from_env(env)
    receive_maximum = settings.ingest.receive_maximum
    buffers = receive_maximum + (settings.ingest.handoff_max or max(4 * receive_maximum, 1024))
    progress(
        f"run {run.run_id}: {opts.messages} readings from {opts.devices} devices at "
        f"{opts.rate_per_s:g}/s (0 = full speed), {opts.brokers} broker(s)"
        + (", pipeline kill too" if opts.kill_pipeline else "")
    )
    with (
        _private_cluster(settings, run, opts.brokers, progress) as cluster,
        _bench_database(env, run, progress) as dsns,
    ):
        kafka = cluster.kafka_settings().model_copy(update={"topic_prefix": run.topic_prefix})
        try:
            asyncio.run(create_topics(kafka))
        except TopicError as exc:
            raise BenchError(str(exc)) from exc
        topic = run.topic_prefix + READINGS
        _wait("the run's topics led and in sync", lambda: _in_sync(cluster, topic), 60)
        service_env = _service_env(
            {**env, "WW_KAFKA_BOOTSTRAP": cluster.bootstrap}, dsns, run, settings
        )
        pipeline = _Pipeline(service_env, _state_dir(settings, run) / "logs")
        pool = PublisherPool(target, f"bench-{run.run_id}", opts.publishers)
        sampler = PeakSampler({f"kafka-{n.node_id}": _rss_of(n) for n in cluster.nodes})
        stop_timeout = settings.ingest.shutdown_timeout_s + 10
        conn = _connect(dsns["WW_DB_DSN"])
        try:
            pool.start()
            pipeline.start()
            _wait_ready(target, run, conn, pipeline.both(), progress)
            sampler.start()
            result = _scenario(
                opts, run, cluster, topic, pipeline, pool, conn, dsns, buffers, progress
            )
        finally:
            conn.close()
            pool.close()
            codes = pipeline.stop(stop_timeout, progress)
            progress("stopped " + ", ".join(f"{m} (exit {c})" for m, c in codes.items()))
        peaks = [v for v in sampler.stop().values() if v is not None]
        peaks += [v for node in cluster.nodes if (v := peak_rss_mb(node.pid)) is not None]
    result["broker_peak_rss_mb"] = max(peaks) if peaks else None
    return result


def _timed(progress: Progress, started: float) -> Progress:
    """Progress lines that say when, in seconds since ``started``: faults and stalls line up."""
    return lambda line: progress(f"[{time.monotonic() - started:6.1f} s] {line}")


def _scenario(
    opts: FailoverOptions,
    run: _Run,
    cluster: KafkaService,
    topic: str,
    pipeline: _Pipeline,
    pool: PublisherPool,
    conn: psycopg.Connection[tuple[Any, ...]],
    dsns: dict[str, str],
    buffers: int,
    progress: Progress,
) -> dict[str, Any]:
    """Publish, kill what the options say when they say, wait, count."""
    topic_format = telemetry_topic(run.city, "device-slot").replace("/device-slot/", "/{device}/")
    publishing = _Publishing(pool, topic_format=topic_format, opts=opts)
    started = time.monotonic()
    progress = _timed(progress, started)

    clock = _StallClock(dsns["WW_DB_DSN"]).start()
    publishing.start()
    # With --kill-pipeline the pipeline goes first: its pause needs readings still to come
    # (the backlog is what is published meanwhile); a failover needs only some load.
    schedule = [("pipeline", FIRST_FAULT_AT), ("leader", SECOND_FAULT_AT)]
    if not opts.kill_pipeline:
        schedule = [("leader", FIRST_FAULT_AT)]
    done: Counter[str] = Counter()
    recovered_s: float | None = None
    next_note = time.monotonic() + 10
    while schedule or not publishing.finished.is_set():
        pipeline.check()
        if publishing.error is not None:
            publishing.join(1)
        if schedule and publishing.fraction >= schedule[0][1]:
            fault, _ = schedule.pop(0)
            progress(f"{publishing.done_messages} readings published, {clock.stored} stored")
            if fault == "leader":
                _kill_leader(cluster, topic, progress)
            else:
                restarted, _ = _kill_pipeline(
                    pipeline,
                    publishing,
                    metrics_port=run.bridge_metrics_port,
                    buffers=buffers,
                    progress=progress,
                )
                recovered_s = _wait_recovered(
                    conn,
                    pipeline,
                    publishing.acked(),
                    devices=opts.devices,
                    rows=publishing.done_rows,
                    restarted=restarted,
                )
                progress(
                    f"    every reading acked before the restart stored {recovered_s:.1f} s later"
                )
            done[fault] += 1
            continue
        now = time.monotonic()
        if now >= next_note:
            progress(f"    {publishing.done_messages} published, {clock.stored} stored")
            next_note = now + 10
        time.sleep(SAMPLE_S)
    publishing.join(10)
    acked = publishing.acked()
    progress(f"publishing done: {len(acked)} of {opts.messages} readings acked; catching up")
    last, changed = -1, time.monotonic()
    while clock.stored < len(acked):
        pipeline.check()
        now = time.monotonic()
        if clock.stored != last:
            last, changed = clock.stored, now
        elif now - changed > CATCH_UP_STALL_S:
            progress(
                f"WARNING: {clock.stored} of {len(acked)} stored and nothing new for "
                f"{CATCH_UP_STALL_S:.0f} s; counting what is there"
            )
            break
        time.sleep(SAMPLE_S)
    max_stall = clock.stop()
    lost, stored_unacked = _lost(conn, acked, opts.devices, opts.messages)
    stored = int(_scalar(conn, STORED_QUERY))
    duplicates = int(
        _scalar(
            conn,
            "select count(*) - count(distinct (device_id, boot_counter, seq)) "
            "from readings where device_id like 'bench-dev-%%'",
        )
    )
    end = _scalar(
        conn,
        "select extract(epoch from max(stored_at))::float8 from readings "
        "where device_id like 'bench-dev-%%'",
    )
    span = float(end) - publishing.first_publish if end is not None else math.nan
    e2e = len(acked) / span if span > 0 else None
    progress(
        f"lost {lost}, duplicates {duplicates}, stored without PUBACK {stored_unacked}, "
        f"longest stall {max_stall:.1f} s (ended {clock.stall_ended_at - started:.1f} s in)"
    )
    result: dict[str, Any] = {
        "messages": opts.messages,
        "acked": len(acked),
        "stored": stored,
        "lost": lost,
        "duplicates": duplicates,
        "leader_kills": done["leader"],
        "pipeline_kills": done["pipeline"],
        "max_stall_s": round(max_stall, 2),
        "e2e_per_s": None if e2e is None else round(e2e, 1),
        "broker_peak_rss_mb": None,
    }
    if opts.kill_pipeline:
        result["recovered_s"] = None if recovered_s is None else round(recovered_s, 2)
    return result
