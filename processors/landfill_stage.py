"""The landfill processor: collections and weighbridge tickets -> daily volumes, projection.

Delivery semantics
------------------
* Consumer group ``<group_prefix>landfill`` on ``waste.events.v1`` (collection
  events) and ``waste.landfill.v1`` (weighbridge tickets); offsets committed
  after the transaction (see :mod:`wastewatch.processors.runtime`).
* Inputs are first upserted into ``collections`` and ``landfill_deliveries``
  (``ON CONFLICT DO NOTHING``, the same natural keys as their other writers),
  so this processor never depends on another one having committed first.
* ``landfill_daily`` is recomputed for the touched Bangkok days and
  ``landfill_projections`` for the touched sites, from those tables: a replay
  or a duplicate event changes nothing.  No per-device state.
* Several instances may share the partitions, but their writes take turns under
  one advisory lock (:func:`wastewatch.processors.runtime.lock_keys`): a batch recomputes
  rows every instance touches, and two at once would miss each other's inputs
  (or collide on ``landfill_daily``'s key).
* Capacity alerts (days left under each ``landfill_alert_days``) are rows in
  ``alerts`` with ``site_id``; they are not published, because ``alert.v1``
  has no site subject (a new model version would be needed).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from wastewatch.processors.collection_stage import event_row, write_events
from wastewatch.processors.landfill import DayVolume, Projection, SiteInfo, project
from wastewatch.processors.runtime import Conn, Record, Stage, Step, lock_keys
from wastewatch.processors.text import landfill_text
from wastewatch.schema import CollectionEvent, LandfillDelivery

EVENTS_TOPIC = "waste.events.v1"
TICKETS_TOPIC = "waste.landfill.v1"
BANGKOK = timezone(timedelta(hours=7))

_TICKET = """
insert into landfill_deliveries (time, ticket_id, site_id, truck_id, stream, gross_kg, tare_kg,
    net_kg)
values (%s, %s, %s, %s, %s, %s, %s, %s)
on conflict do nothing
"""
_DAILY = """
with t as (
    select site_id, (time at time zone 'Asia/Bangkok')::date as day, stream,
           count(*) as n, sum(round(net_kg::numeric, 1)) as kg
    from landfill_deliveries where time >= %(lo)s and time < %(hi)s
    group by 1, 2, 3
), c as (
    select coalesce(tr.site_id, (select min(site_id) from landfill_sites)) as site_id,
           (c.time at time zone 'Asia/Bangkok')::date as day, c.stream,
           count(*) as n, sum(round(c.mass_kg::numeric, 1)) as kg
    from collections c
    left join lateral (
        select t.site_id from trucks t
        where t.stream = c.stream and c.zone_id = any(t.zones) and t.active
        order by t.truck_id limit 1
    ) tr on true
    where c.time >= %(lo)s and c.time < %(hi)s
    group by 1, 2, 3
), j as (
    select coalesce(t.site_id, c.site_id) as site_id, coalesce(t.day, c.day) as day,
           coalesce(t.stream, c.stream) as stream, coalesce(t.n, 0) as tickets,
           coalesce(t.kg, 0) as delivered, coalesce(c.n, 0) as colls, coalesce(c.kg, 0) as est
    from t full join c on t.site_id = c.site_id and t.day = c.day and t.stream = c.stream
)
insert into landfill_daily (site_id, day, stream, tickets, delivered_kg, collections,
    collected_kg_est, mass_kg, volume_m3, measured)
select j.site_id, j.day, j.stream, j.tickets, j.delivered, j.colls, j.est,
       case when j.tickets > 0 then j.delivered else j.est end,
       round((case when j.tickets > 0 then j.delivered else j.est end)
             / coalesce(d.compacted_density_kg_m3, s.compacted_density_kg_m3)::numeric, 3),
       j.tickets > 0
from j
join landfill_sites s on s.site_id = j.site_id
left join landfill_stream_densities d on d.site_id = j.site_id and d.stream = j.stream
where j.day = any(%(days)s)
"""
_PROJECTION = """
insert into landfill_projections (site_id, as_of, used_m3, remaining_m3, fill_fraction,
    rate_m3_per_day, rate_low_m3_per_day, rate_high_m3_per_day, days_left, full_date,
    full_date_early, full_date_late, window_days, rate_by_stream)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
on conflict (site_id, as_of) do update set
    used_m3 = excluded.used_m3, remaining_m3 = excluded.remaining_m3,
    fill_fraction = excluded.fill_fraction, rate_m3_per_day = excluded.rate_m3_per_day,
    rate_low_m3_per_day = excluded.rate_low_m3_per_day,
    rate_high_m3_per_day = excluded.rate_high_m3_per_day, days_left = excluded.days_left,
    full_date = excluded.full_date, full_date_early = excluded.full_date_early,
    full_date_late = excluded.full_date_late, window_days = excluded.window_days,
    rate_by_stream = excluded.rate_by_stream, computed_at = now()
"""
_ALERT = """
insert into alerts as a (alert_id, kind, severity, state, site_id, opened_at, message_en,
    message_th, details)
values (%s, 'landfill_capacity', %s, 'open', %s, %s, %s, %s, %s::jsonb)
on conflict (alert_id) do update set
    state = 'open', resolved_at = null,
    message_en = excluded.message_en, message_th = excluded.message_th,
    details = excluded.details, alert_updated_at = now()
