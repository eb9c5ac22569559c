"""The MQTT -> Kafka bridge.

Delivery semantics
------------------
* MQTT side: QoS 1 subscription, persistent session (clean_start=False and a
  Session Expiry Interval), **manual acks**: a message's PUBACK is sent only
  after Kafka acknowledged its record with ``acks="all"``, and PUBACKs leave
  in arrival order (`ingest.acks`).  A crash before the PUBACK makes the
  broker redeliver the message (DUP) to the next session: at-least-once.
* Kafka side: key = device id (each device's readings stay in one partition,
  in order), batched by linger/batch size; the idempotent producer is used
  where the broker supports it (``WW_KAFKA_ENABLE_IDEMPOTENCE``).  Duplicates
  from redelivery are removed by the sink's idempotent insert.
* Invalid input is never dropped and never blocks: it becomes a dead letter
  (`waste.dlq.v1`, reason and original bytes) and is acked once the dead
  letter is in Kafka.
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
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ingest.acks import InOrderAcks, Slot
from ingest.errors import KafkaUnavailableError
from ingest.mqtt import Message, MqttSource
from ingest.validate import DLQ, Accepted, classify, dead_letter_bytes
from schema.topics import DeviceTopicKind, device_filter
from wastewatch.logs import configure
from wastewatch.observability import MetricsServer
from wastewatch.settings import Settings, load_settings

log = logging.getLogger(__name__)
RECEIVED_AT_HEADER = "received_at_ms"


@dataclass(slots=True)
class Outgoing:
    """A record on its way to Kafka, with the MQTT message it acknowledges."""

    order: int
    slot: Slot
    topic: str
    key: bytes
    value: bytes
    received_at: float
    attempts: int = field(default=0)


class BridgeMetrics:
    """Prometheus series of one bridge (own registry, so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "ww_bridge_received", "MQTT messages received", ["kind"], registry=r
        )
        self.produced = Counter(
            "ww_bridge_produced", "records Kafka acknowledged", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "ww_bridge_dead_letters", "messages sent to the DLQ", ["reason"], registry=r
        )
        self.acked = Counter("ww_bridge_mqtt_acked", "PUBACKs sent", registry=r)
        self.send_errors = Counter(
            "ww_bridge_kafka_send_errors", "failed Kafka sends (retried)", registry=r
        )
        self.in_flight = Gauge(
            "ww_bridge_in_flight", "messages received and not yet acked", registry=r
        )
        self.latency = Histogram(
            "ww_bridge_receive_to_ack_seconds",
            "MQTT receive to Kafka ack",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
        )


