"""The machinery every processor stage shares: consumer loop, state store, registry.

Delivery semantics (every stage)
--------------------------------
* Each stage is a Kafka consumer group of its own (``<group_prefix><stage>``),
  ``enable_auto_commit=False``, ``auto_offset_reset="earliest"``.
* A batch is handled in this order: (1) the stage computes its outputs and new
  per-device state from the records (pure functions, event time only);
  (2) output messages (``waste.events.v1``, ``waste.alerts.v1``) are produced
  with ``acks="all"`` and awaited; (3) the rows, the per-device state and any
  webhook outbox rows are written in **one database transaction**; (4) only
  then are the batch's offsets committed to Kafka.
* A crash before (3) replays the batch and re-produces the same messages with
  the same deterministic ids (at-least-once on Kafka; consumers upsert by id).
  A crash between (3) and (4) replays records the state has already absorbed:
  every stage skips a device's readings that are not newer than the newest
  one in its stored state, so the replay changes nothing.  Rows mixing many
  devices are recomputed from tables, never incremented from the stream.
* State is loaded lazily from ``processor_state`` for each device seen, and
  dropped when partitions are revoked, so after a restart or a rebalance the
  new owner continues from exactly what the database holds.
* When PostgreSQL is unreachable the batch's write is retried with back-off;
  nothing is committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2
from prometheus_client import Counter, Gauge, Histogram
from psycopg.types.json import set_json_loads

from wastewatch.core import Backoff, Database, Service, Settings, new_registry
from wastewatch.processors.errors import ConfigError, StoreError
from wastewatch.processors.readings import BinInfo

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]
Record = Any  # aiokafka ConsumerRecord (untyped library)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to produce: topic name without prefix, key, value."""

    topic: str
    key: bytes
    value: bytes


@dataclass(slots=True)
class Step:
    """What a batch produced: messages to publish, then one transaction to run."""

    messages: list[Outgoing] = field(default_factory=list)
    writes: list[Callable[[Conn], Awaitable[None]]] = field(default_factory=list)

    async def write(self, conn: Conn) -> None:
        for w in self.writes:
            await w(conn)


def executemany_write(
    *batches: tuple[str, Sequence[Sequence[Any]]],
) -> Callable[[Conn], Awaitable[None]]:
    """A write that runs each statement over its rows, in order; one with no rows is skipped.

    The row lists are read when the write runs, so a stage may still fill them after this call.
    """

    async def write(conn: Conn) -> None:
        async with conn.cursor() as cur:
            for statement, rows in batches:
                if rows:
                    await cur.executemany(statement, rows)

    return write


def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partition of a key (murmur2), as the bridge's producer picks it."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def lock_keys(conn: Conn, keys: Iterable[str]) -> None:
    """Take transaction-scoped advisory locks on ``keys``, always in one order.

    For rows that mix many devices and are recomputed from tables (a zone's day, a
    landfill's days).  Two instances of a stage recomputing one such row at once would
    each miss the other's uncommitted inputs, and the later commit would win with a
    stale total.  Taken as the first statement of a batch's transaction, the lock makes
    the second instance wait until the first has committed; its recomputation (a later
    statement, so a new snapshot under READ COMMITTED) then sees both.  A waiter holds
    no row locks yet and every holder takes its keys in ascending order, so the locks
    add no deadlock.
    """
    ids = sorted({_lock_id(k) for k in keys})
    if ids:
        async with conn.cursor() as cur:
            await cur.execute(
                "select pg_advisory_xact_lock(k) from unnest(%s::bigint[]) as k", [ids]
            )


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock (a collision only serialises more)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Registry:
    """The bin registry by device id, re-read at most every ``refresh_s``."""

    _SQL = """
        select b.device_id, b.bin_id, coalesce(b.zone_id, ''), b.stream, b.volume_l,
               b.collection_threshold, b.mounting_height_mm, b.usable_depth_mm,
               s.density_kg_per_m3 / 1000.0
        from bins b join waste_streams s on s.stream = b.stream
        where b.device_id is not null and b.active
    """

    def __init__(self, refresh_s: float) -> None:
        self._by_device: dict[str, BinInfo] = {}
        self._loaded_at = 0.0
        self._refresh_s = refresh_s
        self._lock = asyncio.Lock()

    async def load(self, conn: Conn) -> None:
        async with conn.cursor() as cur:
            await cur.execute(self._SQL)
            rows = await cur.fetchall()
        self._by_device = {
            r[0]: BinInfo(r[1], r[0], r[2], r[3], float(r[4]), float(r[5]), r[6], r[7], float(r[8]))
            for r in rows
        }
        self._loaded_at = time.monotonic()

    async def lookup(self, conn: Conn, device_ids: Iterable[str]) -> dict[str, BinInfo]:
        """Registry entries of these devices; unknown ones trigger a (rate-limited) reload."""
        ids = set(device_ids)
        async with self._lock:
            stale = time.monotonic() - self._loaded_at > self._refresh_s
            if not self._loaded_at or (stale and not ids <= self._by_device.keys()):
                await self.load(conn)
        return {d: self._by_device[d] for d in ids if d in self._by_device}

    def get(self, device_id: str) -> BinInfo | None:
        return self._by_device.get(device_id)


