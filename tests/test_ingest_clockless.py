"""A device whose clock was never set sends ts 0: stored at the bridge's receive time,
and a re-send of the same reading (same device, boot, seq) is not stored twice even
though its receive time differs."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.bridge import Bridge
from ingest.sink import Sink
from schema.common import TelemetryFlag
from wastewatch.settings import Settings

pytestmark = pytest.mark.integration


def _send(port: int, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    for body in payloads:
        client.publish(topic, body, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


@pytest.mark.asyncio
async def test_clockless_readings_use_receive_time_and_are_not_duplicated(
    settings: Settings,
) -> None:
    tag = uuid.uuid4().hex[:8]
    city = f"clk-{tag}"
    device = f"clk{tag}-00"
    test_settings = settings.model_copy(
        update={
            "city": city,
            "mqtt": settings.mqtt.model_copy(update={"client_id": f"b-{tag}"}),
            "ingest": settings.ingest.model_copy(
                update={"bridge_metrics_port": 0, "sink_metrics_port": 0, "sink_group": f"s{tag}"}
            ),
        }
    )
    port = int(settings.mqtt.url.rsplit(":", 1)[1])
    flags = int(TelemetryFlag.CLOCK_UNSET)

    def reading(seq: int) -> bytes:
        body = {
            "v": 1,
            "id": device,
            "boot": 3,
            "seq": seq,
            "ts": 0,
            "d_mm": 800,
            "fill": 0.2,
            "fl": flags,
            "drop": 0,
        }
        return json.dumps(body).encode()

    topic = f"ww/{city}/bins/{device}/telemetry"
    before = time.time()
    async with Bridge(test_settings), Sink(test_settings):
        await asyncio.to_thread(_send, port, topic, [reading(0), reading(1)])
        await asyncio.sleep(1.5)
        # The same two readings again (a device re-sending after a lost PUBACK), plus one new.
        await asyncio.to_thread(_send, port, topic, [reading(0), reading(1), reading(2)])
        deadline = time.monotonic() + 30
        rows: list[tuple[int, float]] = []
        while time.monotonic() < deadline:
            with psycopg.connect(settings.db.dsn) as conn:
                rows = conn.execute(
                    "select seq, extract(epoch from time)::float8 from readings "
                    "where device_id = %s order by seq",
                    [device],
                ).fetchall()
            if len(rows) >= 3:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # a wrongly stored duplicate would show up by now
        with psycopg.connect(settings.db.dsn) as conn:
            rows = conn.execute(
                "select seq, extract(epoch from time)::float8 from readings "
                "where device_id = %s order by seq",
                [device],
            ).fetchall()
    assert [seq for seq, _ in rows] == [0, 1, 2]
    for _, stored_at in rows:
        assert before - 1 <= stored_at <= time.time() + 1  # receive time, not 1970
