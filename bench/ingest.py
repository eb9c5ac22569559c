"""`wastewatch bench ingest`: how fast readings get from MQTT into TimescaleDB, and intact.

Three legs, in one run, on the local stack (see ``bench/README.md``):

(a) **raw MQTT**: P publisher processes -> Mosquitto -> one subscriber
    process, QoS 1 both ways, nothing else: the ceiling any bridge works under.
(b) **naive bridge**: paho ``on_message`` -> aiokafka ``send_and_wait``
    (``acks="all"``) -> one INSERT + COMMIT per reading, in its own process:
    the baseline a first attempt reaches.
(c) **the real bridge and sink** (``python -m wastewatch.ingest.bridge`` /
    ``python -m wastewatch.ingest.sink``), configured only through ``WW_*`` environment
    variables, pointed at a fresh database, a topic prefix and a city of this
    run's own: full-speed throughput, then latency at half that rate, then an
    exact count of lost and duplicated readings, and the peak memory of every
    service.

Delivery semantics measured, not assumed: a reading counts as sent only when
its publisher got the PUBACK; ``lost`` is such a reading missing from
``readings``; ``duplicates`` is rows beyond one per (device, boot, seq).

The run creates and drops its own database and deletes its own Kafka topics
(so their logs do not pile up on the broker's disk), and leaves everything
else as it found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import os
import secrets
import statistics
import sys
import time
import urllib.request
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, Final

import psycopg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from wastewatch.core import (
    KafkaSettings,
    Settings,
    TopicError,
    create_topics,
    delete_prefixed_topics,
    load_settings,
)
from wastewatch.schema import (
    MigrationError,
    ensure_login_roles,
    telemetry_topic,
    topic_by_name,
)
from wastewatch.schema.migrate import migrate
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.mqtt_load import (
    MqttTarget,
    PublisherPool,
    PublishJob,
    PublishResult,
    RawSubscriber,
    collect,
    exited,
)
from wastewatch.workbench.bench.naive import NaiveConfig, NaiveResult, naive_main
from wastewatch.workbench.bench.payloads import (
    BENCH_DEVICE_PREFIX,
    BOOT,
    NAIVE_DEVICE_PREFIX,
    payload,
)
from wastewatch.workbench.bench.procstat import PeakSampler, rss_mb, tree_rss_mb
from wastewatch.workbench.simulators import PublishError, Sender, stop_processes, target_from_env
from wastewatch.workbench.stack import (
    ROLE_DSN_KEYS,
    Stack,
    StackError,
    free_port,
    read_pid,
    with_database,
)
from wastewatch.workbench.supervise import Child, ChildError

__all__ = ["BenchOptions", "run_ingest_bench"]

RAW_MAX_SECONDS: Final = 30.0
"""The raw leg publishes N messages or for this long, whichever ends first."""
NAIVE_MAX_MESSAGES: Final = 5000
"""The naive leg is offered min(N, this) readings (and stops after --naive-seconds)."""
SUBSCRIBER_IDLE_S: Final = 10.0
"""The raw subscriber gives up this long after the last message it got."""
READY_TIMEOUT_S: Final = 120.0
"""How long the bridge and sink get to carry a warm-up reading into the database."""
STALL_TIMEOUT_S: Final = 60.0
"""Stop waiting for rows when the count has not grown for this long."""
POLL_S: Final = 0.5
SHORT_PHASE_S: Final = 5.0
"""A full-speed phase shorter than this measures burst capacity, not a sustained rate."""
WARMUP_DEVICE: Final = "bench-warmup"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to run; validated by the CLI, whose defaults (``wastewatch bench ingest``) they are."""

    messages: int
    devices: int
    publishers: int
    skip_naive: bool
    naive_seconds: float
    latency_seconds: float


def _scrape(port: int, name: str) -> float | None:
    """One series' value (summed over labels) from a service's /metrics, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


@dataclass(slots=True)
class _Run:
    """Names of this run's own resources, all derived from one random id."""

    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    bridge_metrics_port: int = field(default_factory=free_port)
    sink_metrics_port: int = field(default_factory=free_port)

    @property
    def city(self) -> str:
        return f"bench-{self.run_id}"

    @property
    def topic_prefix(self) -> str:
        return f"bench{self.run_id}."

    @property
    def database(self) -> str:
        return f"ww_bench_{self.run_id}"

    @property
    def bench_root(self) -> str:
        """MQTT tree for legs (a) and (b): outside ``ww/`` so no real bridge sees it."""
        return f"wwbench/{self.run_id}"


