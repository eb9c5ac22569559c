"""The MQTT -> Kafka bridge.

Delivery semantics
------------------
* MQTT side: QoS 1 subscription, persistent session (clean_start=False and a
  Session Expiry Interval), **manual acks**: a message's PUBACK is sent only
  after Kafka acknowledged its record with ``acks="all"``, and PUBACKs leave
  in arrival order (`wastewatch.ingest.acks`).  A crash before the PUBACK makes the
  broker redeliver the message (DUP) to the next session: at-least-once.
* Kafka side: key = device id (each device's readings stay in one partition,
  in order), batched by linger/batch size; the idempotent producer is used
  where the broker supports it (``WW_KAFKA_ENABLE_IDEMPOTENCE``).  Duplicates
  from redelivery are removed by the sink's idempotent insert.
* Invalid input is never dropped and never blocks: it becomes a dead letter
  (`waste.dlq.v1`, reason and original bytes) and is acked once the dead
  letter is in Kafka.
* The broker's own reports of what it refused (``$SYS/broker/wastewatch/#``:
  denied publishes and subscriptions, login floods) arrive on a plain
  subscription, never a shared one (the account's ACL grants the plain filter),
  and go to `waste.broker.v1` on the same terms.  With several bridges each
  forwards a copy; the sink stores each report once (natural key).  An account
  that may not read them gets its device subscriptions all the same: the
  refusal is logged and ``/healthz`` says ``broker_events: false``.
* Backpressure: MQTT v5 Receive Maximum bounds the unacked messages in flight
  to us; when Kafka is slow or down, acks stop, the broker stops sending and
  queues for our session.  Failed sends are retried with back-off, in arrival
  order, before any new message is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from prometheus_client import Counter, Gauge, Histogram

from wastewatch.core import (
    Backoff,
    MetricsServer,
    Service,
    Settings,
    configure,
    load_settings,
    new_registry,
    redact,
    run_until_signal,
)
from wastewatch.ingest.acks import InOrderAcks, Slot
from wastewatch.ingest.errors import IngestError, KafkaUnavailableError
from wastewatch.ingest.log_budget import LogBudget
from wastewatch.ingest.mqtt import Message, MqttSource
from wastewatch.ingest.validate import (
    BROKER,
    DLQ,
    LANDFILL,
    READINGS,
    STATUS,
    Accepted,
    classify,
    dead_letter_bytes,
)
from wastewatch.schema import (
    BROKER_TOPIC_ROOT,
    BrokerEventKind,
    DeadLetterReason,
    DeviceTopicKind,
    device_filter,
    landfill_ticket_filter,
)

log = logging.getLogger(__name__)
RECEIVED_AT_HEADER = "received_at_ms"
BROKER_EVENTS_FILTER = f"{BROKER_TOPIC_ROOT}/#"
"""The guard plugins' reports: subscribed as it is, also by bridges in a share group."""
_TOPICS = (READINGS, STATUS, DLQ, LANDFILL, BROKER)
RECEIVED_KINDS = (READINGS, STATUS, LANDFILL, BROKER, "invalid")
"""The ``kind`` label of ``ww_bridge_received_total``: where a message was headed."""


@dataclass(slots=True)
class Outgoing:
    """A record on its way to Kafka, with the MQTT message it acknowledges."""

    order: int
    slot: Slot
    topic: str
    key: bytes
    value: bytes
    received_at: float
    partition: int
    attempts: int = field(default=0)