class StateStore:
    """Per-key JSON state of one stage, cached in memory, persisted with the outputs."""

    def __init__(self, processor: str) -> None:
        self.processor = processor
        self.cache: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()

    async def ensure(self, conn: Conn, keys: Iterable[str]) -> None:
        missing = [k for k in set(keys) if k not in self.cache]
        if not missing:
            return
        async with conn.cursor() as cur:
            await cur.execute(
                "select key, state from processor_state where processor = %s and key = any(%s)",
                [self.processor, missing],
            )
            for key, state in await cur.fetchall():
                self.cache[key] = state

    async def load_all(self, conn: Conn, prefix: str = "") -> None:
        async with conn.cursor() as cur:
            await cur.execute(
                "select key, state from processor_state where processor = %s and key like %s",
                [self.processor, prefix + "%"],
            )
            for key, state in await cur.fetchall():
                self.cache.setdefault(key, state)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.cache.get(key)

    def put(self, key: str, state: dict[str, Any]) -> None:
        self.cache[key] = state
        self.dirty.add(key)

    def take_dirty(self) -> Callable[[Conn], Awaitable[None]]:
        """A write of every changed key (bound now, so later batches cannot change it)."""
        cache = self.cache
        rows = [(self.processor, k, orjson.dumps(cache[k]).decode()) for k in sorted(self.dirty)]
        self.dirty.clear()

        async def write(conn: Conn) -> None:
            if rows:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "insert into processor_state (processor, key, state) "
                        "values (%s, %s, %s::jsonb) on conflict (processor, key) do update "
                        "set state = excluded.state, state_updated_at = now()",
                        rows,
                    )

        return write

    def clear(self) -> None:
        self.cache.clear()
        self.dirty.clear()


class Stage:
    """One processor: its input topics and how a batch becomes a :class:`Step`."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    produces: ClassVar[tuple[str, ...]] = ()
    """The topics its messages go to (without prefix): their series exist from the start."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.state = StateStore(self.name)
        self.assigned: set[tuple[str, int]] = set()
        self.undecodable = 0
        self.caught_up = False
        """Set by the runner before each batch: this batch reaches the end of every
        assigned partition.  The alert stage's global watermark (small fleets) advances
        only then, so a partition fetched late cannot make its devices look silent."""

    def count_bad(self) -> None:
        """A record that is not a reading: skipped (the sink dead-letters real garbage)."""
        self.undecodable += 1

    async def readings_of_bins(
        self, conn: Conn, records: list[Record]
    ) -> list[tuple[str, list[tuple[Record, Any]], BinInfo, dict[str, Any] | None]]:
        """The batch's readings by device, for the devices of registered bins only, each
        with its bin and its saved state (loaded first: the database reads of a batch)."""
        by_device = decode_readings(records, self.count_bad)
        infos = await self.registry.lookup(conn, by_device)
        await self.state.ensure(conn, infos)
        return [
            (device, items, info, self.state.get(device))
            for device, items in by_device.items()
            if (info := infos.get(device)) is not None
        ]

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        """Outputs of a batch.  Reads from the database first, then mutates state without
        awaiting the database, so that a retry after a connection error starts clean."""
        raise NotImplementedError

    async def on_assigned(self, conn: Conn, partitions: set[tuple[str, int]]) -> None:
        """Partitions were assigned; the default loads state lazily later."""

    def on_revoked(self) -> None:
        """Partitions were taken away: whatever is cached may now change elsewhere."""
        self.state.clear()


