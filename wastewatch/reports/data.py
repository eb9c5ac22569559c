"""What a monthly report shows, read through the read-only role in one pass.

Every figure is for one Asia/Bangkok calendar month, ``[start, end)``; every value
is a bound parameter.  The rules that flag bins to resize or move are constants
here, so a planner can see (and change) what "often overflowing" means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

import psycopg

from wastewatch.queries import BANGKOK, Period, Scenario, scenarios

__all__ = [
    "EMPTY_FILL",
    "EMPTY_MIN_COLLECTIONS",
    "OVERFLOW_LEVEL",
    "OVERFLOW_SHARE",
    "BinUse",
    "MonthData",
    "load_month",
]

OVERFLOW_LEVEL: Final = 0.98
"""A bin-hour whose highest reading is at least this full counts as overflowing."""
OVERFLOW_SHARE: Final = 0.05
"""Often overflowing: at least this share of the bin's reported hours overflowing ..."""
OVERFLOW_ALERTS: Final = 2
"""... or at least this many overflow alerts opened in the month."""
EMPTY_FILL: Final = 0.4
"""Collected mostly empty: the median fill when emptied is below this ..."""
EMPTY_MIN_COLLECTIONS: Final = 3
"""... over at least this many collections in the month."""


@dataclass(frozen=True, slots=True)
class BinUse:
    """How one bin was used in the month, and what that suggests."""

    bin_id: str
    name: str | None
    zone_id: str | None
    stream: str
    volume_l: float
    collections: int
    median_fill_at_collection: float | None
    hours_reported: int
    overflow_hours: int
    overflow_alerts: int

    @property
    def overflow_share(self) -> float:
        return self.overflow_hours / self.hours_reported if self.hours_reported else 0.0

    @property
    def often_overflowing(self) -> bool:
        return self.overflow_share >= OVERFLOW_SHARE or self.overflow_alerts >= OVERFLOW_ALERTS

    @property
    def mostly_empty(self) -> bool:
        return (
            self.collections >= EMPTY_MIN_COLLECTIONS
            and self.median_fill_at_collection is not None
            and self.median_fill_at_collection < EMPTY_FILL
        )


@dataclass(frozen=True)
class MonthData:
    """Everything the report draws, for one month."""

    month: str
    period: Period
    first_day: date
    last_day: date
    stream_names: dict[str, tuple[str, str]]
    """stream -> (English, Thai)"""
    zone_names: dict[str, tuple[str, str]]
    tonnage: list[tuple[str, str, int, float, float]]
    """(zone, stream, collections, kg, litres) from the detected collections"""
    delivered: list[tuple[str, float, int]]
    """(stream, kg delivered to landfills, days weighed) from landfill_daily"""
    fills: list[tuple[str, float]]
    """(stream, fill level when collected), one per collection"""
    overflow_by_day: list[tuple[date, int, int]]
    """(day, overflowing bin-hours, overflow alerts opened)"""
    bins: list[BinUse]
    alerts: list[tuple[str, str, int]]
    """(kind, severity, alerts opened in the month)"""
    divert: dict[str, float]
    landfill: list[Scenario]
    landfill_history: dict[str, list[tuple[date, float]]] = field(default_factory=dict)
    """site -> (as_of, remaining m3) of the stored projections up to the month's end"""
    bins_reporting: int = 0
    readings: int = 0

    @property
    def collections(self) -> int:
        return sum(r[2] for r in self.tonnage)

    @property
    def collected_kg(self) -> float:
        return sum(r[3] for r in self.tonnage)