"""
_RESOLVE_OTHERS = """
update alerts
set state = 'resolved', resolved_at = greatest(opened_at, %s), alert_updated_at = now()
where site_id = %s and kind = 'landfill_capacity' and state = 'open' and alert_id <> %s
"""


def local_day(t: datetime) -> date:
    return t.astimezone(BANGKOK).date()


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), BANGKOK).astimezone(UTC)


async def load_sites(conn: Conn) -> dict[str, SiteInfo]:
    async with conn.cursor() as cur:
        await cur.execute(
            "select site_id, name, capacity_m3, used_m3, surveyed_on, compacted_density_kg_m3 "
            "from landfill_sites"
        )
        sites = await cur.fetchall()
        await cur.execute(
            "select site_id, stream, compacted_density_kg_m3 from landfill_stream_densities"
        )
        dens: dict[str, dict[str, float]] = {}
        for site_id, stream, d in await cur.fetchall():
            dens.setdefault(site_id, {})[stream] = float(d)
    return {
        s[0]: SiteInfo(s[0], s[1], float(s[2]), float(s[3]), s[4], float(s[5]), dens.get(s[0], {}))
        for s in sites
    }


async def load_days(conn: Conn, site_id: str) -> list[DayVolume]:
    async with conn.cursor() as cur:
        await cur.execute(
            "select day, stream, mass_kg, volume_m3 from landfill_daily where site_id = %s "
            "order by day, stream",
            [site_id],
        )
        return [DayVolume(d, s, float(m), float(v)) for d, s, m, v in await cur.fetchall()]


def projection_row(p: Projection) -> tuple[Any, ...]:
    return (
        p.site_id,
        p.as_of,
        p.used_m3,
        p.remaining_m3,
        p.fill_fraction,
        p.rate_m3_per_day,
        p.rate_low_m3_per_day,
        p.rate_high_m3_per_day,
        p.days_left,
        p.full_date,
        p.full_date_early,
        p.full_date_late,
        p.window_days,
        json.dumps(p.rate_by_stream),
    )


class LandfillStage(Stage):
    """Daily landfill inputs and the capacity projection per site."""

    name = "landfill"
    topics = (EVENTS_TOPIC, TICKETS_TOPIC)

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        events: list[tuple[Any, ...]] = []
        tickets: list[tuple[Any, ...]] = []
        days: set[date] = set()
        for rec in records:
            try:
                if rec.topic.endswith(TICKETS_TOPIC):
                    t = LandfillDelivery.model_validate_json(rec.value or b"")
                    tickets.append(
                        (
                            t.weighed_at,
                            t.ticket_id,
                            t.site_id,
                            t.truck_id,
                            t.waste_stream.value,
                            t.gross_kg,
                            t.tare_kg,
                            t.net_kg,
                        )
                    )
                    days.add(local_day(t.weighed_at))
                else:
                    e = CollectionEvent.model_validate_json(rec.value or b"")
                    events.append(event_row(e))
                    days.add(local_day(e.collected_at))
            except ValidationError:
                continue
        cfg = self.settings.processors

        async def write(c: Conn) -> None:
            # Every batch may recompute every site's days and projections: instances of
            # this stage take turns (one lock), or each would miss the other's inputs.
            await lock_keys(c, ["landfill"])
            await write_events(c, events)
            if tickets:
                async with c.cursor() as cur:
                    await cur.executemany(_TICKET, tickets)
            if days:
                await recompute(c, sorted(days), cfg.landfill_window_days, cfg.landfill_alert_days)

        return Step(writes=[write])


async def recompute(
    conn: Conn, days: list[date], window_days: int, alert_days: list[int]
) -> list[Projection]:
    """Rebuild the given days' rows, then every site's projection as of its last day."""
    params = {
        "days": days,
        "lo": day_start(days[0]),
        "hi": day_start(days[-1] + timedelta(days=1)),
    }
    async with conn.cursor() as cur:
        await cur.execute("delete from landfill_daily where day = any(%(days)s)", params)
        await cur.execute(_DAILY, params)
    out = []
    for site in (await load_sites(conn)).values():
        rows = await load_days(conn, site.site_id)
        # Every as-of day from the first touched one is recomputed from the final data,
        # so the projection history does not depend on the order inputs arrived in.
        p = None
        for as_of in sorted({d.day for d in rows if d.day >= days[0]}):
            p = project(site, [d for d in rows if d.day <= as_of], window_days=window_days)
            if p is not None:
                async with conn.cursor() as cur:
                    await cur.execute(_PROJECTION, projection_row(p))
        if p is None:
            continue
        out.append(p)
        async with conn.cursor() as cur:
            crossed = [
                limit
                for limit in sorted(alert_days)
                if p.days_left is not None and p.days_left < limit and p.full_date is not None
            ]
            alert_id = f"landfill_capacity:{site.site_id}:{crossed[0]}" if crossed else ""
            await cur.execute(_RESOLVE_OTHERS, (day_start(p.as_of), site.site_id, alert_id))
            if crossed and p.days_left is not None and p.full_date is not None:
                en, th = landfill_text(site.site_id, p.days_left, p.full_date.isoformat())
                severity = "critical" if crossed[0] == min(alert_days) else "warning"
                await cur.execute(
                    _ALERT,
                    (
                        alert_id,
                        severity,
                        site.site_id,
                        day_start(p.as_of),
                        en,
                        th,
                        json.dumps({"days_left": p.days_left, "under_days": crossed[0]}),
                    ),
                )
    return out
