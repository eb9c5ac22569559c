"""The rollups processor: readings -> ``bin_hourly``; collections -> ``zone_stream_daily``.

Delivery semantics
------------------
* Consumer group ``<group_prefix>rollups`` on ``waste.readings.v1`` and
  ``waste.events.v1``; offsets committed after the transaction (see
  :mod:`wastewatch.processors.runtime`).
* ``bin_hourly`` is merged incrementally (``readings = readings + excluded.readings``
  and so on).  Exactly-once: each device's newest folded-in reading time is in
  ``processor_state``, written in the same transaction, and readings not newer
  than it are skipped, so a replayed batch adds nothing.
* Collection events are upserted into ``collections`` (``ON CONFLICT DO
  NOTHING``), and ``zone_stream_daily`` is recomputed for the touched (zone,
  stream, Bangkok day) keys from ``collections`` and ``bin_hourly``: idempotent,
  and independent of the order in which devices' partitions interleave.
* Several instances share the partitions; a batch's transaction first takes an
  advisory lock per touched (zone, stream, day) (:func:`wastewatch.processors.runtime.lock_keys`),
  so two instances never recompute one day from each other's uncommitted hours.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from wastewatch.processors.collection_stage import event_row, write_events
from wastewatch.processors.landfill_stage import local_day
from wastewatch.processors.readings import utc
from wastewatch.processors.rollups import HourAgg, hour_start
from wastewatch.processors.runtime import Conn, Record, Stage, Step, lock_keys
from wastewatch.schema import CollectionEvent

READINGS_TOPIC = "waste.readings.v1"
EVENTS_TOPIC = "waste.events.v1"

_HOURLY = """
insert into bin_hourly as h (bucket, bin_id, zone_id, stream, readings, levels, fill_sum,
    fill_min, fill_max, fill_last, last_reading_at, temp_max, battery_min, flags_any)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (bin_id, bucket) do update set
    readings = h.readings + excluded.readings,
    levels = h.levels + excluded.levels,
    fill_sum = h.fill_sum + excluded.fill_sum,
    fill_min = least(h.fill_min, excluded.fill_min),
    fill_max = greatest(h.fill_max, excluded.fill_max),
    fill_last = case when excluded.last_reading_at >= h.last_reading_at
                     then coalesce(excluded.fill_last, h.fill_last) else h.fill_last end,
    last_reading_at = greatest(h.last_reading_at, excluded.last_reading_at),
    temp_max = greatest(h.temp_max, excluded.temp_max),
    battery_min = least(h.battery_min, excluded.battery_min),
    flags_any = h.flags_any | excluded.flags_any
"""
_ZONE_DAY = """
with k as (
    select * from unnest(%(zones)s::text[], %(streams)s::text[], %(days)s::date[])
        as k(zone_id, stream, day)
), c as (
    select k.zone_id, k.stream, k.day, count(c.event_id) as n,
           coalesce(sum(round(c.volume_l::numeric, 1)), 0) as vol,
           coalesce(sum(round(c.mass_kg::numeric, 1)), 0) as kg
    from k left join collections c
      on c.zone_id = k.zone_id and c.stream = k.stream
     and c.time >= (k.day::timestamp at time zone 'Asia/Bangkok')
     and c.time < ((k.day + 1)::timestamp at time zone 'Asia/Bangkok')
    group by 1, 2, 3
), h as (
    select k.zone_id, k.stream, k.day, count(distinct h.bin_id) as bins,
           coalesce(sum(h.readings), 0) as readings,
           (sum(h.fill_sum) / nullif(sum(h.levels), 0))::real as fill_avg,
           max(h.fill_max) as fill_max
    from k left join bin_hourly h
      on h.zone_id = k.zone_id and h.stream = k.stream
     and h.bucket >= (k.day::timestamp at time zone 'Asia/Bangkok')
     and h.bucket < ((k.day + 1)::timestamp at time zone 'Asia/Bangkok')
    group by 1, 2, 3
)
insert into zone_stream_daily (day, zone_id, stream, collections, volume_l, mass_kg,
    bins_reporting, readings, fill_avg, fill_max)
select c.day, c.zone_id, c.stream, c.n, c.vol, c.kg, h.bins, h.readings, h.fill_avg, h.fill_max
from c join h using (zone_id, stream, day)
on conflict (day, zone_id, stream) do update set
    collections = excluded.collections, volume_l = excluded.volume_l, mass_kg = excluded.mass_kg,
    bins_reporting = excluded.bins_reporting, readings = excluded.readings,
    fill_avg = excluded.fill_avg, fill_max = excluded.fill_max
"""


class RollupStage(Stage):
    """Per-bin hourly and per-zone-and-stream daily aggregates."""

    name = "rollups"
    topics = (READINGS_TOPIC, EVENTS_TOPIC)

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        readings = [r for r in records if r.topic.endswith(READINGS_TOPIC)]
        event_records = [r for r in records if r.topic.endswith(EVENTS_TOPIC)]
        bins = await self.readings_of_bins(conn, readings)
        hours: dict[tuple[str, int], HourAgg] = {}
        touched: set[tuple[str, str, date]] = set()
        for device, items, info, saved in bins:
            last = int(saved["last_ts"]) if saved else 0
            newest = last
            for _, r in items:
                if not r.has_time or r.ts <= newest:
                    continue
                newest = r.ts
                key = (info.bin_id, hour_start(r.ts))
                agg = hours.get(key)
                if agg is None:
                    agg = hours[key] = HourAgg(info.bin_id, key[1])
                agg.add(r)
                if info.zone:
                    touched.add((info.zone, info.stream, local_day(utc(r.ts))))
            if newest != last:
                self.state.put(device, {"last_ts": newest})
        events: list[tuple[Any, ...]] = []
        for rec in event_records:
            try:
                e = CollectionEvent.model_validate_json(rec.value or b"")
            except ValidationError:
                continue
            events.append(event_row(e))
            touched.add((e.zone, e.waste_stream.value, local_day(e.collected_at)))
        zone_of = {info.bin_id: (info.zone or None, info.stream) for _, _, info, _ in bins}
        rows = [
            (
                utc(hour),
                bin_id,
                *zone_of.get(bin_id, (None, None)),
                a.readings,
                a.levels,
                a.fill_sum,
                a.fill_min,
                a.fill_max,
                a.fill_last,
                utc(a.last_ts),
                a.temp_max,
                a.battery_min,
                a.flags_any,
            )
            for (bin_id, hour), a in sorted(hours.items())
        ]
        keys = sorted(touched)

        async def write(c: Conn) -> None:
            # Instances of this stage share the zones' days: one recomputes a day at a time.
            await lock_keys(c, (f"zone_stream_daily:{z}:{s}:{d}" for z, s, d in keys))
            await write_events(c, events)
            async with c.cursor() as cur:
                if rows:
                    await cur.executemany(_HOURLY, rows)
                if keys:
                    await cur.execute(
                        _ZONE_DAY,
                        {
                            "zones": [k[0] for k in keys],
                            "streams": [k[1] for k in keys],
                            "days": [k[2] for k in keys],
                        },
                    )

        return Step(writes=[write, self.state.take_dirty()])
