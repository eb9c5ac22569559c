"""Collection and fill history per day, week or month: `wastewatch history` and /v1/history.

Collections come from ``collections`` (one row per detected emptying: volume,
estimated mass, fill before); fill statistics from ``bin_hourly`` (trusted
levels only, so the average is exact: sum over count).  Both are grouped by the
Bangkok calendar period (weeks start on Monday) and by what ``by`` asks for,
then joined, so a period with readings but no collection still shows its fill.

``overflow_hours`` counts bin-hours whose highest reading was at least 0.98
full: the processors' "overflowing" level.  Fill statistics have hourly
resolution: a period that starts mid-hour counts from the next whole hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from wastewatch.queries.params import Period
from wastewatch.queries.queries import Page, Query

__all__ = ["GROUPINGS", "PERIODS", "HistoryRequest", "history_columns", "history_query"]

PERIODS: Final = ("day", "week", "month")
GROUPINGS: Final[dict[str, tuple[str, ...]]] = {
    "zone": ("zone_id", "stream"),
    "stream": ("stream",),
    "bin": ("bin_id", "zone_id", "stream"),
    "city": (),
}
OVERFLOW_LEVEL: Final = 0.98
VALUES: Final = (
    "collections",
    "volume_l",
    "mass_kg",
    "fill_at_collection",
    "fill_avg",
    "fill_max",
    "overflow_hours",
    "bins_reporting",
    "readings",
)


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """What to aggregate: per which period, grouped by what, filtered how."""

    per: str = "day"
    by: str = "zone"
    period: Period = field(default_factory=Period)
    zones: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    bins: tuple[str, ...] = ()


def history_columns(by: str) -> tuple[str, ...]:
    return ("period", *GROUPINGS[by], *VALUES)


def history_query(req: HistoryRequest, page: Page | None = None) -> Query:
    """One row per period and group; ``per`` and ``by`` must come from PERIODS/GROUPINGS.

    With ``page``, one row more than the page is fetched (as the API's lists do).
    """
    if req.per not in PERIODS:
        raise ValueError(f"per must be one of {PERIODS}")
    keys = GROUPINGS[req.by]
    params: dict[str, object] = {"per": req.per, "overflow": OVERFLOW_LEVEL}

    def where(alias: str, time_column: str) -> str:
        parts = []
        for column, name, values in (
            ("zone_id", "zones", req.zones),
            ("stream", "streams", req.streams),
            ("bin_id", "bins", req.bins),
        ):
            if values:
                parts.append(f"{alias}.{column} = any(%({name})s)")
                params[name] = list(values)
        if req.period.start is not None:
            parts.append(f"{alias}.{time_column} >= %(start)s")
            params["start"] = req.period.start
        if req.period.end is not None:
            parts.append(f"{alias}.{time_column} < %(end)s")
            params["end"] = req.period.end
        return ("where " + " and ".join(parts)) if parts else ""

    def key_list(alias: str) -> str:
        return "".join(f"{alias}.{k}, " for k in keys)

    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    using = ", ".join(("period", *keys))
    sql = f"""
with c as (
    select date_trunc(%(per)s, c.time at time zone 'Asia/Bangkok')::date as period,
           {key_list("c")}count(*) as collections,
           round(sum(c.volume_l)::numeric, 1) as volume_l,
           round(sum(c.mass_kg)::numeric, 1) as mass_kg,
           round(avg(c.fill_before)::numeric, 4) as fill_at_collection
    from collections c
    {where("c", "time")}
    group by {group}
), f as (
    select date_trunc(%(per)s, h.bucket at time zone 'Asia/Bangkok')::date as period,
           {key_list("h")}round(sum(h.fill_sum) / nullif(sum(h.levels), 0), 4) as fill_avg,
           round(max(h.fill_max)::numeric, 4) as fill_max,
           count(*) filter (where h.fill_max >= %(overflow)s) as overflow_hours,
           count(distinct h.bin_id) as bins_reporting, sum(h.readings) as readings
    from bin_hourly h
    {where("h", "bucket")}
    group by {group}
)
select {", ".join(("period", *keys))},
       coalesce(c.collections, 0), coalesce(c.volume_l, 0), coalesce(c.mass_kg, 0),
       c.fill_at_collection, f.fill_avg, f.fill_max, coalesce(f.overflow_hours, 0),
       coalesce(f.bins_reporting, 0), coalesce(f.readings, 0)
from c full join f using ({using})
order by {using}"""
    if page is not None:
        sql += "\nlimit %(limit)s offset %(offset)s"
        params["limit"] = page.limit + 1
        params["offset"] = page.offset
    return Query(sql, params, history_columns(req.by))
