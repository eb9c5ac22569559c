"""The Kafka -> TimescaleDB sink.

Delivery semantics
------------------
* A consumer group (``WW_INGEST_SINK_GROUP``) with ``enable_auto_commit=False``
  reads `waste.readings.v1`, `waste.status.v1`, `waste.landfill.v1`
  (weighbridge tickets) and `waste.broker.v1` (what the MQTT broker refused) in
  batches bounded in size
  (``sink_batch_max``) and time (``sink_batch_ms``).
* Each batch is written in one database transaction (`wastewatch.ingest.store`), and
  only after that transaction commits are the batch's offsets committed to
  Kafka.  A crash between the two replays the batch, and the natural-key
  ``ON CONFLICT DO NOTHING`` makes the replay insert nothing: exactly-once rows.
  The same key stores a broker report once when several bridges forwarded it.
* When PostgreSQL is unreachable the sink keeps the batch, retries with
  exponential back-off (``sink_retry_max_s``), commits nothing, and catches up
  when the database returns.
* A record nobody could decode (not produced by the bridge) goes to the
  dead-letter topic with the reason, then its offset is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter, Gauge, Histogram

from wastewatch.core import (
    Database,
    MetricsServer,
    Service,
    Settings,
    configure,
    load_settings,
    new_registry,
    run_until_signal,
)
from wastewatch.ingest import store
from wastewatch.ingest.errors import IngestError
from wastewatch.ingest.rows import (
    Reject,
    broker_event_row,
    reading_row,
    received_at,
    status_row,
    ticket_row,
)
from wastewatch.ingest.validate import (
    BROKER,
    DLQ,
    LANDFILL,
    READINGS,
    STATUS,
    Rejected,
    dead_letter_bytes,
)
from wastewatch.schema import DeadLetterReason

log = logging.getLogger(__name__)

#: (kind, index in its list, why) for rows the database refused
Refused = list[tuple[str, int, str]]
_DECODERS: dict[str, Callable[[bytes | None, datetime], tuple[Any, ...] | Reject]] = {
    "reading": reading_row,
    "status": status_row,
    "ticket": ticket_row,
    "broker": broker_event_row,
}


def consumer_groups(settings: Settings) -> dict[str, list[str]]:
    """The sink's consumer group and the topics it reads: what a lag check must cover."""
    return {settings.ingest.sink_group: [READINGS, STATUS, LANDFILL, BROKER]}


