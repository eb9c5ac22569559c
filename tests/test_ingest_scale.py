"""Scale-out: two bridges in one MQTT shared-subscription group split the traffic,
and together store every reading exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import psycopg
import pytest

from tests.mqtt_login import local_client, running
from wastewatch.core.settings import Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink

pytestmark = pytest.mark.integration


def _publish(port: int, city: str, prefix: str, count: int) -> int:
    client = local_client(port)
    client.max_inflight_messages_set(500)
    ts = int(time.time())
    infos = []
    with running(client, port):
        for i in range(count):
            device = f"{prefix}-{i % 50:02d}"
            body = {
                "v": 1,
                "id": device,
                "boot": 0,
                "seq": i // 50,
                "ts": ts,
                "d_mm": 300,
                "fill": 0.7,
                "fl": 0,
                "drop": 0,
            }
            topic = f"ww/{city}/bins/{device}/telemetry"
            infos.append(client.publish(topic, json.dumps(body).encode(), qos=1))
        for info in infos:
            info.wait_for_publish(30)
    return sum(1 for info in infos if info.is_published())


@pytest.mark.asyncio
async def test_two_bridges_share_the_load(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    city = f"share-{tag}"
    base = settings.model_copy(
        update={
            "city": city,
            "ingest": settings.ingest.model_copy(
                update={
                    "share_group": f"g{tag}",
                    "bridge_metrics_port": 0,
                    "sink_metrics_port": 0,
                    "sink_group": f"sink-{tag}",
                }
            ),
        }
    )
    port = int(settings.mqtt.url.rsplit(":", 1)[1])
    prefix = f"sh{tag[:6]}"
    async with (
        Bridge(base, client_id=f"a-{tag}") as a,
        Bridge(base, client_id=f"b-{tag}") as b,
        Sink(base),
    ):
        acked = await asyncio.to_thread(_publish, port, city, prefix, 1000)
        assert acked == 1000
        deadline = time.monotonic() + 60
        while True:
            with psycopg.connect(settings.db.dsn) as conn:
                total, distinct = conn.execute(
                    "select count(*), count(distinct (device_id, seq)) from readings "
                    "where device_id like %s",
                    [prefix + "-%"],
                ).fetchone() or (0, 0)
            if distinct >= 1000 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
    assert (total, distinct) == (1000, 1000)
    got_a = a.metrics.received.labels("waste.readings.v1")._value.get()
    got_b = b.metrics.received.labels("waste.readings.v1")._value.get()
    assert got_a + got_b == 1000
    assert got_a > 0, (got_a, got_b)
    assert got_b > 0, (got_a, got_b)