def _first(results: list[PublishResult]) -> float:
    firsts = [r.first_publish for r in results if not math.isnan(r.first_publish)]
    if not firsts:
        raise BenchError("the publishers published nothing")
    return min(firsts)


def _rate(count: int, start: float, end: float) -> float:
    span = end - start
    if count <= 0 or not span > 0:
        return 0.0
    return count / span


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    if len(values) == 1:
        only = round(values[0], 1)
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def _clean(value: float | None, digits: int = 1) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, digits)


# --------------------------------------------------------------------------- database


def stack_up(
    settings: Settings, progress: Progress | None = None, stack: Stack | None = None
) -> dict[str, str]:
    """The local stack, brought up (idempotent); its ``WW_*`` environment."""
    if progress is not None:
        progress("bringing the local stack up (idempotent)")
    try:
        return (stack or Stack(settings)).up()
    except StackError as exc:
        raise BenchError(f"the local stack is not available: {exc}") from exc


def migrate_with_roles(dsns: dict[str, str]) -> None:
    """Migrate a bench database and give its login roles their rights."""
    try:
        migrate(dsns["WW_DB_DSN"])
        ensure_login_roles(
            dsns["WW_DB_DSN"],
            writer_dsn=dsns["WW_DB_WRITER_DSN"],
            reader_dsn=dsns["WW_DB_READER_DSN"],
            ingest_dsn=dsns["WW_DB_INGEST_DSN"],
            processor_dsn=dsns["WW_DB_PROCESSOR_DSN"],
        )
    except MigrationError as exc:
        raise BenchError(f"migrating the bench database: {exc}") from exc


@contextlib.contextmanager
def _bench_database(env: dict[str, str], run: _Run, progress: Progress) -> Iterator[dict[str, str]]:
    """A fresh, migrated database for this run; dropped afterwards whatever happened."""
    server = with_database(env["WW_DB_DSN"], "postgres")
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'create database "{run.database}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot create database {run.database}: {exc}") from exc
    dsns = {key: with_database(env[key], run.database) for key in ROLE_DSN_KEYS}
    try:
        migrate_with_roles(dsns)
        progress(f"database {run.database} created and migrated")
        yield dsns
    finally:
        try:
            with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'drop database if exists "{run.database}" with (force)')
            progress(f"database {run.database} dropped")
        except psycopg.Error as exc:
            progress(f"WARNING: could not drop database {run.database}: {exc}")


def _connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BenchError(f"cannot connect to the bench database: {exc}") from exc


def _scalar(conn: psycopg.Connection[tuple[Any, ...]], query: str, *params: object) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _create_topics(bootstrap: str, prefix: str) -> None:
    """Every catalog topic under ``prefix``, as the bridge and sink expect them."""
    try:
        asyncio.run(create_topics(KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix)))
    except TopicError as exc:
        raise BenchError(str(exc)) from exc


def _delete_topics(bootstrap: str, prefix: str, progress: Progress) -> None:
    """The run's topics, so their logs do not stay on the broker's disk."""
    try:
        gone = asyncio.run(
            delete_prefixed_topics(KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix))
        )
        progress(f"deleted the run's {len(gone)} Kafka topics")
    except TopicError as exc:
        progress(f"WARNING: could not delete the run's Kafka topics: {exc}")