class BridgeMetrics:
    """Prometheus series of one bridge (own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = new_registry()
        r = self.registry
        self.received = Counter(
            "ww_bridge_received_total", "MQTT messages received", ["kind"], registry=r
        )
        self.produced = Counter(
            "ww_bridge_produced_total", "records Kafka acknowledged", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "ww_bridge_dead_letters_total", "messages sent to the DLQ", ["reason"], registry=r
        )
        self.broker_events = Counter(
            "ww_bridge_broker_events_total",
            "the broker's reports of what it refused, forwarded (denied, login_refused)",
            ["event"],
            registry=r,
        )
        # Every labelled series exists from the start, at 0, so rate() and increase()
        # see the first event (a series born at 1 shows no increase).
        for kind in RECEIVED_KINDS:
            self.received.labels(kind)
        for topic in _TOPICS:
            self.produced.labels(topic)
        for reason in DeadLetterReason:
            self.dead_letters.labels(reason.value)
        for event in BrokerEventKind:
            self.broker_events.labels(event.value)
        self.acked = Counter("ww_bridge_mqtt_acked_total", "PUBACKs sent", registry=r)
        self.send_errors = Counter(
            "ww_bridge_kafka_send_errors_total", "failed Kafka sends (retried)", registry=r
        )
        self.in_flight = Gauge(
            "ww_bridge_in_flight", "messages received and not yet acked", registry=r
        )
        self.batch_records = Histogram(
            "ww_bridge_batch_records",
            "records per Kafka batch",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
            registry=r,
        )
        self.latency = Histogram(
            "ww_bridge_receive_to_ack_seconds",
            "MQTT receive to Kafka ack, per batch (its oldest record)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
        )


class Bridge(Service):
    """Consume device messages from MQTT and produce them to Kafka; `async with` it."""

    def __init__(self, settings: Settings, *, client_id: str | None = None) -> None:
        super().__init__("bridge", logger=log)
        self._settings = settings
        ingest = settings.ingest
        filters = [
            device_filter(DeviceTopicKind.TELEMETRY, settings.city),
            device_filter(DeviceTopicKind.STATUS, settings.city),
            landfill_ticket_filter(settings.city),
        ]
        if ingest.share_group:
            filters = [f"$share/{ingest.share_group}/{f}" for f in filters]
        self.metrics = BridgeMetrics()
        self._mqtt = MqttSource(
            url=settings.mqtt.bridge_url or settings.mqtt.url,
            ca_file=settings.mqtt.ca_file,
            client_id=client_id or settings.mqtt.bridge_client_id(),
            subscriptions=filters,
            optional_subscriptions=[BROKER_EVENTS_FILTER],
            receive_maximum=ingest.receive_maximum,
            session_expiry_s=ingest.session_expiry_s,
            keepalive_s=settings.mqtt.keepalive_s,
            capacity=ingest.handoff_max,
        )
        kafka = settings.kafka
        self._prefix = kafka.topic_prefix
        self._producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap,
            acks="all",
            enable_idempotence=kafka.enable_idempotence,
            linger_ms=kafka.linger_ms,
            max_batch_size=kafka.max_batch_size,
            request_timeout_ms=kafka.request_timeout_ms,
            client_id="ww-bridge",
        )
        self._acks = InOrderAcks()
        self._max_future_s = ingest.max_future_s
        self._dead_letter_log = LogBudget(
            per_key=ingest.dead_letter_log_per_device,
            per_window=ingest.dead_letter_log_per_window,
            window_s=ingest.dead_letter_log_window_s,
        )
        self._open: dict[tuple[str, int], tuple[Any, list[Outgoing]]] = {}
        self._opened_at = 0.0
        self._partitions: dict[str, list[int]] = {}
        self._partition_cache: dict[tuple[str, str], int] = {}
        self._received = {k: self.metrics.received.labels(k) for k in RECEIVED_KINDS}
        self._produced = {self._prefix + t: self.metrics.produced.labels(t) for t in _TOPICS}
        self._broker_events = {
            k.value: self.metrics.broker_events.labels(k.value) for k in BrokerEventKind
        }
        self._order = itertools.count()
        self._failed: list[Outgoing] = []
        # The pump and the retry loop both build and send batches, and sending waits (for
        # room in the producer, up to request_timeout_ms): one at a time, or one of them
        # pops or fills a batch the other is still working on.
        self._batching = asyncio.Lock()
        self._healthy = asyncio.Event()
        self._healthy.set()
        self._wake_retry = asyncio.Event()
        self._http = MetricsServer(
            self.metrics.registry,
            self.health,
            host=ingest.metrics_host,
            port=ingest.bridge_metrics_port,
        )

    # --- lifecycle -----------------------------------------------------------------------
    async def _start(self) -> None:
        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            raise KafkaUnavailableError(
                f"cannot reach Kafka at {self._settings.kafka.bootstrap}: {exc!r}"
            ) from exc
        for name in _TOPICS:
            topic = self._prefix + name
            parts = await self._producer.partitions_for(topic)
            self._partitions[topic] = sorted(parts)
        await self._mqtt.connect()
        # The pump runs before the SUBACK: a persistent session's backlog arrives first,
        # and a hand-off nobody drains would stop paho's thread from ever reading the SUBACK.
        self._spawn(self._pump(), "bridge-pump")
        self._spawn(self._retry(), "bridge-retry")
        await self._mqtt.subscribed()
        await self._http.start()
        log.info(
            "bridge started: %s -> %s",
            redact(self._settings.mqtt.bridge_url or self._settings.mqtt.url),
            self._settings.kafka.bootstrap,
        )

    async def _stop(self) -> None:
        """Drain: stop intake, let Kafka acknowledge what is in flight, ack it, disconnect."""
        if not self._tasks:  # the start failed before the loops: nothing is in flight
            await self._mqtt.stop()
            await self._producer.stop()
            return
        pump, retry = self._tasks
        await self._cancel(pump)
        with contextlib.suppress(KafkaError, OSError):
            await self._flush_all()
        try:
            await asyncio.wait_for(self._producer.flush(), self._settings.ingest.shutdown_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning(
                "stop: Kafka did not acknowledge everything (%r); the broker will redeliver", exc
            )
        await asyncio.sleep(0)  # delivery callbacks run and queue their PUBACKs
        await self._cancel(retry)
        await self._mqtt.stop()
        await self._producer.stop()
        await self._http.stop()
        summary = self._dead_letter_log.flush()
        if summary is not None:
            log.warning("%s", summary)
        log.info("bridge stopped; %d messages left unacked for redelivery", len(self._acks))

    @property
    def metrics_port(self) -> int:
        return self._http.port

    def _check(self) -> tuple[bool, dict[str, Any]]:
        ok = self._mqtt.connected and self._healthy.is_set() and not self._stopped
        return ok, {
            "mqtt_connected": self._mqtt.connected,
            "kafka_sending": self._healthy.is_set(),
            "in_flight": len(self._acks),
            "retrying": len(self._failed),
            "broker_events": BROKER_EVENTS_FILTER not in self._mqtt.refused,
        }

    # --- hot path ------------------------------------------------------------------------
    # Records are appended to one open Kafka batch per (topic, partition).  Batches are
    # sent when one is full, or when linger_ms has passed since the first record of the
    # open batches (waiting for more messages meanwhile).  One delivery future per batch
    # instead of per record, and few produce requests, keep the CPU per message low for
    # the bridge and for the broker; linger_ms is the price in latency.

    async def _pump(self) -> None:
        queue = self._mqtt
        linger_s = self._settings.kafka.linger_ms / 1000
        batching = self._batching
        while True:
            if not self._healthy.is_set():
                async with batching:
                    self._park_open()
                await self._healthy.wait()
            if queue.empty():
                if self._open:
                    remaining = self._opened_at + linger_s - time.monotonic()
                    if remaining <= 0 or not await queue.wait_for_message(remaining):
                        async with batching:
                            await self._send_open()
                        continue
                    msg = queue.get_nowait()
                else:
                    msg = await queue.get()
            else:
                msg = queue.get_nowait()
            out = self._outgoing(msg)
            async with batching:
                await self._append(out)
                if self._open and time.monotonic() - self._opened_at >= linger_s:
                    await self._send_open()

    async def _send_open(self) -> None:
        """Send the open batches, unless a send failed meanwhile: then they wait their
        turn behind the failed records (per-device order)."""
        if self._healthy.is_set():
            await self._flush_all()
        else:
            self._park_open()

    def _outgoing(self, msg: Message) -> Outgoing:
        slot = self._acks.arrived(msg.mid, msg.qos)
        verdict = classify(
            msg.topic, msg.payload, now_s=msg.received_at, max_future_s=self._max_future_s
        )
        if isinstance(verdict, Accepted):
            self._received[verdict.topic].inc()
            if verdict.event is not None:
                self._broker_events[verdict.event].inc()
            topic, key, value = self._prefix + verdict.topic, verdict.device_id, verdict.value
        else:
            self._received["invalid"].inc()
            self.metrics.dead_letters.labels(verdict.reason.value).inc()
            topic, key = self._prefix + DLQ, (verdict.device_id or msg.topic)[:256]
            logged, suppressed = self._dead_letter_log.admit(key)
            if suppressed is not None:
                log.warning("%s", suppressed)
            if logged:
                log.info(
                    "dead letter (%s) from %s: %s", verdict.reason.value, msg.topic, verdict.detail
                )
            value = dead_letter_bytes(
                msg.payload, source_topic=msg.topic, verdict=verdict, received_at_s=msg.received_at
            )
        return Outgoing(
            next(self._order),
            slot,
            topic,
            key.encode(),
            value,
            msg.received_at,
            self._partition(topic, key),
        )

    def _partition(self, topic: str, key: str) -> int:
        """Kafka's default partitioner (murmur2 of the key), cached per key."""
        cached = self._partition_cache.get((topic, key))
        if cached is None:
            partitions = self._partitions[topic]
            cached = partitions[(murmur2(key.encode()) & 0x7FFFFFFF) % len(partitions)]
            self._partition_cache[(topic, key)] = cached
        return cached

    async def _append(self, out: Outgoing) -> None:
        where = (out.topic, out.partition)
        headers = [(RECEIVED_AT_HEADER, str(int(out.received_at * 1000)).encode())]
        for _ in range(2):
            batch = self._open.get(where)
            if batch is None:
                if not self._open:
                    self._opened_at = time.monotonic()
                batch = self._open[where] = (self._producer.create_batch(), [])
            if batch[0].append(timestamp=None, key=out.key, value=out.value, headers=headers):
                batch[1].append(out)
                return
            await self._flush(where)  # full: send it and start a new one
        raise IngestError(f"a {len(out.value)}-byte record does not fit an empty Kafka batch")

    async def _flush_all(self) -> list[asyncio.Future[Any]]:
        """Send every open batch; the delivery futures of those sent."""
        sent = []
        for where in list(self._open):
            fut = await self._flush(where)
            if fut is not None:
                sent.append(fut)
        return sent

    async def _flush(self, where: tuple[str, int]) -> asyncio.Future[Any] | None:
        entry = self._open.pop(where, None)
        if entry is None:  # sent meanwhile: stop() flushes without waiting for the lock
            return None
        builder, outs = entry
        if not outs:
            return None
        try:
            fut: asyncio.Future[Any] = await self._producer.send_batch(
                builder, where[0], partition=where[1]
            )
        except (KafkaError, OSError) as exc:
            self._failed_send(outs, exc)
            return None
        self.metrics.batch_records.observe(len(outs))
        fut.add_done_callback(lambda f: self._delivered(outs, f))
        return fut

    def _park_open(self) -> None:
        """Move the records of unsent batches to the failed ones (a send failed).

        Sending them now would put a device's newer readings into Kafka before its
        older ones that failed; the retry loop re-sends everything in arrival order.
        """
        for _builder, outs in self._open.values():
            self._failed.extend(outs)
        self._open.clear()
        self._wake_retry.set()

    def _delivered(self, outs: list[Outgoing], fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self._failed_send(outs, asyncio.CancelledError())
            return
        exc = fut.exception()
        if exc is not None:
            self._failed_send(outs, exc)
            return
        complete = self._acks.complete
        released: list[Slot] = []
        for out in outs:
            released.extend(complete(out.slot))
        # Once per batch, for its oldest record: the batch's worst receive-to-ack time.
        self.metrics.latency.observe(time.time() - outs[0].received_at)
        self._produced[outs[0].topic].inc(len(outs))
        mids = [slot.mid for slot in released if slot.qos > 0]
        if mids:
            self._mqtt.ack_many(mids)
            self.metrics.acked.inc(len(mids))
        self.metrics.in_flight.set(len(self._acks))

    def _failed_send(self, outs: list[Outgoing], exc: BaseException) -> None:
        self.metrics.send_errors.inc(len(outs))
        if not self._failed:
            log.warning("Kafka send failed (%r); pausing intake and retrying", exc)
        self._failed.extend(outs)
        self._healthy.clear()
        self._wake_retry.set()

    async def _retry(self) -> None:
        """Re-send failed records in arrival order; intake resumes only once Kafka
        acknowledged them (a re-send queued in the producer is not yet a delivery)."""
        backoff = Backoff(0.2, 5.0)
        while True:
            await self._wake_retry.wait()
            self._wake_retry.clear()
            await backoff.sleep()
            async with self._batching:
                self._park_open()  # newer unsent records go behind the failed ones
                self._wake_retry.clear()
                batch = sorted(self._failed, key=lambda o: o.order)
                self._failed = []
                for out in batch:
                    out.attempts += 1
                    await self._append(out)
                sent = await self._flush_all()
            await asyncio.gather(*sent, return_exceptions=True)
            await asyncio.sleep(0)  # the delivery callbacks have run
            if not self._failed:
                backoff.reset()
                self._healthy.set()
                log.info("Kafka sends resumed (%d records re-sent and acknowledged)", len(batch))


async def serve(settings: Settings, *, client_id: str | None = None) -> None:
    """Run a bridge until SIGTERM or SIGINT (drain, stop), or until it dies."""
    await run_until_signal(Bridge(settings, client_id=client_id), name="bridge")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wastewatch.ingest.bridge", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--client-id", default=None, help="MQTT client id (default WW_MQTT_CLIENT_ID)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, client_id=args.client_id))
    return 0


__all__ = ["BROKER_EVENTS_FILTER", "RECEIVED_AT_HEADER", "Bridge", "Message", "serve"]

if __name__ == "__main__":
    raise SystemExit(main())
