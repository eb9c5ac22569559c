"""A naive MQTT -> Kafka -> PostgreSQL bridge, as a user might first write it.

It is the baseline the real bridge and sink are compared with: everything
happens inside paho's ``on_message`` callback, one reading at a time:
validate, ``send_and_wait`` to Kafka (``acks="all"``), one ``INSERT`` and one
``COMMIT``, then return so paho sends the PUBACK.  It is correct (at least
once, nothing acknowledged before it is stored) but every reading pays a
Kafka round trip and a synchronous commit in series.

It runs in its own process (``spawn``), on a topic tree of its own
(``wwbench/<run>/naive/...``) so that no real bridge sees its traffic, and
writes device ids ``naive-dev-*`` so its rows never count as end-to-end rows.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from aiokafka import AIOKafkaProducer

from wastewatch.schema import DeviceTelemetry
from wastewatch.workbench.bench.mqtt_load import MqttTarget, ignore_interrupts
from wastewatch.workbench.simulators import new_client

__all__ = ["NaiveConfig", "NaiveResult", "naive_main"]

_INSERT = """
INSERT INTO readings (time, device_id, boot_counter, seq, distance_mm, fill_level,
                      temperature_c, battery_mv, rssi_dbm, flags, dropped_count,
                      payload_version)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


@dataclass(frozen=True, slots=True)
class NaiveConfig:
    """Where the naive bridge reads, produces and writes, and when it stops."""

    target: MqttTarget
    client_id: str
    topic_filter: str
    kafka_bootstrap: str
    kafka_topic: str
    db_dsn: str
    expected: int
    """Stop after this many readings ..."""
    window_s: float
    """... or this long after the first one arrived, whichever comes first."""
    hard_timeout_s: float
    """Give up this long after being ready, whatever happened."""


@dataclass(frozen=True, slots=True)
class NaiveResult:
    """What the naive bridge got through."""

    processed: int
    first_receive: float
    last_done: float
    stopped_by: str
    """``all`` (every expected reading), ``window`` or ``timeout``."""


def naive_main(cfg: NaiveConfig, results: Queue[tuple[str, int, Any]]) -> None:
    """Process entry point: set up, report ready, bridge until done, report the result."""
    ignore_interrupts()
    try:
        results.put(("done", 0, _run(cfg, results)))
    except Exception as exc:
        results.put(("error", 0, f"naive bridge: {type(exc).__name__}: {exc}"))


async def _start_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await asyncio.wait_for(producer.start(), 30)
    return producer


def _run(cfg: NaiveConfig, results: Queue[tuple[str, int, Any]]) -> NaiveResult:
    loop = asyncio.new_event_loop()
    producer = loop.run_until_complete(_start_producer(cfg.kafka_bootstrap))
    conn = psycopg.connect(cfg.db_dsn, connect_timeout=10)
    client = new_client(cfg.target, cfg.client_id)
    state: dict[str, float] = {"processed": 0, "first": math.nan, "last": math.nan}
    stopped_by = ["timeout"]
    try:
        # Warm the producer's metadata for the topic, so the first reading does not pay it.
        loop.run_until_complete(producer.send_and_wait(cfg.kafka_topic, b"{}", key=b"warm-up"))

        def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            now = time.time()
            if not state["processed"]:
                state["first"] = now
            reading = DeviceTelemetry.model_validate_json(msg.payload)
            loop.run_until_complete(
                producer.send_and_wait(
                    cfg.kafka_topic, reading.to_json_bytes(), key=reading.device_id.encode()
                )
            )
            conn.execute(
                _INSERT,
                (
                    reading.time,
                    reading.device_id,
                    reading.boot_count,
                    reading.sequence,
                    reading.distance_mm,
                    reading.fill_level,
                    reading.temperature_c,
                    reading.battery_mv,
                    reading.rssi_dbm,
                    reading.flag_bits,
                    reading.dropped_count,
                    reading.version,
                ),
            )
            conn.commit()
            state["processed"] += 1
            state["last"] = done_at = time.time()
            if state["processed"] >= cfg.expected:
                stopped_by[0] = "all"
                c.disconnect()
            elif done_at - state["first"] >= cfg.window_s:
                stopped_by[0] = "window"
                c.disconnect()

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
            c.subscribe(cfg.topic_filter, qos=1)

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_subscribe = lambda *_a: results.put(("ready", 0, None))
        client.connect(cfg.target.host, cfg.target.port, keepalive=30)
        watchdog = threading.Timer(cfg.hard_timeout_s, client.disconnect)
        watchdog.daemon = True
        watchdog.start()
        try:
            client.loop_forever()
        finally:
            watchdog.cancel()
    finally:
        conn.close()
        loop.run_until_complete(producer.stop())
        loop.close()
    return NaiveResult(
        processed=int(state["processed"]),
        first_receive=state["first"],
        last_done=state["last"],
        stopped_by=stopped_by[0],
    )
