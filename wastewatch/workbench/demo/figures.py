"""The summary's figures from the database, through the read-only role.

Small queries on indexed tables (``bin_state``, open ``alerts``, the latest
``landfill_projections`` and ``route_plans``), cheap enough to run every couple
of seconds; ``readings_count`` scans the readings hypertable and is run only at
the phase boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from wastewatch.workbench.demo.summary import AlertRow, LandfillRow, RouteRow, order_alerts

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class CityFigures:
    """What the processors and the planner have derived, as of one query round."""

    event_time: datetime | None
    urgency: dict[str, int]
    alerts: tuple[AlertRow, ...]
    fires: tuple[tuple[str, datetime], ...]
    landfill: tuple[LandfillRow, ...]
    routes: tuple[RouteRow, ...]
    collections_24h: int


def connect(dsn: str) -> Conn:
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    conn.execute("set statement_timeout = '20s'")
    return conn


def readings_count(conn: Conn) -> int:
    row = conn.execute("select count(*) from readings").fetchone()
    return int(row[0]) if row else 0


def newest_reading(conn: Conn, devices: list[str]) -> int | None:
    """The newest stored reading of these devices, epoch seconds (None: none)."""
    row = conn.execute(
        "select extract(epoch from max(time)) from readings where device_id = any(%s)",
        [devices],
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def routes_for(conn: Conn, service_date: date) -> tuple[RouteRow, ...]:
    """The latest plan of each truck for the day (what the simulator's trucks follow)."""
    rows = conn.execute(
        """
        select p.truck_id, p.waste_stream, p.total_distance_km, p.total_duration_s,
               (select count(*) from route_stops s where s.plan_id = p.plan_id)
        from (select distinct on (truck_id) *
              from route_plans where service_date = %s
              order by truck_id, created_at desc) p
        order by p.truck_id
        """,
        [service_date],
    ).fetchall()
    return tuple(
        RouteRow(
            truck_id=str(t), stream=str(s), stops=int(n), km=float(km), hours=float(secs) / 3600
        )
        for t, s, km, secs, n in rows
    )


def city_figures(conn: Conn, routes_date: date | None) -> CityFigures:
    row = conn.execute("select max(last_reading_at) from bin_state").fetchone()
    event_time: datetime | None = row[0] if row else None
    urgency = {
        str(u): int(n)
        for u, n in conn.execute("select urgency, count(*) from bin_state group by urgency")
    }
    alerts = order_alerts(
        [
            AlertRow(kind=str(k), severity=str(s), count=int(n))
            for k, s, n in conn.execute(
                "select kind, severity, count(*) from alerts where state = 'open' "
                "group by kind, severity"
            )
        ]
    )
    fires = tuple(
        (str(b), t)
        for b, t in conn.execute(
            "select coalesce(bin_id, device_id), opened_at from alerts "
            "where state = 'open' and kind = 'fire' order by opened_at desc limit 5"
        )
    )
    landfill = tuple(
        LandfillRow(
            site_id=str(site),
            name=str(name or site),
            as_of=as_of,
            days_left=None if days is None else float(days),
            full_date=full,
            fill_fraction=float(frac),
        )
        for site, name, as_of, days, full, frac in conn.execute(
            """
            select distinct on (p.site_id) p.site_id, s.name, p.as_of, p.days_left,
                   p.full_date, p.fill_fraction
            from landfill_projections p left join landfill_sites s using (site_id)
            order by p.site_id, p.as_of desc
            """
        )
    )
    collections = 0
    if event_time is not None:
        row = conn.execute(
            "select count(*) from collections where time > %s", [event_time - timedelta(hours=24)]
        ).fetchone()
        collections = int(row[0]) if row else 0
    routes = routes_for(conn, routes_date) if routes_date is not None else ()
    return CityFigures(
        event_time=event_time,
        urgency=urgency,
        alerts=alerts,
        fires=fires,
        landfill=landfill,
        routes=routes,
        collections_24h=collections,
    )