class StageMetrics:
    """Prometheus series of the processors (one registry, labelled by stage)."""

    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.consumed = Counter(
            "ww_processor_consumed_total", "records consumed", ["processor", "topic"], registry=r
        )
        self.produced = Counter(
            "ww_processor_produced_total", "messages produced", ["processor", "topic"], registry=r
        )
        self.undecodable = Counter(
            "ww_processor_undecodable_total",
            "records skipped as undecodable",
            ["processor"],
            registry=r,
        )
        self.db_errors = Counter(
            "ww_processor_db_errors_total",
            "failed database writes (retried)",
            ["processor"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "ww_processor_batch_seconds",
            "compute + produce + write + commit time per batch",
            ["processor"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.lag_seconds = Histogram(
            "ww_processor_lag_seconds",
            "bridge receive of a batch's oldest record to its offset commit",
            ["processor"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.last_record = Gauge(
            "ww_processor_last_record_timestamp_seconds",
            "Kafka time (the bridge's receive, Unix seconds) of the newest record committed",
            ["processor"],
            registry=r,
        )

    def prepare(self, stage: str, consumes: Iterable[str], produces: Iterable[str]) -> None:
        """Create a stage's series at 0, so rate() sees its first records.  The timestamp
        gauge is left out: 0 would read as 1970, not as "nothing yet"."""
        for topic in consumes:
            self.consumed.labels(stage, topic)
        for topic in produces:
            self.produced.labels(stage, topic)
        for metric in (self.undecodable, self.db_errors, self.batch_seconds, self.lag_seconds):
            metric.labels(stage)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: StageRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._runner.lock:
            self._runner.stage.on_revoked()
            self._runner.stage.assigned -= {(tp.topic, tp.partition) for tp in revoked}

    async def on_partitions_assigned(self, assigned: Any) -> None:
        parts = {(tp.topic, tp.partition) for tp in assigned}
        async with self._runner.lock:
            self._runner.stage.assigned |= parts
            self._runner.pending_assign |= parts


class StageRunner(Service):
    """Runs one stage: consume, compute, produce, write, commit; `start()`/`stop()`."""

    def __init__(
        self,
        stage: Stage,
        settings: Settings,
        producer: AIOKafkaProducer,
        metrics: StageMetrics,
    ) -> None:
        super().__init__(stage.name, logger=log)
        self.stage = stage
        self._settings = settings
        self._producer = producer
        self._metrics = metrics
        metrics.prepare(stage.name, stage.topics, stage.produces)
        self._undecodable_seen = 0
        cfg = settings.processors
        prefix = settings.kafka.topic_prefix
        self._prefix = prefix
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=cfg.group_prefix + stage.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=cfg.batch_max,
            fetch_max_wait_ms=cfg.batch_ms,
            client_id=f"ww-proc-{stage.name}",
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        )
        self._db = Database(
            settings.db.for_processors(),
            env_name="WW_DB_PROCESSOR_DSN",
            connect_timeout_s=settings.db.connect_timeout_s,
            retry_max_s=cfg.retry_max_s,
            label=stage.name,
            on_failure=lambda _exc: metrics.db_errors.labels(stage.name).inc(),
            logger=log,
            error=ConfigError,
            # autocommit: reads between batches hold no transaction open, and
            # `conn.transaction()` is a real BEGIN/COMMIT around each batch's writes.
            autocommit=True,
            prepare=_prepare,
        )
        self.lock = asyncio.Lock()
        self.pending_assign: set[tuple[str, int]] = set()
        self._next_offset: dict[Any, int] = {}
        self.records_done = 0
        self.batches_done = 0
        self.last_commit = 0.0
        self.after_commit: Callable[[], None] | None = None
        self.lag_samples: deque[float] = deque(maxlen=200_000)
        """Per batch: seconds from the bridge receiving its oldest record to the commit."""

    async def _start(self) -> None:
        topics = [self._prefix + t for t in self.stage.topics]
        self._consumer.subscribe(topics, listener=_Listener(self))
        await self._consumer.start()
        self._spawn(self._run(), f"processor-{self.stage.name}")

    async def _stop(self) -> None:
        await self._drain(self._settings.processors.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        await self._db.close()

    @property
    def db_ok(self) -> bool:
        return self._db.ok

    async def _run(self) -> None:
        cfg = self._settings.processors
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=cfg.batch_ms, max_records=cfg.batch_max)
            async with self.lock:
                if self.pending_assign:
                    parts, self.pending_assign = self.pending_assign, set()
                    await self._db.run(partial(self.stage.on_assigned, partitions=parts))
                records = [r for part in batch.values() for r in part]
                if not records:
                    continue
                await self._handle(batch, records)

    async def _handle(self, batch: dict[Any, list[Record]], records: list[Record]) -> None:
        started = time.perf_counter()
        for tp, recs in batch.items():
            topic = tp.topic[len(self._prefix) :]
            self._metrics.consumed.labels(self.name, topic).inc(len(recs))
        for tp, recs in batch.items():
            self._next_offset[tp] = recs[-1].offset + 1
        self.stage.caught_up = await self._caught_up()
        step: Step = await self._db.run(lambda c: self.stage.compute(c, records))
        await self._publish(step.messages)

        async def transaction(conn: Conn) -> None:
            async with conn.transaction():
                await step.write(conn)

        try:
            await self._db.run(transaction)
        except psycopg.Error as exc:
            raise StoreError(f"{self.name}: the database refused a batch: {exc}") from exc
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            log.warning(
                "%s: commit failed after a rebalance (%s); replay is harmless", self.name, exc
            )
        if self.after_commit is not None:
            self.after_commit()
        now = time.time()
        self.last_commit = now
        self.records_done += len(records)
        self.batches_done += 1
        oldest = min(r.timestamp for r in records) / 1000.0
        self.lag_samples.append(now - oldest)
        self._metrics.lag_seconds.labels(self.name).observe(now - oldest)
        self._metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)
        self._metrics.last_record.labels(self.name).set(max(r.timestamp for r in records) / 1000.0)
        if self.stage.undecodable > self._undecodable_seen:
            bad = self.stage.undecodable - self._undecodable_seen
            self._metrics.undecodable.labels(self.name).inc(bad)
            self._undecodable_seen = self.stage.undecodable

    async def _caught_up(self) -> bool:
        """True when this batch ends every assigned partition's log (as far as the last
        fetch knew it).  Strict on purpose: a watermark moved with a partition still
        behind would judge that partition's devices silent in one run and not in another
        (the batch boundaries differ between a restart and a replay)."""
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                return False
            pos = self._next_offset.get(tp)
            if pos is None:
                # Never fetched in this session: its devices are unknown until it is read.
                if await self._consumer.position(tp) < high:
                    return False
            elif high > pos:
                return False
        return True

    async def _publish(self, messages: list[Outgoing]) -> None:
        if not messages:
            return
        backoff = Backoff(maximum=self._settings.processors.retry_max_s)
        while True:
            try:
                futures = [
                    await self._producer.send(self._prefix + m.topic, m.value, key=m.key)
                    for m in messages
                ]
                await asyncio.gather(*futures)
                break
            except KafkaError as exc:
                log.warning(
                    "%s: produce failed (%r); retry in %.1f s", self.name, exc, backoff.delay
                )
                await backoff.sleep()
        for m in messages:
            self._metrics.produced.labels(self.name, m.topic).inc()


async def _prepare(conn: Conn) -> None:
    """Per-device state is jsonb read on every first sight of a device: orjson reads it."""
    set_json_loads(orjson.loads, conn)


_DECODED: dict[tuple[str, int, int], tuple[bytes, Any]] = {}
"""Readings already decoded in this process, by (topic, partition, offset): the stages
in one process read the same records within moments of each other.  A hit must also
carry the same bytes, so a topic deleted and created again cannot serve stale values."""
_DECODED_MAX = 50_000


def decode_readings(
    records: list[Record], on_bad: Callable[[], None]
) -> dict[str, list[tuple[Record, Any]]]:
    """Readings grouped by device, each device's in log order (they share a partition)."""
    from wastewatch.processors.readings import decode_reading

    cache = _DECODED
    out: dict[str, list[tuple[Record, Any]]] = {}
    for rec in records:
        key = (rec.topic, rec.partition, rec.offset)
        hit = cache.get(key)
        value = rec.value
        if hit is not None and hit[0] == value:
            r = hit[1]
        else:
            r = decode_reading(value)
            if len(cache) >= _DECODED_MAX:
                for old in list(itertools.islice(cache, _DECODED_MAX // 4)):
                    del cache[old]  # oldest first: dicts keep insertion order
            cache[key] = (value, r)
        if r is None:
            on_bad()
            continue
        out.setdefault(r.device_id, []).append((rec, r))
    return out
