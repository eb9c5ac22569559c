"""Write batches of rows to TimescaleDB idempotently, in one transaction each.

Readings are copied (binary COPY) into a session temp table and moved with
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` on the natural key, joining
the bin registry for ``bin_id`` on the way: a batch replayed after a crash
inserts nothing twice, and the COPY keeps the per-row cost low.  Status goes
to its history (idempotent) and to the latest-state table; weighbridge tickets
to ``landfill_deliveries`` (idempotent on site, ticket and time), where an older
status never overwrites a newer one.  The broker's reports of what it refused go to
``broker_events``, idempotent on the whole report (time, event, address, client,
access, topic): the copy a second bridge forwards, or a replay, inserts nothing.

A device whose clock was never set sends ``ts`` 0 (and the CLOCK_UNSET flag),
or a time before 2024 (``EARLIEST_PLAUSIBLE_TS``: 1970, MicroPython's 2000
epoch); its reading is stored at the bridge's receive time (`wastewatch.ingest.rows`).  That time
differs
between a delivery and its redelivery, so the natural key cannot catch such a
duplicate: those rows are deduplicated on (device, boot, seq) over the
preceding week instead, which the natural-key index answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from wastewatch.ingest.rows import (
    BROKER_EVENT_COLUMNS,
    READING_COLUMNS,
    STAGE_COLUMNS,
    STAGE_TYPES,
    STATUS_COLUMNS,
    TICKET_COLUMNS,
)

_STAGE = "ww_readings_stage"
_COLS = ", ".join(READING_COLUMNS)
_STAGE_COLS = ", ".join(STAGE_COLUMNS)
_SELECT = ", ".join("s." + c for c in READING_COLUMNS)

_CREATE_STAGE = f"""
create temp table if not exists {_STAGE} (
    time timestamptz, device_id text, boot_counter int4, seq int4, distance_mm int4,
    fill_level float4, temperature_c float4, battery_mv int4, rssi_dbm int2, flags int4,
    dropped_count int4, payload_version int2, received_at timestamptz, clock_unset bool
) on commit delete rows
"""
_MOVE = f"""
insert into readings ({_COLS}, bin_id)
select {_SELECT}, b.bin_id
from {_STAGE} s left join bins b on b.device_id = s.device_id
where not s.clock_unset
on conflict do nothing
"""
_MOVE_CLOCKLESS = f"""
insert into readings ({_COLS}, bin_id)
select distinct on (s.device_id, s.boot_counter, s.seq) {_SELECT}, b.bin_id
from {_STAGE} s left join bins b on b.device_id = s.device_id
where s.clock_unset and not exists (
    select 1 from readings r
    where r.device_id = s.device_id and r.boot_counter = s.boot_counter and r.seq = s.seq
      and r.time >= s.time - interval '7 days' and r.time <= s.time
)
order by s.device_id, s.boot_counter, s.seq, s.time
on conflict do nothing
"""
_TICKETS = f"""
insert into landfill_deliveries ({", ".join(TICKET_COLUMNS)})
values ({", ".join(["%s"] * len(TICKET_COLUMNS))})
on conflict do nothing
"""
_BROKER_EVENTS = f"""
insert into broker_events ({", ".join(BROKER_EVENT_COLUMNS)})
values ({", ".join(["%s"] * len(BROKER_EVENT_COLUMNS))})
on conflict do nothing
"""
_STATUS_HISTORY = f"""
insert into device_status_history ({", ".join(STATUS_COLUMNS)})
values ({", ".join(["%s"] * len(STATUS_COLUMNS))})
on conflict do nothing
"""
_STATUS_LATEST = """
insert into device_status as d
    (device_id, state, firmware_version, boot_counter, reason, changed_at, received_at)
values (%s, %s, %s, %s, %s, %s, %s)
on conflict (device_id) do update set
    state = excluded.state,
    firmware_version = coalesce(excluded.firmware_version, d.firmware_version),
    boot_counter = coalesce(excluded.boot_counter, d.boot_counter), reason = excluded.reason,
    changed_at = excluded.changed_at, received_at = excluded.received_at
where excluded.changed_at >= d.changed_at
"""


async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
    """Per-connection setup: the staging table (temp tables live per session)."""
    async with conn.transaction():
        await conn.execute(_CREATE_STAGE)


async def write_batch(
    conn: psycopg.AsyncConnection[Any],
    readings: Sequence[Sequence[Any]],
    statuses: Sequence[Sequence[Any]],
    tickets: Sequence[Sequence[Any]] = (),
    broker_events: Sequence[Sequence[Any]] = (),
) -> int:
    """Write one batch in one transaction; returns the readings actually inserted."""
    inserted = 0
    async with conn.transaction():
        if readings:
            async with conn.cursor() as cur:
                stage = f"copy {_STAGE} ({_STAGE_COLS}) from stdin (format binary)"
                async with cur.copy(stage) as copy:
                    copy.set_types(list(STAGE_TYPES))
                    for row in readings:
                        await copy.write_row(row)
                await cur.execute(_MOVE)
                inserted = max(cur.rowcount, 0)
                if any(row[-1] for row in readings):
                    await cur.execute(_MOVE_CLOCKLESS)
                    inserted += max(cur.rowcount, 0)
        if tickets:
            async with conn.cursor() as cur:
                await cur.executemany(_TICKETS, tickets)
        if broker_events:
            async with conn.cursor() as cur:
                await cur.executemany(_BROKER_EVENTS, broker_events)
        if statuses:
            async with conn.cursor() as cur:
                await cur.executemany(_STATUS_HISTORY, statuses)
                latest = [(s[1], s[2], s[3], s[4], s[5], s[0], s[6]) for s in statuses]
                await cur.executemany(_STATUS_LATEST, latest)
    return inserted
