"""A device whose clock was never set sends ts 0: stored at the bridge's receive time,
and a re-send of the same reading (same device, boot, seq) is not stored twice even
though its receive time differs."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import psycopg
import pytest

from ingest.bridge import Bridge
from ingest.sink import Sink
from schema.common import TelemetryFlag
from tests.pipeline_helpers import isolated_settings, mqtt_port, publish_all
from wastewatch.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_clockless_readings_use_receive_time_and_are_not_duplicated(
    settings: Settings,
) -> None:
    tag = uuid.uuid4().hex[:8]
    city = f"clk-{tag}"
    device = f"clk{tag}-00"
    test_settings = isolated_settings(settings, city, tag)
    port = mqtt_port(settings)
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
        await asyncio.to_thread(publish_all, port, topic, [reading(0), reading(1)])
        await asyncio.sleep(1.5)
        # The same two readings again (a device re-sending after a lost PUBACK), plus one new.
        await asyncio.to_thread(publish_all, port, topic, [reading(0), reading(1), reading(2)])
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