def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """One topic, for the naive bridge (which needs nothing else)."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
        try:
            await asyncio.wait_for(admin.start(), 30)
            await admin.create_topics(
                [NewTopic(name=name, num_partitions=partitions, replication_factor=1)]
            )
        finally:
            await admin.close()

    try:
        asyncio.run(create())
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BenchError(f"cannot create Kafka topic {name} on {bootstrap}: {exc!r}") from exc


# --------------------------------------------------------------------------- leg (a)


def _raw_leg(
    pool: PublisherPool, target: MqttTarget, run: _Run, opts: BenchOptions, progress: Progress
) -> tuple[float, int]:
    """Messages per second through Mosquitto alone; also returns how many were received."""
    root = f"{run.bench_root}/raw"
    subscriber = RawSubscriber(
        target, f"bench-{run.run_id}-rawsub", f"{root}/#", SUBSCRIBER_IDLE_S
    ).start()
    try:
        job = PublishJob(
            topic_format=root + "/{device}/telemetry",
            device_prefix=BENCH_DEVICE_PREFIX,
            devices=opts.devices,
            messages=opts.messages,
            seq_base=0,
            start_at=time.time() + 0.3,
            deadline_s=RAW_MAX_SECONDS,
        )
        results = pool.run(job, timeout_s=RAW_MAX_SECONDS + 120)
        published = sum(len(r.published_ks()) for r in results)
        seen = subscriber.result(published, timeout_s=RAW_MAX_SECONDS + SUBSCRIBER_IDLE_S + 120)
    finally:
        subscriber.close()
    if seen.received < published:
        progress(f"WARNING: raw subscriber got {seen.received} of {published} messages")
    rate = _rate(seen.received, _first(results), seen.last_receive)
    progress(f"(a) raw MQTT QoS 1: {seen.received} messages, {rate:,.0f}/s")
    return rate, seen.received


# --------------------------------------------------------------------------- leg (b)


def _naive_leg(
    pool: PublisherPool,
    target: MqttTarget,
    run: _Run,
    opts: BenchOptions,
    env: dict[str, str],
    dsns: dict[str, str],
    progress: Progress,
) -> tuple[float, int]:
    """Readings per second through the naive one-at-a-time bridge."""
    import multiprocessing

    readings = topic_by_name("waste.readings.v1")
    kafka_topic = f"{run.topic_prefix}naive.{readings.name}"
    _create_topic(env["WW_KAFKA_BOOTSTRAP"], kafka_topic, readings.partitions)
    count = min(opts.messages, NAIVE_MAX_MESSAGES)
    root = f"{run.bench_root}/naive"
    cfg = NaiveConfig(
        target=target,
        client_id=f"bench-{run.run_id}-naive",
        topic_filter=f"{root}/+/telemetry",
        kafka_bootstrap=env["WW_KAFKA_BOOTSTRAP"],
        kafka_topic=kafka_topic,
        db_dsn=dsns["WW_DB_WRITER_DSN"],
        expected=count,
        window_s=opts.naive_seconds,
        hard_timeout_s=opts.naive_seconds + 90,
    )
    ctx = multiprocessing.get_context("spawn")
    results: Queue[tuple[str, int, Any]] = ctx.Queue()
    proc = ctx.Process(target=naive_main, args=(cfg, results), name="bench-naive", daemon=True)
    proc.start()
    try:
        collect(results, 1, "ready", 60.0, "starting the naive bridge", exited(proc))
        job = PublishJob(
            topic_format=root + "/{device}/telemetry",
            device_prefix=NAIVE_DEVICE_PREFIX,
            devices=min(opts.devices, count),
            messages=count,
            seq_base=0,
            start_at=time.time() + 0.3,
        )
        first = _first(pool.run(job, timeout_s=120))
        answers = collect(
            results, 1, "done", opts.naive_seconds + 120, "the naive bridge", exited(proc)
        )
        done: NaiveResult = answers[0]
    finally:
        stop_processes([proc])
    rate = _rate(done.processed, first, done.last_done)
    progress(
        f"(b) naive bridge: {done.processed} readings (stopped by {done.stopped_by}), {rate:,.0f}/s"
    )
    return rate, done.processed


# --------------------------------------------------------------------------- leg (c)


class _Service(Child):
    """A bridge, sink or processors subprocess started by the bench, with its log file."""

    def __init__(
        self, module: str, env: dict[str, str], log: Path, args: tuple[str, ...] = ()
    ) -> None:
        if importlib.util.find_spec(module) is None:
            raise BenchError(f"{module} does not exist yet: cannot run the end-to-end leg")
        super().__init__(module, [sys.executable, "-m", module, *args], env=env, log=log)
        self.module = module
        try:
            self.start()
        except ChildError as exc:
            raise BenchError(str(exc)) from exc

    def check(self) -> None:
        problem = self.exit_problem()
        if problem is not None:
            raise BenchError(problem)

    def stop_reporting(self, timeout_s: float, progress: Progress) -> int | None:
        """:meth:`stop`, saying so when it had to be killed; the exit code."""
        code = self.stop(timeout_s)
        if self.killed:
            progress(f"WARNING: {self.module} ignored SIGTERM for {timeout_s:.0f} s; killed")
        return code


def _service_env(
    env: dict[str, str], dsns: dict[str, str], run: _Run, settings: Settings
) -> dict[str, str]:
    out = dict(os.environ)
    out.update(
        {
            "WW_MQTT_URL": env["WW_MQTT_URL"],
            "WW_MQTT_BRIDGE_URL": env.get("WW_MQTT_BRIDGE_URL", env["WW_MQTT_URL"]),
            "WW_MQTT_CLIENT_ID": f"bench-{run.run_id}-bridge",
            "WW_KAFKA_BOOTSTRAP": env["WW_KAFKA_BOOTSTRAP"],
            "WW_KAFKA_TOPIC_PREFIX": run.topic_prefix,
            "WW_CITY": run.city,
            "WW_INGEST_BRIDGE_METRICS_PORT": str(run.bridge_metrics_port),
            "WW_INGEST_SINK_METRICS_PORT": str(run.sink_metrics_port),
            "WW_INGEST_SINK_GROUP": f"bench-{run.run_id}-sink",
            # The bridge's persistent session outlives it in Mosquitto; let it expire soon.
            "WW_INGEST_SESSION_EXPIRY_S": "60",
            "WW_LOG_LEVEL": settings.log_level,
            "PYTHONUNBUFFERED": "1",
            **dsns,
        }
    )
    return out


@dataclass(slots=True)
class _OwnPipeline:
    """A run's own database (``dsns``), the environment of services pointed at it and at
    the run's topics (``env``), and the services started in it."""

    run: _Run
    dsns: dict[str, str]
    env: dict[str, str]
    logs: Path
    services: list[_Service] = field(default_factory=list)

    def start(
        self, module: str, name: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> _Service:
        """Start ``module`` (logging to ``<run id>-<name>.log``) with ``env`` or :attr:`env`."""
        log = self.logs / f"{self.run.run_id}-{name}.log"
        service = _Service(module, self.env if env is None else env, log, args)
        self.services.append(service)
        return service

    def check(self) -> None:
        for service in self.services:
            service.check()


@contextlib.contextmanager
def _own_pipeline(
    env: dict[str, str], run: _Run, settings: Settings, progress: Progress
) -> Iterator[_OwnPipeline]:
    """The run's Kafka topics and database, for the services it starts in them; on the way
    out, whatever happened, the services are stopped, the database dropped and the topics
    deleted."""
    bootstrap = env["WW_KAFKA_BOOTSTRAP"]
    _create_topics(bootstrap, run.topic_prefix)
    try:
        with _bench_database(env, run, progress) as dsns:
            logs = settings.state_dir.resolve() / "logs" / "bench"
            pipeline = _OwnPipeline(run, dsns, _service_env(env, dsns, run, settings), logs)
            try:
                yield pipeline
            finally:
                for service in pipeline.services:
                    with contextlib.suppress(Exception):
                        service.stop_reporting(30, progress)
    finally:
        _delete_topics(bootstrap, run.topic_prefix, progress)


def _wait_ready(
    target: MqttTarget,
    run: _Run,
    conn: psycopg.Connection[tuple[Any, ...]],
    services: list[_Service],
    progress: Progress,
) -> None:
    """Publish a warm-up reading every second until one is in ``readings``."""
    sender = Sender(target, f"bench-{run.run_id}-warmup", name="the warm-up publisher")
    topic = telemetry_topic(run.city, WARMUP_DEVICE)
    started = time.monotonic()
    try:
        sender.start()
        seq = 0
        while True:
            for service in services:
                service.check()
            if _scalar(conn, "select count(*) from readings where device_id = %s", WARMUP_DEVICE):
                break
            if time.monotonic() - started > READY_TIMEOUT_S:
                logs = ", ".join(str(s.log) for s in services)
                raise BenchError(
                    f"no warm-up reading reached the database within {READY_TIMEOUT_S:.0f} s: "
                    f"the bridge or the sink is not working (logs: {logs})"
                )
            sender.publish(topic, payload(WARMUP_DEVICE.encode(), seq, int(time.time())))
            seq += 1
            next_at = time.monotonic() + 1.0
            while (left := next_at - time.monotonic()) > 0:
                sender.service(min(left, 0.1))
    except PublishError as exc:
        raise BenchError(f"warm-up: {exc}") from exc
    finally:
        sender.close()
    progress(f"bridge and sink ready after {time.monotonic() - started:.1f} s")


def _wait_rows(
    conn: psycopg.Connection[tuple[Any, ...]],
    want: int,
    seq_from: int,
    seq_to: int,
    services: list[_Service],
    what: str,
    progress: Progress,
) -> int:
    """Poll until ``want`` rows of the phase are stored, or the count stalls."""
    query = (
        "select count(*) from readings where device_id like 'bench-dev-%%' "
        "and seq >= %s and seq < %s"
    )
    last, last_change = -1, time.monotonic()
    next_note = time.monotonic() + 10
    while True:
        have = int(_scalar(conn, query, seq_from, seq_to))
        if have >= want:
            return have
        now = time.monotonic()
        if have != last:
            last, last_change = have, now
        elif now - last_change > STALL_TIMEOUT_S:
            progress(
                f"WARNING: {what}: only {have} of {want} rows after {STALL_TIMEOUT_S:.0f} s "
                "without progress; counting what is there"
            )
            return have
        if now >= next_note:
            progress(f"    {what}: {have}/{want} rows stored")
            next_note = now + 10
        for service in services:
            service.check()
        time.sleep(POLL_S)


@dataclass(frozen=True, slots=True)
class _E2E:
    rate: float
    acked: int
    publish_s: float
    stored_s: float
    latency: dict[str, float | None]
    latency_rate: float
    latency_messages: int
    latency_achieved_rate: float
    flow: dict[str, float | None]
    lost: int
    duplicates: int
    stored_unacked: int
    peak_rss: dict[str, float | None]
    exit_codes: dict[str, int | None]


def _e2e_leg(
    pool: PublisherPool,
    target: MqttTarget,
    run: _Run,
    opts: BenchOptions,
    env: dict[str, str],
    dsns: dict[str, str],
    stack: Stack,
    settings: Settings,
    progress: Progress,
) -> _E2E:
    _create_topics(env["WW_KAFKA_BOOTSTRAP"], run.topic_prefix)
    service_env = _service_env(env, dsns, run, settings)
    logs = settings.state_dir.resolve() / "logs" / "bench"
    services: list[_Service] = []
    stop_timeout = settings.ingest.shutdown_timeout_s + 10
    conn = _connect(dsns["WW_DB_DSN"])
    try:
        services.append(
            _Service("wastewatch.ingest.sink", service_env, logs / f"{run.run_id}-sink.log")
        )
        services.append(
            _Service("wastewatch.ingest.bridge", service_env, logs / f"{run.run_id}-bridge.log")
        )
        progress(
            f"started wastewatch.ingest.sink (pid {services[0].pid}) and "
            f"wastewatch.ingest.bridge "
            f"(pid {services[1].pid}); city {run.city}, topic prefix {run.topic_prefix}"
        )
        _wait_ready(target, run, conn, services, progress)
        # Services that ran before this run: sample their memory during it (VmHWM would
        # report whatever peak an earlier run left).
        postmaster = _postmaster_pid(stack, conn)
        sampler = PeakSampler(
            {
                "mosquitto": lambda: rss_mb(read_pid(stack.mosquitto.pid_file)),
                "kafka": lambda: rss_mb(read_pid(stack.kafka.pid_file)),
                "postgres": lambda: tree_rss_mb(postmaster),
            }
        ).start()
        topic_format = telemetry_topic(run.city, "device-slot").replace(
            "/device-slot/", "/{device}/"
        )
        devices = opts.devices

        # Full speed.
        job = PublishJob(
            topic_format=topic_format,
            device_prefix=BENCH_DEVICE_PREFIX,
            devices=devices,
            messages=opts.messages,
            seq_base=0,
            start_at=time.time() + 0.3,
        )
        results = pool.run(job, timeout_s=120 + opts.messages / 500)
        first = _first(results)
        acked = _merge(r.acked_ks() for r in results)
        seq_base = -(-opts.messages // devices)  # ceil: new seqs start here
        if len(acked) < opts.messages:
            progress(f"WARNING: only {len(acked)} of {opts.messages} readings got a PUBACK")
        _wait_rows(conn, len(acked), 0, seq_base, services, "full speed", progress)
        end = _scalar(
            conn,
            "select extract(epoch from max(stored_at))::float8 from readings "
            "where device_id like 'bench-dev-%%' and seq < %s",
            seq_base,
        )
        end_s = float(end) if end is not None else math.nan
        rate = _rate(len(acked), first, end_s)
        publish_s = max(r.last_publish for r in results if r.published) - first
        progress(
            f"(c) end to end, full speed: {len(acked)} readings, {rate:,.0f}/s "
            f"(published in {publish_s:.1f} s, all stored after {end_s - first:.1f} s)"
        )

        if end_s - first < SHORT_PHASE_S:
            progress(
                f"WARNING: the full-speed phase lasted {end_s - first:.1f} s: the rate includes "
                "what the pipeline's buffers absorb at start, and half of it may not be "
                "sustainable; give --messages about 10 s worth for a sustained figure"
            )

        # Half rate, for latency.
        latency_rate = rate / 2
        count = max(1, int(latency_rate * opts.latency_seconds))
        progress(
            f"    latency: offering {latency_rate:,.0f}/s for {opts.latency_seconds:g} s "
            f"({count} readings)"
        )
        job = PublishJob(
            topic_format=topic_format,
            device_prefix=BENCH_DEVICE_PREFIX,
            devices=devices,
            messages=count,
            seq_base=seq_base,
            start_at=time.time() + 0.3,
            rate_per_s=latency_rate if latency_rate > 0 else None,
            deadline_s=opts.latency_seconds * 1.5 + 5,
            record_times=True,
        )
        paced = pool.run(job, timeout_s=opts.latency_seconds * 1.5 + 120)
        acked2 = _merge(r.acked_ks() for r in paced)
        seq_end = seq_base + -(-count // devices)
        _wait_rows(conn, len(acked2), seq_base, seq_end, services, "half rate", progress)
        latency = _latencies(conn, paced, devices, seq_base, job.k_base)
        latency_messages = sum(len(r.published_ks()) for r in paced)
        achieved = _rate(
            latency_messages, _first(paced), max(r.last_publish for r in paced if r.published)
        )
        progress(
            "    latency ms: "
            + ", ".join(f"{k} {v}" for k, v in latency.items())
            + f" over {latency_messages} readings published at {achieved:,.0f}/s"
        )

        # Exact accounting over both phases.
        lost, stored_unacked = _lost(conn, acked | acked2, devices, job.k_base + count)
        duplicates = int(
            _scalar(
                conn,
                "select count(*) - count(distinct (device_id, boot_counter, seq)) "
                "from readings where device_id like 'bench-dev-%%'",
            )
        )
        progress(
            f"    lost {lost}, duplicates {duplicates}, stored without PUBACK {stored_unacked}"
        )

        flow = {
            "bridge_received": _scrape(run.bridge_metrics_port, "ww_bridge_received_total"),
            "bridge_acked": _scrape(run.bridge_metrics_port, "ww_bridge_mqtt_acked_total"),
            "bridge_produced": _scrape(run.bridge_metrics_port, "ww_bridge_produced_total"),
            "sink_consumed": _scrape(run.sink_metrics_port, "ww_sink_consumed_total"),
            "sink_written": _scrape(run.sink_metrics_port, "ww_sink_readings_written_total"),
        }
        if lost:
            progress(f"    where the flow stopped: {flow}")
        peak = {
            "bridge": services[1].peak_rss_mb(),
            "sink": services[0].peak_rss_mb(),
            **sampler.stop(),
        }
    finally:
        conn.close()
        for service in reversed(services):  # the bridge first, so the sink can drain
            service.stop_reporting(stop_timeout, progress)
        if services:
            progress(
                "stopped "
                + ", ".join(f"{s.module} (exit {s.exit_code})" for s in reversed(services))
            )
    return _E2E(
        rate=rate,
        acked=len(acked),
        publish_s=publish_s,
        stored_s=end_s - first,
        latency=latency,
        latency_rate=latency_rate,
        latency_messages=latency_messages,
        latency_achieved_rate=achieved,
        lost=lost,
        duplicates=duplicates,
        stored_unacked=stored_unacked,
        peak_rss=peak,
        exit_codes={s.module: s.exit_code for s in services},
        flow=flow,
    )


def _merge(parts: Iterable[array[int]]) -> set[int]:
    out: set[int] = set()
    for part in parts:
        out.update(part)
    return out


def _latencies(
    conn: psycopg.Connection[tuple[Any, ...]],
    paced: list[PublishResult],
    devices: int,
    seq_base: int,
    k_base: int,
) -> dict[str, float | None]:
    """stored_at (first store) minus publish wall time, per reading of the paced phase."""
    sent: dict[int, float] = {}
    for result in paced:
        sent.update(zip(result.published_ks(), result.times(), strict=True))
    rows = conn.execute(
        "select seq::bigint * %s + substr(device_id, %s)::int - 1, "
        "extract(epoch from min(stored_at))::float8 from readings "
        "where device_id like 'bench-dev-%%' and boot_counter = %s and seq >= %s "
        "group by device_id, seq",
        (devices, len(BENCH_DEVICE_PREFIX) + 1, BOOT, seq_base),
    ).fetchall()
    values = sorted((stored - sent[k]) * 1000 for k, stored in rows if k >= k_base and k in sent)
    return _percentiles(values)


def _lost(
    conn: psycopg.Connection[tuple[Any, ...]], acked: set[int], devices: int, k_end: int
) -> tuple[int, int]:
    """(acked readings missing from the table, stored readings that never got a PUBACK)."""
    present = bytearray(max(k_end, max(acked, default=0) + 1))
    stored_unacked = 0
    with conn.cursor() as cur:
        for (k,) in cur.stream(
            "select seq::bigint * %s + substr(device_id, %s)::int - 1 from readings "
            "where device_id like 'bench-dev-%%' and boot_counter = %s",
            (devices, len(BENCH_DEVICE_PREFIX) + 1, BOOT),
        ):
            if 0 <= k < len(present):
                present[k] = 1
            if k not in acked:
                stored_unacked += 1
    lost = sum(1 for k in acked if not present[k])
    return lost, stored_unacked


def _postmaster_pid(stack: Stack, conn: psycopg.Connection[tuple[Any, ...]]) -> int | None:
    pid = read_pid(stack.postgres.data_dir / "postmaster.pid")
    if pid is not None:
        return pid
    backend = _scalar(conn, "select pg_backend_pid()")
    try:
        status = Path(f"/proc/{backend}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


# --------------------------------------------------------------------------- the run


def run_ingest_bench(opts: BenchOptions, progress: Progress) -> dict[str, Any]:
    """Run all legs; return the result object (see ``bench/README.md`` for the keys)."""
    settings = load_settings()
    stack = Stack(settings)
    env = stack_up(settings, progress, stack)
    run = _Run()
    target = target_from_env(env)
    progress(
        f"run {run.run_id}: {opts.messages} readings, {opts.devices} devices, "
        f"{opts.publishers} publisher processes"
    )
    pool = PublisherPool(target, f"bench-{run.run_id}", opts.publishers)
    try:
        pool.start()
        raw_rate, raw_messages = _raw_leg(pool, target, run, opts, progress)
        with _bench_database(env, run, progress) as dsns:
            naive_rate: float | None = None
            naive_messages = 0
            if not opts.skip_naive:
                naive_rate, naive_messages = _naive_leg(
                    pool, target, run, opts, env, dsns, progress
                )
            e2e = _e2e_leg(pool, target, run, opts, env, dsns, stack, settings, progress)
    finally:
        pool.close()
        _delete_topics(env["WW_KAFKA_BOOTSTRAP"], run.topic_prefix, progress)
    return {
        "messages": opts.messages,
        "raw_mqtt_per_s": _clean(raw_rate),
        "naive_per_s": _clean(naive_rate),
        "e2e_per_s": _clean(e2e.rate),
        "ratio_vs_raw": _clean(e2e.rate / raw_rate if raw_rate else None, 3),
        "ratio_vs_naive": _clean(e2e.rate / naive_rate if naive_rate else None, 3),
        "latency_ms": e2e.latency,
        "lost": e2e.lost,
        "flow": e2e.flow,
        "duplicates": e2e.duplicates,
        "peak_rss_mb": e2e.peak_rss,
        "devices": opts.devices,
        "publishers": opts.publishers,
        "acked": e2e.acked,
        "e2e_publish_s": _clean(e2e.publish_s, 2),
        "e2e_stored_s": _clean(e2e.stored_s, 2),
        "raw_messages": raw_messages,
        "naive_messages": naive_messages,
        "latency_offered_per_s": _clean(e2e.latency_rate),
        "latency_achieved_per_s": _clean(e2e.latency_achieved_rate),
        "latency_messages": e2e.latency_messages,
        "stored_without_puback": e2e.stored_unacked,
        "exit_codes": e2e.exit_codes,
        "run_id": run.run_id,
    }