async def _rows(conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[Any]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def load_month(
    conn: psycopg.AsyncConnection[Any],
    month: str,
    period: Period,
    *,
    divert: dict[str, float],
    window_days: int,
) -> MonthData:
    """Read the month's figures (``period`` is the month's Bangkok bounds, in UTC)."""
    if period.start is None or period.end is None:
        raise ValueError("a month has a start and an end")
    p: dict[str, Any] = {"start": period.start, "end": period.end, "overflow": OVERFLOW_LEVEL}
    first_day = period.start.astimezone(BANGKOK).date()
    last_day = period.end.astimezone(BANGKOK).date() - timedelta(days=1)
    p["first_day"], p["last_day"] = first_day, last_day
    streams = {
        r[0]: (r[1], r[2])
        for r in await _rows(conn, "select stream, name_en, name_th from waste_streams", {})
    }
    zones = {
        r[0]: (r[1], r[2])
        for r in await _rows(conn, "select zone_id, name_en, name_th from zones", {})
    }
    tonnage = [
        (r[0] or "-", r[1], int(r[2]), float(r[3]), float(r[4]))
        for r in await _rows(
            conn,
            "select zone_id, stream, count(*), sum(mass_kg), sum(volume_l) from collections "
            "where time >= %(start)s and time < %(end)s group by 1, 2 order by 1, 2",
            p,
        )
    ]
    delivered = [
        (r[0], float(r[1]), int(r[2]))
        for r in await _rows(
            conn,
            "select stream, sum(delivered_kg), count(*) filter (where measured) "
            "from landfill_daily where day between %(first_day)s and %(last_day)s "
            "group by 1 order by 1",
            p,
        )
    ]
    fills = [
        (r[0], float(r[1]))
        for r in await _rows(
            conn,
            "select stream, fill_before from collections "
            "where time >= %(start)s and time < %(end)s",
            p,
        )
    ]
    overflow_by_day = [
        (r[0], int(r[1]), int(r[2]))
        for r in await _rows(
            conn,
            """with d as (select generate_series(%(first_day)s::date, %(last_day)s::date,
                                                   interval '1 day')::date as day),
                    h as (select (bucket at time zone 'Asia/Bangkok')::date as day, count(*) as n
                          from bin_hourly where bucket >= %(start)s and bucket < %(end)s
                            and fill_max >= %(overflow)s group by 1),
                    a as (select (opened_at at time zone 'Asia/Bangkok')::date as day,
                                 count(*) as n
                          from alerts where kind = 'overflowing'
                            and opened_at >= %(start)s and opened_at < %(end)s group by 1)
               select d.day, coalesce(h.n, 0), coalesce(a.n, 0)
               from d left join h using (day) left join a using (day) order by d.day""",
            p,
        )
    ]
    bins = [
        BinUse(
            bin_id=r[0],
            name=r[1],
            zone_id=r[2],
            stream=r[3],
            volume_l=float(r[4]),
            collections=int(r[5]),
            median_fill_at_collection=float(r[6]) if r[6] is not None else None,
            hours_reported=int(r[7]),
            overflow_hours=int(r[8]),
            overflow_alerts=int(r[9]),
        )
        for r in await _rows(
            conn,
            """with c as (select bin_id, count(*) as n,
                                 percentile_cont(0.5) within group (order by fill_before) as med
                          from collections where time >= %(start)s and time < %(end)s
                          group by 1),
                    h as (select bin_id, count(*) as hours,
                                 count(*) filter (where fill_max >= %(overflow)s) as over
                          from bin_hourly where bucket >= %(start)s and bucket < %(end)s
                          group by 1),
                    a as (select coalesce(a.bin_id, b.bin_id) as bin_id, count(*) as n
                          from alerts a left join bins b on b.device_id = a.device_id
                          where a.kind = 'overflowing'
                            and a.opened_at >= %(start)s and a.opened_at < %(end)s
                          group by 1)
               select b.bin_id, b.name, b.zone_id, b.stream, b.volume_l,
                      coalesce(c.n, 0), c.med, coalesce(h.hours, 0), coalesce(h.over, 0),
                      coalesce(a.n, 0)
               from bins b left join c using (bin_id) left join h using (bin_id)
                    left join a using (bin_id)
               where c.n is not null or h.hours is not null
               order by b.bin_id""",
            p,
        )
    ]
    alerts = [
        (r[0], r[1], int(r[2]))
        for r in await _rows(
            conn,
            "select kind, severity, count(*) from alerts "
            "where opened_at >= %(start)s and opened_at < %(end)s group by 1, 2 order by 3 desc, 1",
            p,
        )
    ]
    totals = await _rows(
        conn,
        "select count(distinct bin_id), coalesce(sum(readings), 0) from bin_hourly "
        "where bucket >= %(start)s and bucket < %(end)s",
        p,
    )
    landfill = await scenarios(conn, window_days=window_days, divert=divert, until=last_day)
    history: dict[str, list[tuple[date, float]]] = {}
    for r in await _rows(
        conn,
        "select site_id, as_of, remaining_m3 from landfill_projections "
        "where as_of <= %(last_day)s and as_of > %(last_day)s - 365 order by site_id, as_of",
        p,
    ):
        history.setdefault(r[0], []).append((r[1], float(r[2])))
    return MonthData(
        month=month,
        period=period,
        first_day=first_day,
        last_day=last_day,
        stream_names=streams,
        zone_names=zones,
        tonnage=tonnage,
        delivered=delivered,
        fills=fills,
        overflow_by_day=overflow_by_day,
        bins=bins,
        alerts=alerts,
        divert=divert,
        landfill=landfill,
        landfill_history=history,
        bins_reporting=int(totals[0][0]) if totals else 0,
        readings=int(totals[0][1]) if totals else 0,
    )
