"""A device whose clock was never set sends ts 0: stored at the bridge's receive time,
and a re-send of the same reading (same device, boot, seq) is not stored twice even
though its receive time differs.  A time before EARLIEST_PLAUSIBLE_TS (2024) says the
same, whatever the flags: such readings were once stored at their own time, one new
hypertable chunk per distinct day (1970-1996 here, 104 readings)."""

from __future__ import annotations

import asyncio
import json
import random
import time

import psycopg
import pytest

from tests.pipeline_helpers import own_city, publish_all, settled_rows
from wastewatch.core.settings import Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.schema.common import TelemetryFlag
from wastewatch.schema.telemetry import EARLIEST_PLAUSIBLE_TS

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_clockless_readings_use_receive_time_and_are_not_duplicated(
    settings: Settings,
) -> None:
    tag, city, test_settings, port = own_city(settings, "clk")
    device = f"clk{tag}-00"
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
        rows = await settled_rows(
            settings.db.dsn,
            "select seq, extract(epoch from time)::float8 from readings "
            "where device_id = %s order by seq",
            [device],
            3,
        )
    assert [seq for seq, _ in rows] == [0, 1, 2]
    for _, stored_at in rows:
        assert before - 1 <= stored_at <= time.time() + 1  # receive time, not 1970


_OLD_CHUNKS = """
select chunk_schema || '.' || chunk_name from timescaledb_information.chunks
where hypertable_name in ('readings', 'device_status_history') and range_start < to_timestamp(%s)
"""


def old_chunks(settings: Settings) -> set[str]:
    """Chunks of the device tables that lie before the plausible time."""
    with psycopg.connect(settings.db.dsn) as conn:
        return {name for (name,) in conn.execute(_OLD_CHUNKS, [EARLIEST_PLAUSIBLE_TS])}


@pytest.mark.asyncio
async def test_readings_dated_before_the_plausible_time_are_clockless(settings: Settings) -> None:
    tag, city, test_settings, port = own_city(settings, "old")
    device = f"old{tag}-00"
    rng = random.Random(tag)
    day = 86_400
    # The epoch itself, days of 1970-1996 (each would have been a chunk of its own),
    # MicroPython's epoch (2000-01-01) and the last implausible second; no CLOCK_UNSET flag.
    stamps = [1, 820_454_400, 946_684_800, EARLIEST_PLAUSIBLE_TS - 1]
    stamps += [rng.randrange(0, 9_862) * day + rng.randrange(day) for _ in range(12)]

    def reading(seq: int) -> bytes:
        body = {"v": 1, "id": device, "boot": 5, "seq": seq, "ts": stamps[seq], "d_mm": 700}
        return json.dumps(body | {"fill": 0.3, "fl": 0, "drop": 0}).encode()

    telemetry = f"ww/{city}/bins/{device}/telemetry"
    status = f"ww/{city}/bins/{device}/status"
    online = json.dumps({"v": 1, "state": "online", "id": device, "ts": 820_454_400}).encode()
    chunks_before = old_chunks(settings)
    before = time.time()
    async with Bridge(test_settings), Sink(test_settings):
        payloads = [reading(seq) for seq in range(len(stamps))]
        await asyncio.to_thread(publish_all, port, telemetry, payloads)
        await asyncio.to_thread(publish_all, port, status, [online])
        await asyncio.sleep(1.5)
        # Every reading again, received later (a device re-sending after lost PUBACKs).
        await asyncio.to_thread(publish_all, port, telemetry, payloads)
        deadline = time.monotonic() + 30
        rows: list[tuple[int, float, float]] = []
        query = (
            "select seq, extract(epoch from time)::float8, extract(epoch from received_at)::float8"
            " from readings where device_id = %s order by seq, time"
        )
        while time.monotonic() < deadline:
            with psycopg.connect(settings.db.dsn) as conn:
                rows = conn.execute(query, [device]).fetchall()
            if len(rows) >= len(stamps):
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.5)  # the re-sent copies have had their chance to be stored
        with psycopg.connect(settings.db.dsn) as conn:
            rows = conn.execute(query, [device]).fetchall()
            history = conn.execute(
                "select extract(epoch from time)::float8 from device_status_history "
                "where device_id = %s",
                [device],
            ).fetchall()
    after = time.time()
    assert [seq for seq, _, _ in rows] == list(range(len(stamps))), "each reading stored once"
    for seq, stored_at, received in rows:
        assert before - 1 <= stored_at <= after + 1, f"seq {seq} stored at {stored_at}"
        assert stored_at == received, "clockless: stored at the bridge's receive time"
    assert len(history) == 1
    assert before - 1 <= history[0][0] <= after + 1, "a status of 1996 is stored at receive time"
    created = old_chunks(settings) - chunks_before
    assert not created, f"chunks before {EARLIEST_PLAUSIBLE_TS} were created: {sorted(created)}"
