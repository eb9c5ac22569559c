"""Processors against the real services: end to end through MQTT, restart and replay.

A module database of its own (the determinism checks empty the processor
tables between runs), a city and Kafka topics of each test's own.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import StackEnv, fresh_database
from tests.mqtt_login import local_client, running
from tests.pipeline_helpers import PROCESSOR_TABLES, earliest_consumer, seed_registry, snapshot
from wastewatch.core.settings import DbSettings, KafkaSettings, Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.processors.service import ProcessorService
from wastewatch.schema.common import TelemetryFlag as F

pytestmark = pytest.mark.integration

T0 = 1_767_200_400  # 2025-12-31T17:00:00Z = 2026-01-01 00:00 in Bangkok
STEP = 900
HOURS = 60


@dataclass(frozen=True)
class City:
    tag: str
    city: str
    devices: list[str]
    site: str


@pytest.fixture(scope="module")
def proc_db(stack_env: StackEnv) -> Iterator[DbSettings]:
    with fresh_database(stack_env, "ww_proc") as db:
        yield db.settings()


def make_city(db: DbSettings, n: int = 6) -> City:
    tag = uuid.uuid4().hex[:6]
    city = City(tag, f"p-{tag}", [f"pd{tag}-{i:02d}" for i in range(n)], f"lf-{tag}")
    seed_registry(
        db.dsn,
        zone=f"z{tag}",
        site=city.site,
        depot=f"dp-{tag}",
        truck=f"tr-{tag}",
        bins=[(f"pb{tag}-{i:02d}", dev) for i, dev in enumerate(city.devices)],
    )
    return city


def payloads(city: City) -> list[tuple[int, str, bytes]]:
    """(publish time, device, payload) in publish order: readings with collections at 05:00
    Bangkok every day, a fire on device 0, a tip-over on device 1, an outage of device 2
    whose readings are buffered and sent on reconnect."""
    out: list[tuple[int, str, bytes]] = []
    for d, dev in enumerate(city.devices):
        fill = 0.1 + 0.05 * d
        held: list[bytes] = []
        for k in range(HOURS * 3600 // STEP):
            t = T0 + k * STEP + d
            hour = k * STEP // 3600
            if (t + 7 * 3600) % 86_400 // STEP == 5 * 4:
                fill = 0.02
            fill = min(1.0, fill + 0.012 + 0.002 * d)
            flags, temp, d_mm = 0, 30.0 + (k % 7) * 0.1, round(1250 - fill * 1000) + (k * 7 + d) % 5
            level: float | None = round((1250 - d_mm) / 1000, 4)
            if d == 0 and 30 <= hour < 31:
                flags, temp = int(F.FIRE), 150.0
            if d == 1 and 20 <= hour < 23:
                flags, level, d_mm = int(F.TILTED | F.NO_ECHO), None, None
            body = {
                "v": 1,
                "id": dev,
                "boot": 1,
                "seq": k,
                "ts": t,
                "d_mm": d_mm,
                "fill": level,
                "t_c": temp,
                "bat_mv": 3900 - k,
                "rssi": -70,
                "fl": flags,
                "drop": 0,
            }
            if d == 2 and 40 <= hour < 44:
                body["fl"] = flags | int(F.BUFFERED)
                held.append(json.dumps(body).encode())
                continue
            if held:
                out.extend((t, dev, p) for p in held)
                held = []
            out.append((t, dev, json.dumps(body).encode()))
    out.sort(key=lambda x: x[0])
    return out


def settings_for(db: DbSettings, kafka: KafkaSettings, city: City, env: StackEnv) -> Settings:
    s = Settings(mqtt=env.mqtt_settings(), kafka=kafka, db=db, city=city.city)
    return s.model_copy(
        update={
            "ingest": s.ingest.model_copy(
                update={
                    "bridge_metrics_port": 0,
                    "sink_metrics_port": 0,
                    "sink_group": f"sink-{city.tag}",
                }
            ),
            "processors": s.processors.model_copy(
                update={"metrics_port": 0, "group_prefix": f"pr-{city.tag}-", "batch_ms": 50}
            ),
        }
    )


async def wait_idle(svc: ProcessorService, readings: int, quiet_s: float = 1.0) -> None:
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        rs = [r for r in svc.runners if "waste.readings.v1" in r.stage.topics]
        if all(r.records_done >= readings for r in rs) and all(
            time.time() - r.last_commit > quiet_s for r in svc.runners if r.last_commit
        ):
            return
    raise AssertionError(
        "processors did not finish: "
        f"{[(r.name, r.records_done, r.stage.assigned) for r in svc.runners]}"
    )


def clear(db: DbSettings) -> None:
    with psycopg.connect(db.dsn) as conn:
        conn.execute("truncate " + ", ".join(t for t in PROCESSOR_TABLES if t != "processor_state"))
        conn.execute("truncate processor_state, webhook_outbox")


async def produce(kafka: KafkaSettings, items: list[tuple[int, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futs = [
            await producer.send(kafka.topic_prefix + "waste.readings.v1", p, key=dev.encode())
            for _, dev, p in items
        ]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.fail_first > 0:
            Hook.fail_first -= 1
            self.send_response(503)
        else:
            Hook.received.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_end_to_end_through_mqtt_bridge_sink_and_processors(
    proc_db: DbSettings, own_topics: KafkaSettings, stack_env: StackEnv
) -> None:
    city = make_city(proc_db)
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = settings_for(proc_db, own_topics, city, stack_env)
    base = base.model_copy(
        update={
            "processors": base.processors.model_copy(
                update={
                    "webhook_url": f"http://127.0.0.1:{server.server_port}/hook",
                    "webhook_backoff_s": 0.2,
                }
            )
        }
    )
    items = payloads(city)
    ticket = {
        "ticket_id": f"T-{city.tag}-1",
        "site_id": city.site,
        "truck_id": f"tr-{city.tag}",
        "weighed_at": "2026-01-01T03:00:00Z",
        "gross_kg": 15500.0,
        "tare_kg": 9500.0,
        "net_kg": 6000.0,
        "waste_stream": "general",
    }
    try:
        async with (
            Bridge(base, client_id=f"b-{city.tag}"),
            Sink(base),
            ProcessorService(base) as svc,
        ):
            await asyncio.to_thread(_publish, stack_env.mqtt_port, city, items, ticket)
            await wait_idle(svc, len(items))
            deadline = time.monotonic() + 15
            while not Hook.received and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # the HTTP server lives in a thread
            alerts_seen = await _read_topic(own_topics, "waste.alerts.v1")
            events_seen = await _read_topic(own_topics, "waste.events.v1")
    finally:
        server.shutdown()
    snap = snapshot(proc_db)
    mine = [c for c in snap["collections"] if c[3] in city.devices]
    # 60 hours from midnight: emptied at 05:00 Bangkok on three days, every device
    assert len(mine) == 3 * len(city.devices), mine
    assert {c[0].hour for c in mine} == {22}  # 05:00 Bangkok
    assert len(events_seen) == len(mine)
    kinds = {(a[1], a[5]) for a in snap["alerts"]}
    assert ("fire", city.devices[0]) in kinds
    assert ("tipped_over", city.devices[1]) in kinds
    assert ("offline", city.devices[2]) in kinds
    offline = next(a for a in snap["alerts"] if a[1] == "offline")
    assert offline[3] == "resolved"
    assert {json.loads(v)["kind"] for v in alerts_seen} >= {"fire", "tipped_over", "offline"}
    assert [h["kind"] for h in Hook.received] == ["fire"]  # after one failed attempt
    states = {s[0]: s for s in snap["bin_state"]}
    assert len(states) == len(city.devices)
    assert all(s[6] in ("overflowing", "urgent", "soon", "fine") for s in states.values())
    assert any(s[3] is not None for s in states.values())  # forecasts were made
    # How fast each bin refills, for the planner's repeat visits (migration 0013).
    assert any(s[10] is not None for s in states.values())
    assert all(s[10] is None or s[10] > 0 for s in states.values())
    assert len(snap["bin_hourly"]) >= len(city.devices) * HOURS - 10
    zone_days = [z for z in snap["zone_stream_daily"] if z[1] == f"z{city.tag}"]
    assert sum(z[3] for z in zone_days) == len(mine)
    daily = [d for d in snap["landfill_daily"] if d[0] == city.site]
    assert any(d[3] == 1 and float(d[4]) == 6000.0 and d[9] for d in daily)
    assert any(p[0] == city.site for p in snap["landfill_projections"])
    with psycopg.connect(proc_db.dsn) as conn:
        stored = conn.execute(
            "select count(*) from readings where device_id = any(%s)", [city.devices]
        ).fetchone()
    assert stored == (len(items),)


def _publish(
    port: int, city: City, items: list[tuple[int, str, bytes]], ticket: dict[str, Any]
) -> None:
    client = local_client(port, f"pub-{city.tag}")
    client.max_inflight_messages_set(500)
    with running(client, port):
        infos = [
            client.publish(f"ww/{city.city}/bins/{dev}/telemetry", p, qos=1) for _, dev, p in items
        ]
        infos.append(
            client.publish(
                f"ww/{city.city}/landfill/{city.site}/tickets", json.dumps(ticket).encode(), qos=1
            )
        )
        for info in infos:
            info.wait_for_publish(30)


async def _read_topic(kafka: KafkaSettings, name: str) -> list[bytes]:
    consumer = earliest_consumer(kafka.bootstrap, kafka.topic_prefix + name)
    await consumer.start()
    try:
        out: list[bytes] = []
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                return out
            out.extend(r.value for recs in batch.values() for r in recs)
    finally:
        await consumer.stop()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_restart_in_the_middle_and_replay_give_identical_tables(
    proc_db: DbSettings, own_topics: KafkaSettings, stack_env: StackEnv
) -> None:
    city = make_city(proc_db)
    items = payloads(city)
    half = len(items) // 2
    await produce(own_topics, items[:half])
    clear(proc_db)
    t0 = time.monotonic()

    # 1. half the log, stop, the rest arrives, start again (same consumer groups)
    s1 = settings_for(proc_db, own_topics, city, stack_env)
    async with ProcessorService(s1) as svc:
        await wait_idle(svc, half)
    await produce(own_topics, items[half:])
    async with ProcessorService(s1) as svc:
        await wait_idle(svc, len(items) - half)
    restarted = snapshot(proc_db)
    assert restarted["collections"]
    assert restarted["alerts"]
    assert restarted["fill_forecasts"]
    print(f"restarted run {time.monotonic() - t0:.1f} s")

    # 2. replay the whole log from scratch (new consumer groups, emptied tables), twice
    for run in (2, 3):
        clear(proc_db)
        s = s1.model_copy(
            update={
                "processors": s1.processors.model_copy(
                    update={"group_prefix": f"pr{run}-{city.tag}-", "batch_max": 100 * run}
                )
            }
        )
        async with ProcessorService(s) as svc:
            await wait_idle(svc, len(items))
        again = snapshot(proc_db)
        for name in PROCESSOR_TABLES:
            diff = [x for x in zip(again[name], restarted[name], strict=False) if x[0] != x[1]]
            assert again[name] == restarted[name], (run, name, diff[:2])
        print(f"replay {run} {time.monotonic() - t0:.1f} s")