class Bridge:
    """Consume device messages from MQTT and produce them to Kafka; `async with` it."""

    def __init__(self, settings: Settings, *, client_id: str | None = None) -> None:
        self._settings = settings
        ingest = settings.ingest
        filters = [
            device_filter(DeviceTopicKind.TELEMETRY, settings.city),
            device_filter(DeviceTopicKind.STATUS, settings.city),
        ]
        if ingest.share_group:
            filters = [f"$share/{ingest.share_group}/{f}" for f in filters]
        self.metrics = BridgeMetrics()
        self._mqtt = MqttSource(
            url=settings.mqtt.url,
            client_id=client_id or settings.mqtt.client_id,
            subscriptions=filters,
            receive_maximum=ingest.receive_maximum,
            session_expiry_s=ingest.session_expiry_s,
            keepalive_s=settings.mqtt.keepalive_s,
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
            client_id=f"ww-bridge-{client_id or settings.mqtt.client_id}",
        )
        self._acks = InOrderAcks()
        self._order = itertools.count()
        self._failed: list[Outgoing] = []
        self._healthy = asyncio.Event()
        self._healthy.set()
        self._wake_retry = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http = MetricsServer(
            self.metrics.registry,
            self.health,
            host=ingest.metrics_host,
            port=ingest.bridge_metrics_port,
        )
        self._started = False
        self._stopped = False

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:
            await self._producer.stop()
            raise KafkaUnavailableError(
                f"cannot reach Kafka at {self._settings.kafka.bootstrap}: {exc!r}"
            ) from exc
        try:
            await self._mqtt.start()
        except Exception:
            await self._producer.stop()
            raise
        self._started = True
        await self._http.start()
        self._tasks = [
            asyncio.create_task(self._pump(), name="bridge-pump"),
            asyncio.create_task(self._retry(), name="bridge-retry"),
        ]
        log.info(
            "bridge started: %s -> %s", self._settings.mqtt.url, self._settings.kafka.bootstrap
        )

    async def stop(self) -> None:
        """Drain: stop intake, let Kafka acknowledge what is in flight, ack it, disconnect."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        pump, retry = self._tasks
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        try:
            await asyncio.wait_for(self._producer.flush(), self._settings.ingest.shutdown_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning(
                "stop: Kafka did not acknowledge everything (%r); the broker will redeliver", exc
            )
        await asyncio.sleep(0)  # delivery callbacks run and queue their PUBACKs
        retry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retry
        await self._mqtt.stop()
        await self._producer.stop()
        await self._http.stop()
        log.info("bridge stopped; %d messages left unacked for redelivery", len(self._acks))

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def metrics_port(self) -> int:
        return self._http.port

    def health(self) -> dict[str, Any]:
        ok = self._mqtt.connected and self._healthy.is_set() and not self._stopped
        return {
            "status": "ok" if ok else "degraded",
            "service": "bridge",
            "mqtt_connected": self._mqtt.connected,
            "kafka_sending": self._healthy.is_set(),
            "in_flight": len(self._acks),
            "retrying": len(self._failed),
        }

    # --- hot path ------------------------------------------------------------------------
    async def _pump(self) -> None:
        queue = self._mqtt.queue
        prefix = self._prefix
        max_future_s = self._settings.ingest.max_future_s
        received = self.metrics.received
        while True:
            if not self._healthy.is_set():
                await self._healthy.wait()
            msg = await queue.get()
            slot = self._acks.arrived(msg.mid, msg.qos)
            verdict = classify(
                msg.topic, msg.payload, now_s=msg.received_at, max_future_s=max_future_s
            )
            if isinstance(verdict, Accepted):
                received.labels(verdict.topic).inc()
                out = Outgoing(
                    next(self._order),
                    slot,
                    prefix + verdict.topic,
                    verdict.device_id.encode(),
                    verdict.value,
                    msg.received_at,
                )
            else:
                received.labels("invalid").inc()
                self.metrics.dead_letters.labels(verdict.reason.value).inc()
                log.info(
                    "dead letter (%s) from %s: %s", verdict.reason.value, msg.topic, verdict.detail
                )
                out = Outgoing(
                    next(self._order),
                    slot,
                    prefix + DLQ,
                    (verdict.device_id or msg.topic).encode()[:256],
                    dead_letter_bytes(
                        msg.payload,
                        source_topic=msg.topic,
                        verdict=verdict,
                        received_at_s=msg.received_at,
                    ),
                    msg.received_at,
                )
            await self._send(out)

    async def _send(self, out: Outgoing) -> None:
        out.attempts += 1
        headers = [(RECEIVED_AT_HEADER, str(int(out.received_at * 1000)).encode())]
        try:
            fut = await self._producer.send(out.topic, out.value, key=out.key, headers=headers)
        except (KafkaError, OSError) as exc:
            self._failed_send(out, exc)
            return
        fut.add_done_callback(lambda f: self._delivered(out, f))

    def _delivered(self, out: Outgoing, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self._failed_send(out, asyncio.CancelledError())
            return
        exc = fut.exception()
        if exc is not None:
            self._failed_send(out, exc)
            return
        self.metrics.produced.labels(out.topic).inc()
        self.metrics.latency.observe(time.time() - out.received_at)
        released = self._acks.complete(out.slot)
        acked = 0
        for slot in released:
            if slot.qos > 0:
                self._mqtt.ack(slot.mid)
                acked += 1
        if acked:
            self.metrics.acked.inc(acked)
        self.metrics.in_flight.set(len(self._acks))

    def _failed_send(self, out: Outgoing, exc: BaseException) -> None:
        self.metrics.send_errors.inc()
        if not self._failed:
            log.warning("Kafka send failed (%r); pausing intake and retrying", exc)
        self._failed.append(out)
        self._healthy.clear()
        self._wake_retry.set()

    async def _retry(self) -> None:
        backoff = 0.2
        while True:
            await self._wake_retry.wait()
            self._wake_retry.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            batch = sorted(self._failed, key=lambda o: o.order)
            self._failed = []
            for out in batch:
                await self._send(out)
            if not self._failed:
                backoff = 0.2
                self._healthy.set()
                log.info("Kafka sends resumed (%d records re-sent)", len(batch))


async def serve(settings: Settings, *, client_id: str | None = None) -> None:
    """Run a bridge until SIGTERM or SIGINT, then drain and stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Bridge(settings, client_id=client_id):
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.bridge", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--client-id", default=None, help="MQTT client id (default WW_MQTT_CLIENT_ID)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, client_id=args.client_id))
    return 0


__all__ = ["RECEIVED_AT_HEADER", "Bridge", "Message", "serve"]

if __name__ == "__main__":
    raise SystemExit(main())
