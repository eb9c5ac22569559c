"""Scale-out on the three-broker cluster: two of every consumer, one group each.

Two sink processes (``python -m wastewatch.ingest.sink``, one ``WW_INGEST_SINK_GROUP``) and two
processors processes (``python -m processors``: all five stages, so two instances of
each stage, each stage a consumer group of its own) read the session's private
three-node Kafka cluster (`kafka_cluster`) under a topic prefix and group names of
their own.  Readings are produced straight to ``waste.readings.v1`` as the bridge
writes them (the original payload bytes, key = device id, the ``received_at_ms``
header): the bridges' own scale-out, an MQTT shared subscription, is
`tests/test_ingest_scale.py`'s subject, and leaving Mosquitto and a bridge out keeps
the two cores for the consumers under test.  The processes are configured by ``WW_*``
variables only, metrics servers off.

One scenario, while 8,640 readings flow at 260/s: both of each share the partitions;
one sink and one processors process get SIGTERM and the others take over; they start
again and share again; the other two get kill -9 and the restarted ones take over.
The broker's view is the evidence: each group's member assignments (DescribeGroups)
and, at the end, committed offsets equal to every partition's end offset.  Then every
reading is stored exactly once, and every stage's tables equal what one in-process
instance of each stage makes of the same topics in a database of its own.

Three smaller tests pin the bugs this found: stages that recompute rows of many
devices (rollups: a zone's day; landfill: every site's days) lost inputs or died of a
duplicate key when two instances did it at once, and a sink whose partitions moved
to a newcomer while it wrote a batch died of the offset commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from tests.conftest import StackEnv, fresh_database
from tests.pipeline_faults import ServiceProcess
from tests.pipeline_helpers import PROCESSOR_TABLES, seed_registry, snapshot
from wastewatch.core.kafka_topics import (
    TopicError,
    create_topics,
    delete_prefixed_topics,
    group_lag,
)
from wastewatch.core.settings import DbSettings, KafkaSettings, Settings
from wastewatch.ingest.sink import Sink
from wastewatch.ingest.validate import BROKER, LANDFILL, READINGS, STATUS
from wastewatch.processors.landfill_stage import LandfillStage
from wastewatch.processors.rollup_stage import RollupStage
from wastewatch.processors.runtime import Registry, Stage, partition_of
from wastewatch.processors.service import STAGES, ProcessorService
from wastewatch.schema.common import TelemetryFlag as F
from wastewatch.schema.common import WasteStream
from wastewatch.schema.events import CollectionEvent, DetectionMethod
from wastewatch.schema.topics import topic_by_name
from wastewatch.workbench.stack.kafka import KafkaService

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SINK_TOPICS = (READINGS, STATUS, LANDFILL, BROKER)
PARTITIONS = topic_by_name(READINGS).partitions
T0 = 1_767_200_400  # 2026-01-01 00:00 in Bangkok
STEP = 900
HOURS = 36
PER_PARTITION = 5
"""Devices per readings partition: every partition dense enough for a watermark of its
own in the alerts stage, so its offline decisions do not depend on who owns what."""
RATE = 260.0
"""Readings offered per second: 8,640 readings take about 33 s, long enough for two
hand-overs while they flow."""


# --- databases, city, data ---------------------------------------------------------------
@pytest.fixture
def db(stack_env: StackEnv) -> Iterator[DbSettings]:
    with fresh_database(stack_env, "ww_scale") as made:
        yield made.settings()


@pytest.fixture
def ref_db(stack_env: StackEnv) -> Iterator[DbSettings]:
    """A second database, for what a single instance of each stage makes of the same input."""
    with fresh_database(stack_env, "ww_scaleref") as made:
        yield made.settings()


@dataclass(frozen=True)
class City:
    tag: str
    zone: str
    site: str
    truck: str
    devices: list[str]

    def bin_of(self, device: str) -> str:
        return "sb" + device[2:]


def new_city(per_partition: int = PER_PARTITION) -> City:
    """Devices chosen so that every readings partition holds ``per_partition`` of them."""
    tag = uuid.uuid4().hex[:6]
    parts: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    i = 0
    while any(len(v) < per_partition for v in parts.values()):
        device = f"sd{tag}-{i:03d}"
        i += 1
        slot = parts[partition_of(device, PARTITIONS)]
        if len(slot) < per_partition:
            slot.append(device)
    devices = sorted(d for v in parts.values() for d in v)
    return City(tag, f"z{tag}", f"lf-{tag}", f"tr-{tag}", devices)


def seed(db: DbSettings, city: City) -> None:
    """The bin registry, a depot, a truck and the landfill site the collections go to."""
    seed_registry(
        db.dsn,
        zone=city.zone,
        site=city.site,
        depot=f"dp-{city.tag}",
        truck=city.truck,
        bins=[(city.bin_of(d), d) for d in city.devices],
    )


class Item(NamedTuple):
    topic: str
    key: bytes
    value: bytes


def reading(device: str, seq: int, ts: int, fill: float | None, flags: int, temp: float) -> bytes:
    d_mm = None if fill is None else round(1250 - fill * 1000)
    return json.dumps(
        {
            "v": 1,
            "id": device,
            "boot": 1,
            "seq": seq,
            "ts": ts,
            "d_mm": d_mm,
            "fill": None if d_mm is None else round((1250 - d_mm) / 1000, 4),
            "t_c": temp,
            "bat_mv": 3900 - seq,
            "rssi": -70,
            "fl": flags,
            "drop": 0,
        }
    ).encode()


def workload(city: City) -> list[Item]:
    """Every device every 15 min for 36 h in event-time order (as the bridge writes a live
    fleet), emptied at 05:00 Bangkok; a fire on one device, a tipped bin on another; two
    weighbridge tickets."""
    rows: list[tuple[int, str, bytes]] = []
    for d, device in enumerate(city.devices):
        fill = 0.1 + 0.01 * (d % 10)
        for k in range(HOURS * 3600 // STEP):
            ts = T0 + k * STEP + d
            hour = k * STEP // 3600
            if (ts + 7 * 3600) % 86_400 // STEP == 5 * 4:
                fill = 0.02
            fill = min(1.0, fill + 0.012 + 0.0005 * (d % 7))
            noise = (k * 7 + d) % 5 / 1000
            flags, temp = 0, 30.0 + (k % 7) * 0.1
            level: float | None = min(1.0, round(fill + noise, 3))
            if d == 0 and 10 <= hour < 11:
                flags, temp = int(F.FIRE), 150.0
            if d == 1 and 20 <= hour < 23:
                flags, level = int(F.TILTED | F.NO_ECHO), None
            rows.append((ts, device, reading(device, k, ts, level, flags, temp)))
    rows.sort()
    items = [Item(READINGS, dev.encode(), body) for _, dev, body in rows]
    for n, (at, net) in enumerate(
        (("2026-01-01T03:00:00Z", 6000.0), ("2026-01-02T03:00:00Z", 5800.0))
    ):
        ticket = {
            "ticket_id": f"T-{city.tag}-{n}",
            "site_id": city.site,
            "truck_id": city.truck,
            "weighed_at": at,
            "gross_kg": 9500.0 + net,
            "tare_kg": 9500.0,
            "net_kg": net,
            "waste_stream": "general",
        }
        items.insert(
            len(items) * (n + 1) // 3,
            Item(LANDFILL, city.site.encode(), json.dumps(ticket).encode()),
        )
    return items


# --- two instances of a stage that recomputes rows of many devices -----------------------
class Rec(NamedTuple):
    """The fields of a consumer record the stages read."""

    topic: str
    partition: int
    offset: int
    value: bytes
    timestamp: int = 0


async def _concurrently(first: Any, second: Any, conns: tuple[Any, Any]) -> None:
    """``first`` writes and holds its transaction open while ``second`` writes; then both
    commit.  What two instances do when their batches touch the same keys."""
    a, b = conns

    async def other() -> None:
        async with b.transaction():
            await second.write(b)

    async with a.transaction():
        await first.write(a)
        task = asyncio.create_task(other())
        await asyncio.sleep(0.5)  # the other is at its first conflicting statement by now
    await asyncio.wait_for(task, 20)


async def _two_instances_at_once(
    db: DbSettings, stage: type[Stage], batch: Callable[[str], list[Rec]], devices: list[str]
) -> None:
    """Two instances of ``stage`` each compute the batch of one device on a connection of
    their own and write it at once with the other (:func:`_concurrently`).  A third
    device's batch is committed first: the hypertables' chunks exist, as in a running
    system (creating one would make the second writer wait for the first's commit anyway)."""
    settings = Settings(db=db)
    one, two = (stage(settings, Registry(60)) for _ in range(2))
    async with (
        await psycopg.AsyncConnection.connect(db.for_processors(), autocommit=True) as a,
        await psycopg.AsyncConnection.connect(db.for_processors(), autocommit=True) as b,
    ):
        async with a.transaction():
            await (await one.compute(a, batch(devices[2]))).write(a)
        first = await one.compute(a, batch(devices[0]))
        second = await two.compute(b, batch(devices[1]))
        await _concurrently(first, second, (a, b))


def _rows(db: DbSettings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.dsn) as conn:
        return conn.execute(query, params).fetchall()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_two_rollups_instances_on_one_zone_day_lose_nothing(db: DbSettings) -> None:
    """Regression: ``zone_stream_daily`` is recomputed from ``bin_hourly``; without the
    per-key lock, the second instance's recomputation missed the first's uncommitted
    hours and, committing last, left the day with half its readings."""
    city = new_city(per_partition=1)
    seed(db, city)
    topic = "x." + READINGS

    def records(device: str) -> list[Rec]:
        part = partition_of(device, PARTITIONS)
        return [
            Rec(topic, part, k, reading(device, k, T0 + k * STEP, 0.3, 0, 30.0)) for k in range(4)
        ]

    await _two_instances_at_once(db, RollupStage, records, city.devices)
    rows = _rows(
        db,
        "select readings, bins_reporting from zone_stream_daily where zone_id = %s",
        city.zone,
    )
    assert rows == [(12, 3)]


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_two_landfill_instances_on_one_day_lose_nothing(db: DbSettings) -> None:
    """Regression: the landfill stage deletes and re-inserts a day's ``landfill_daily``
    rows; without its lock, a second instance doing the same day at once hit the first's
    new rows (duplicate key: the stage died) or, with other timing, left out its events."""
    city = new_city(per_partition=1)
    seed(db, city)

    def event(device: str) -> Rec:
        e = CollectionEvent(
            event_id=f"{device}:1:7",
            bin_id=city.bin_of(device),
            device_id=device,
            collected_at=datetime.fromtimestamp(T0 + 6 * 3600, tz=UTC),
            fill_before=0.8,
            fill_after=0.05,
            volume_l=180.0,
            mass_kg=36.0,
            zone=city.zone,
            waste_stream=WasteStream.GENERAL,
            method=DetectionMethod.FILL_DROP,
            confidence=0.9,
        )
        return Rec("x.waste.events.v1", 0, 0, e.to_json_bytes())

    await _two_instances_at_once(db, LandfillStage, lambda device: [event(device)], city.devices)
    rows = _rows(
        db,
        "select collections, collected_kg_est from landfill_daily where site_id = %s",
        city.site,
    )
    assert rows == [(3, Decimal("108.0"))]


# --- the broker's view of the groups -----------------------------------------------------
@dataclass(frozen=True)
class GroupView:
    """A consumer group as its coordinator describes it: state, each member's partitions."""

    state: str
    members: dict[str, frozenset[tuple[str, int]]]

    def of(self, topic: str) -> list[set[int]]:
        """Each member's partitions of ``topic``."""
        return [{p for t, p in parts if t == topic} for parts in self.members.values()]

    def describe(self) -> str:
        return f"{self.state}: " + "; ".join(
            f"{m[-6:]} {sorted(parts)}" for m, parts in self.members.items()
        )


class Broker:
    """The cluster's view of the groups: assignments and committed offsets (admin API)."""

    def __init__(self, kafka: KafkaSettings, groups: dict[str, tuple[str, ...]]) -> None:
        self.kafka = kafka
        self.prefix = kafka.topic_prefix
        self.groups = groups
        self.admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        self.sizes: dict[str, int] = {}

    async def __aenter__(self) -> Broker:
        await self.admin.start()
        names = sorted({self.prefix + t for ts in self.groups.values() for t in ts})
        for t in await self.admin.describe_topics(names):
            self.sizes[str(t["topic"])] = len(t["partitions"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    def every(self, group: str) -> set[tuple[str, int]]:
        """All partitions of the group's topics."""
        names = [self.prefix + t for t in self.groups[group]]
        return {(n, p) for n in names for p in range(self.sizes[n])}

    async def view(self, group: str) -> GroupView:
        try:
            [resp] = await self.admin.describe_consumer_groups([group])
        except KafkaError as exc:  # no coordinator yet (offsets topic loading), moved, ...
            return GroupView(f"unknown ({exc.__class__.__name__})", {})
        _err, _gid, state, _ptype, _proto, members, *_ = resp.groups[0]
        owned: dict[str, frozenset[tuple[str, int]]] = {}
        for member_id, _client, _host, _meta, assignment in members:
            parts: set[tuple[str, int]] = set()
            if assignment:
                decoded = ConsumerProtocolMemberAssignment.decode(assignment)
                parts = {(t, p) for t, ps in decoded.assignment for p in ps}
            owned[member_id] = frozenset(parts)
        return GroupView(state, owned)

    def shared(self, group: str, v: GroupView) -> bool:
        """Two members, each with a non-empty part (of the readings too, where the group
        reads them), disjoint, together every partition."""
        parts = list(v.members.values())
        union = set().union(*parts) if parts else set()
        readings = v.of(self.prefix + READINGS) if READINGS in self.groups[group] else [{0}]
        return (
            v.state == "Stable"
            and len(parts) == 2
            and all(parts)
            and all(readings)
            and sum(len(p) for p in parts) == len(union)
            and union == self.every(group)
        )

    def single(self, group: str, v: GroupView) -> bool:
        """One member that owns every partition."""
        return v.state == "Stable" and [set(p) for p in v.members.values()] == [self.every(group)]

    async def until(self, test: str, timeout_s: float) -> dict[str, float]:
        """Poll every group until ``test`` (``shared`` or ``single``) holds for each; the
        seconds until it first did, per group."""
        check = getattr(self, test)
        started = time.monotonic()
        first: dict[str, float] = {}
        last: dict[str, GroupView] = {}
        while len(first) < len(self.groups):
            for group in self.groups:
                if group not in first:
                    last[group] = v = await self.view(group)
                    if check(group, v):
                        first[group] = round(time.monotonic() - started, 2)
            waited = time.monotonic() - started
            assert waited < timeout_s, f"not {test} after {waited:.0f} s: " + " | ".join(
                f"{g}: {last[g].describe()}" for g in self.groups if g not in first
            )
            await asyncio.sleep(0.1)
        return first

    async def until_consumed(self, timeout_s: float) -> float:
        """Until every group has committed the end of every partition, twice in a row (a
        stage may still be producing events another one reads)."""
        started = time.monotonic()
        zero_in_a_row = 0
        while zero_in_a_row < 2:
            try:
                lags = await group_lag(self.kafka, {g: list(t) for g, t in self.groups.items()})
            except TopicError as exc:  # a coordinator moving: ask again
                lags = {repr(exc): 1}
            zero_in_a_row = zero_in_a_row + 1 if not any(lags.values()) else 0
            waited = time.monotonic() - started
            assert waited < timeout_s, f"not consumed after {waited:.0f} s: {lags}"
            await asyncio.sleep(0.5)
        return round(time.monotonic() - started, 1)


# --- processes and load ------------------------------------------------------------------
class Instance(ServiceProcess):
    """``python -m <module>`` as a child process, configured by WW_* variables only."""

    def __init__(self, name: str, module: str, env: dict[str, str], logs: Path) -> None:
        super().__init__(module, env, logs / f"{name}.log")
        self.name = name

    def sigterm(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait, timeout_s)

    def tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name}\n{text[-2500:]}"


def ww_env(kafka: KafkaSettings, db: DbSettings, tag: str) -> dict[str, str]:
    """The environment of every instance: nothing WW_* inherited, only what is set here
    (unset settings still fall back to the stack's env file, which names no group)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WW_")}
    return {
        **env,
        "WW_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "WW_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "WW_DB_DSN": db.dsn,
        "WW_DB_WRITER_DSN": db.writer_dsn or "",
        "WW_DB_READER_DSN": db.reader_dsn or "",
        "WW_DB_INGEST_DSN": db.ingest_dsn or "",
        "WW_DB_PROCESSOR_DSN": db.processor_dsn or "",
        "WW_INGEST_SINK_GROUP": f"so-sink-{tag}",
        "WW_PROCESSORS_GROUP_PREFIX": f"so-{tag}-",
        "WW_INGEST_SINK_METRICS_PORT": "0",
        "WW_PROCESSORS_METRICS_PORT": "0",
        "WW_LOG_LEVEL": "INFO",
    }


async def publish(kafka: KafkaSettings, items: list[Item], rate: float, done: list[int]) -> int:
    """Produce ``items`` at ``rate`` per second as the bridge does (acks=all, idempotent,
    key = device id, the bridge's receive-time header); ``done[0]`` counts the sent ones.
    Returns how many the cluster acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures = []
        for i, item in enumerate(items):
            ahead = started + i / rate - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
            header = [("received_at_ms", str(int(time.time() * 1000)).encode())]
            futures.append(
                await producer.send(
                    kafka.topic_prefix + item.topic, item.value, key=item.key, headers=header
                )
            )
            done[0] = i + 1
        acked = await asyncio.gather(*futures, return_exceptions=True)
        return sum(1 for a in acked if not isinstance(a, BaseException))
    finally:
        await producer.stop()


async def until_sent(done: list[int], count: int, publisher: asyncio.Task[int]) -> None:
    while done[0] < count:
        assert not publisher.done(), publisher
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def cluster_topics(kafka_cluster: KafkaService) -> AsyncIterator[KafkaSettings]:
    """The catalog's topics under a prefix of this test's own, 3 replicas, min ISR 2."""
    kafka = kafka_cluster.kafka_settings().model_copy(
        update={"topic_prefix": f"so{uuid.uuid4().hex[:8]}."}
    )
    await create_topics(kafka)
    yield kafka
    await delete_prefixed_topics(kafka)


# --- a sink whose partitions move while it writes ---------------------------------------
@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_sink_survives_losing_partitions_while_it_writes(
    cluster_topics: KafkaSettings, db: DbSettings
) -> None:
    """Regression: a second sink joined while the first was writing a batch; the rebalance
    gave some of that batch's partitions to the newcomer, and the first sink's offset commit
    for them raised IllegalStateError ("not assigned"), which ended its loop.  Now it
    commits what it still owns, the newcomer replays the rest, nothing is stored twice."""
    kafka = cluster_topics
    tag = uuid.uuid4().hex[:6]
    base = Settings(kafka=kafka, db=db)
    settings = base.model_copy(
        update={
            "ingest": base.ingest.model_copy(
                update={"sink_group": f"so-sink-{tag}", "sink_metrics_port": 0}
            )
        }
    )
    devices = [f"sr{tag}-{i:02d}" for i in range(48)]

    def items(first_seq: int, count: int) -> list[Item]:
        return [
            Item(READINGS, d.encode(), reading(d, seq, T0 + seq * STEP, 0.4, 0, 30.0))
            for seq in range(first_seq, first_seq + count)
            for d in devices
        ]

    def stored() -> tuple[int, int]:
        with psycopg.connect(db.dsn) as conn:
            row = conn.execute(
                "select count(*), count(distinct (device_id, seq)) from readings"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    async def until_stored(count: int) -> None:
        deadline = time.monotonic() + 30
        while stored()[1] < count:
            assert first.health()["running"], "the first sink's loop ended"
            assert time.monotonic() < deadline, stored()
            await asyncio.sleep(0.2)

    def waiting_on_a_lock(db: DbSettings) -> bool:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database() "
                "and wait_event_type = 'Lock'"
            ).fetchone()
        return row is not None and row[0] > 0

    first, second = Sink(settings), Sink(settings)
    await first.start()
    try:
        async with Broker(kafka, {settings.ingest.sink_group: SINK_TOPICS}) as broker:
            await broker.until("single", 60)  # the first sink owns every partition
            assert await publish(kafka, items(0, 2), 5000, [0]) == 96
            await until_stored(96)
            # Hold the readings table: the sink's next batch waits inside its transaction.
            with psycopg.connect(db.dsn) as blocker:
                blocker.execute("lock table readings in exclusive mode")
                assert await publish(kafka, items(2, 4), 5000, [0]) == 192
                deadline = time.monotonic() + 20
                while not waiting_on_a_lock(db):
                    assert time.monotonic() < deadline, "the sink never started its batch"
                    await asyncio.sleep(0.1)
                await second.start()
                await broker.until("shared", 40)  # the rebalance completed meanwhile
        # the lock is released: the first sink commits and must carry on
        await until_stored(288)
        await asyncio.sleep(1.0)  # a straggling duplicate would land by now
        assert first.health()["running"], "the first sink's loop ended"
        assert stored() == (288, 288)
    finally:
        await second.stop()
        await first.stop()


# --- the scenario ------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.timeout(200)
async def test_two_sinks_and_two_of_each_processor_share_and_hand_over(
    cluster_topics: KafkaSettings, db: DbSettings, ref_db: DbSettings, tmp_path: Path
) -> None:
    """Share, SIGTERM hand-over, rejoin, kill -9 hand-over, all while readings flow; then
    every reading stored once and every stage's tables those of a single instance."""
    kafka = cluster_topics
    tag = uuid.uuid4().hex[:6]
    city = new_city()
    items = workload(city)
    n_readings = sum(1 for i in items if i.topic == READINGS)
    run_db = db
    seed(run_db, city)
    seed(ref_db, city)
    env = ww_env(kafka, run_db, tag)
    groups = {env["WW_INGEST_SINK_GROUP"]: SINK_TOPICS} | {
        env["WW_PROCESSORS_GROUP_PREFIX"] + name: stage.topics for name, stage in STAGES.items()
    }
    sinks = [Instance(f"sink-{i}", "wastewatch.ingest.sink", env, tmp_path) for i in (1, 2)]
    procs = [Instance(f"processors-{i}", "processors", env, tmp_path) for i in (1, 2)]
    everyone = sinks + procs
    measured: dict[str, Any] = {"readings": n_readings, "rate_per_s": RATE}

    def tails() -> str:
        return "\n".join(i.tail() for i in everyone)

    try:
        for inst in everyone:
            inst.start()
        async with Broker(kafka, groups) as broker:
            # 1. two of each: every group splits the partitions between its two members
            measured["split_s"] = max((await broker.until("shared", 90)).values())
            before = {g: set((await broker.view(g)).members) for g in groups}
            sent = [0]
            publisher = asyncio.create_task(publish(kafka, items, RATE, sent))

            # 2. SIGTERM one sink and one processors process while readings flow
            await until_sent(sent, len(items) // 5, publisher)
            measured["sent_at_sigterm"] = sent[0]
            sinks[0].sigterm()
            procs[0].sigterm()
            took = await broker.until("single", 30)
            measured["sigterm_handover_s"] = took
            for g in groups:
                assert set((await broker.view(g)).members) <= before[g], g  # a survivor
            assert await sinks[0].exit_code() == 0, tails()
            assert await procs[0].exit_code() == 0, tails()

            # 3. start them again: the partitions are shared again
            sinks[0].start()
            procs[0].start()
            measured["rejoin_s"] = max((await broker.until("shared", 60)).values())
            before = {g: set((await broker.view(g)).members) for g in groups}

            # 4. kill -9 the other sink and processors process
            await until_sent(sent, len(items) * 3 // 5, publisher)
            assert not publisher.done(), "the machine is too slow: readings stopped flowing"
            measured["sent_at_kill9"] = sent[0]
            sinks[1].kill9()
            procs[1].kill9()
            took = await broker.until("single", 45)
            measured["kill9_handover_s"] = took
            for g in groups:
                assert set((await broker.view(g)).members) <= before[g], g
            acked = await asyncio.wait_for(publisher, 60)
            assert acked == len(items)

            # 5. the survivors finish: every group commits the end of every partition
            measured["drain_s"] = await broker.until_consumed(90)
        assert all(i.alive() for i in (sinks[0], procs[0])), tails()

        # every reading stored exactly once, both tickets too
        with psycopg.connect(run_db.dsn) as conn:
            stored = conn.execute(
                "select count(*), count(distinct (device_id, boot_counter, seq)) from readings"
            ).fetchone()
            tickets = conn.execute("select count(*) from landfill_deliveries").fetchone()
        assert stored == (n_readings, n_readings), tails()
        assert tickets == (2,)
        for inst in (sinks[0], procs[0]):
            inst.sigterm()
            assert await inst.exit_code() == 0, tails()
    finally:
        for inst in everyone:
            if inst.alive():
                inst.kill9()

    # 6. the reference: one instance of each stage, in this process, same topics
    ref = Settings(kafka=kafka, db=ref_db)
    ref = ref.model_copy(
        update={
            "processors": ref.processors.model_copy(
                update={"group_prefix": f"so-{tag}-ref-", "metrics_port": 0}
            )
        }
    )
    ref_groups = {ref.processors.group_prefix + n: s.topics for n, s in STAGES.items()}
    started = time.monotonic()
    async with ProcessorService(ref), Broker(kafka, ref_groups) as broker:
        await broker.until_consumed(120)
    measured["reference_s"] = round(time.monotonic() - started, 1)
    scaled, single = snapshot(run_db), snapshot(ref_db)
    print(f"\nscale-out measurements: {json.dumps(measured)}")
    assert len(scaled["collections"]) == 2 * len(city.devices)
    assert not [a for a in scaled["alerts"] if a[1] == "offline"]
    assert {a[1] for a in scaled["alerts"]} >= {"fire", "tipped_over"}
    assert sum(h[4] for h in scaled["bin_hourly"]) == n_readings
    for name in PROCESSOR_TABLES:
        diff = [(x, y) for x, y in zip(scaled[name], single[name], strict=False) if x != y]
        assert scaled[name] == single[name], (name, len(scaled[name]), len(single[name]), diff[:2])