class Rows:
    """One batch's decoded rows per kind, with the records they came from."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in _DECODERS}
        self.records: dict[str, list[ConsumerRecord[Any, Any]]] = {k: [] for k in _DECODERS}

    def add(self, kind: str, row: tuple[Any, ...], record: ConsumerRecord[Any, Any]) -> None:
        self.rows[kind].append(row)
        self.records[kind].append(record)


class SinkMetrics:
    """Prometheus series of one sink; ``topics`` (with their prefix) exist from the start."""

    def __init__(self, topics: Iterable[str] = ()) -> None:
        self.registry = new_registry()
        r = self.registry
        self.consumed = Counter("ww_sink_consumed_total", "records consumed", ["topic"], registry=r)
        for topic in topics:
            self.consumed.labels(topic)  # at 0 before the first record, so rate() sees it
        self.written = Counter(
            "ww_sink_readings_written_total", "readings inserted (new rows)", registry=r
        )
        self.duplicates = Counter(
            "ww_sink_duplicates_skipped_total", "readings already stored", registry=r
        )
        self.rejected = Counter(
            "ww_sink_rejected_total", "undecodable records sent to the DLQ", registry=r
        )
        self.db_errors = Counter(
            "ww_sink_db_errors_total", "failed database writes (retried)", registry=r
        )
        self.batch_size = Histogram(
            "ww_sink_batch_records",
            "records per batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.write_seconds = Histogram(
            "ww_sink_write_seconds",
            "batch database transaction time",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.delay = Histogram(
            "ww_sink_receive_to_commit_seconds",
            "bridge receive to database commit",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
            registry=r,
        )
        self.lag = Gauge(
            "ww_sink_consumer_lag", "records behind the log end", ["topic", "partition"], registry=r
        )


class Sink(Service):
    """Consume readings and status from Kafka and store them; `async with` it.

    The sink is not a stage of the processor runtime (`wastewatch.processors.runtime`),
    though it shares its skeleton (:class:`wastewatch.core.service.Service`, the
    back-off, the least-privilege connection).  A stage produces its messages
    *before* its transaction and treats a batch the database refuses as fatal; the
    sink learns what to dead-letter only *from* the write (a batch refused for its
    content is written row by row, and the rows still refused go to the DLQ after
    the transaction, before the offset commit), so its order of steps differs.  It
    also has its own role (``ww_ingest``, not ``ww_processor``), connection mode
    (prepared statements, no autocommit), consumer settings (``WW_INGEST_SINK_*``),
    metrics (``ww_sink_*``) and ``/healthz``, and no per-device state to reload on
    a rebalance.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__("sink", logger=log)
        self._settings = settings
        prefix = settings.kafka.topic_prefix
        self._readings_topic = prefix + READINGS
        self._status_topic = prefix + STATUS
        self._landfill_topic = prefix + LANDFILL
        self._broker_topic = prefix + BROKER
        self._kinds = {
            self._readings_topic: "reading",
            self._status_topic: "status",
            self._landfill_topic: "ticket",
            self._broker_topic: "broker",
        }
        self._dlq_topic = prefix + DLQ
        ingest = settings.ingest
        self._consumer = AIOKafkaConsumer(
            self._readings_topic,
            self._status_topic,
            self._landfill_topic,
            self._broker_topic,
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=ingest.sink_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=ingest.sink_batch_max,
            fetch_max_wait_ms=ingest.sink_batch_ms,
            fetch_min_bytes=ingest.sink_fetch_min_bytes,
            session_timeout_ms=ingest.sink_session_timeout_ms,
            heartbeat_interval_ms=max(100, ingest.sink_session_timeout_ms // 6),
            client_id="ww-sink",
        )
        self._producer: AIOKafkaProducer | None = None
        self.metrics = SinkMetrics(self._kinds)
        self._db = Database(
            settings.db.for_ingest(),
            env_name="WW_DB_INGEST_DSN",
            connect_timeout_s=settings.db.connect_timeout_s,
            retry_max_s=ingest.sink_retry_max_s,
            label="sink",
            on_failure=lambda _exc: self.metrics.db_errors.inc(),
            logger=log,
            error=IngestError,
            prepare=store.prepare,
            retry_on=(psycopg.Error,),
        )
        self._http = MetricsServer(
            self.metrics.registry,
            self.health,
            host=ingest.metrics_host,
            port=ingest.sink_metrics_port,
        )
        self._last_commit = 0.0
        self.rows_written = 0

    async def _start(self) -> None:
        await self._consumer.start()
        await self._http.start()
        self._spawn(self._run(), "sink-loop")
        log.info("sink started: %s -> database", self._settings.kafka.bootstrap)

    async def _stop(self) -> None:
        """Finish the batch in hand (write, commit), then leave the group."""
        await self._drain(self._settings.ingest.shutdown_timeout_s)
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        await self._db.close()
        await self._http.stop()

    @property
    def metrics_port(self) -> int:
        return self._http.port

    def _check(self) -> tuple[bool, dict[str, Any]]:
        running = self.running
        return running and self._db.ok, {
            "database": self._db.ok,
            "running": running,
            "rows_written": self.rows_written,
            "seconds_since_commit": round(time.time() - self._last_commit, 1)
            if self._last_commit
            else None,
        }

    # --- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        ingest = self._settings.ingest
        await self._db.connection()
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(
                timeout_ms=ingest.sink_batch_ms, max_records=ingest.sink_batch_max
            )
            records = [r for part in batch.values() for r in part]
            if not records:
                continue
            await self._handle(batch, records)
            self._update_lag(batch)

    async def _handle(
        self,
        batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]],
        records: list[ConsumerRecord[Any, Any]],
    ) -> None:
        rows = Rows()
        rejects: list[tuple[ConsumerRecord[Any, Any], str]] = []
        oldest_receive = None
        for rec in records:
            recv = received_at(rec.headers, rec.timestamp)
            if oldest_receive is None or recv < oldest_receive:
                oldest_receive = recv
            kind = self._kinds.get(rec.topic, "reading")
            row = _DECODERS[kind](rec.value, recv)
            if isinstance(row, Reject):
                rejects.append((rec, row.detail))
            else:
                rows.add(kind, row, rec)
        for tp, recs in batch.items():
            self.metrics.consumed.labels(tp.topic).inc(len(recs))
        self.metrics.batch_size.observe(len(records))
        inserted, refused = await self._write_with_retry(rows)
        rejects.extend((rows.records[kind][index], detail) for kind, index, detail in refused)
        if rejects:
            await self._dead_letter(rejects)
        self.rows_written += inserted
        self.metrics.written.inc(inserted)
        self.metrics.duplicates.inc(len(rows.rows["reading"]) - inserted)
        # A rebalance while the batch was written (another sink joined or left) may have
        # given some of its partitions to another sink: their offsets are that one's to
        # commit now (aiokafka refuses them), and it replays those records, which the
        # idempotent insert makes harmless.
        assigned = self._consumer.assignment()
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs and tp in assigned}
        try:
            if offsets:
                await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning(
                "offset commit failed after a rebalance (%s); records will be replayed", exc
            )
        self._last_commit = time.time()
        if oldest_receive is not None:
            self.metrics.delay.observe(self._last_commit - oldest_receive.timestamp())

    async def _write_with_retry(self, rows: Rows) -> tuple[int, Refused]:
        """Write the batch, retrying while the database is unreachable.

        A batch the database refuses for its content (a value out of a column's
        range, say) is written row by row, and the rows it still refuses are
        returned for the dead-letter topic instead of blocking the partition.
        """
        started = 0.0

        async def whole(conn: psycopg.AsyncConnection[Any]) -> tuple[int, Refused]:
            nonlocal started
            started = time.perf_counter()
            inserted = await store.write_batch(
                conn,
                rows.rows["reading"],
                rows.rows["status"],
                rows.rows["ticket"],
                rows.rows["broker"],
            )
            return inserted, []

        async def one_by_one(conn: psycopg.AsyncConnection[Any]) -> tuple[int, Refused]:
            nonlocal started
            started = time.perf_counter()
            return await self._write_one_by_one(conn, rows)

        try:
            result = await self._db.run(whole, what="batch write")
        except (psycopg.DatabaseError, TypeError, ValueError, OverflowError) as exc:
            log.error(  # noqa: TRY400 - the content, not a traceback, is what helps
                "database refused a batch (%s); writing it row by row", str(exc).strip()
            )
            result = await self._db.run(one_by_one, what="batch write")
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        return result

    async def _write_one_by_one(
        self, conn: psycopg.AsyncConnection[Any], rows: Rows
    ) -> tuple[int, Refused]:
        inserted = 0
        refused: Refused = []
        for kind, kind_rows in rows.rows.items():
            for index, row in enumerate(kind_rows):
                single = {k: [row] if k == kind else [] for k in rows.rows}
                try:
                    inserted += await store.write_batch(
                        conn,
                        single["reading"],
                        single["status"],
                        single["ticket"],
                        single["broker"],
                    )
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise
                except (psycopg.DatabaseError, TypeError, ValueError, OverflowError) as exc:
                    refused.append((kind, index, f"database refused it: {str(exc).strip()}"))
        return inserted, refused

    async def _dead_letter(self, rejects: list[tuple[ConsumerRecord[Any, Any], str]]) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.kafka.bootstrap,
                acks="all",
                client_id="ww-sink-dlq",
            )
            await self._producer.start()
        now = time.time()
        for rec, detail in rejects:
            value = dead_letter_bytes(
                rec.value or b"",
                source_topic=f"kafka:{rec.topic}",
                verdict=Rejected(DeadLetterReason.INVALID, f"sink: {detail}", None),
                received_at_s=now,
            )
            await self._producer.send_and_wait(self._dlq_topic, value, key=rec.key)
            self.metrics.rejected.inc()
            log.error(
                "undecodable record %s[%d]@%d sent to the DLQ: %s",
                rec.topic,
                rec.partition,
                rec.offset,
                detail,
            )

    def _update_lag(self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        assigned = self._consumer.assignment()
        for tp, recs in batch.items():
            if tp not in assigned:  # handed to another sink meanwhile
                continue
            high = self._consumer.highwater(tp)
            if high is not None and recs:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - recs[-1].offset - 1)
                )


async def serve(settings: Settings) -> None:
    """Run a sink until SIGTERM or SIGINT (finish the batch, stop), or until it dies."""
    await run_until_signal(Sink(settings), name="sink")


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(
        prog="python -m wastewatch.ingest.sink", description="Kafka -> TimescaleDB sink"
    ).parse_args(argv)
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
