"""หลุมฝังกลบ / Landfill: how much airspace is left and when it runs out.

Reads the landfill processor's ``landfill_projections`` (one row per site and
as-of day) and ``landfill_daily`` (mass and airspace per day and stream, from
weighbridge tickets where there are any).  The diversion scenarios apply the
same rule as ``wastewatch landfill what-if`` (processors/landfill.py): a
diverted share of a stream scales that stream's future rate; what is already
in the ground stays.
"""

from __future__ import annotations

from grafanalib import core as g

from wastewatch.grafana.board import Board, CustomVariable, Query, Variable, steps, title
from wastewatch.grafana.dashboards.common import (
    COLOUR_TEXT,
    LOCAL_DAY_AS_TIME,
    LOCAL_DAY_RANGE,
    STREAMS,
    override,
    per_stream_query,
    stacked_bars,
    stat,
    stream_colour_overrides,
)

UID = "ww-landfill"

SITE = Variable(
    name="site",
    label=title("หลุมฝังกลบ", "Site"),
    sql="SELECT site_id AS __value, name AS __text FROM landfill_sites ORDER BY 1",
)
_SHARES = tuple(f"{i / 10:.1f}" for i in range(11))
DIVERT_RECYCLABLE = CustomVariable(
    name="divert_recyclable",
    label=title("รีไซเคิลแยกออก", "Recyclables diverted"),
    choices=_SHARES,
    default="0.3",
)
DIVERT_ORGANIC = CustomVariable(
    name="divert_organic",
    label=title("อินทรีย์แยกออก", "Organics diverted"),
    choices=_SHARES,
    default="0.5",
)

_LATEST = """SELECT DISTINCT ON (p.site_id) p.*
  FROM landfill_projections p
  WHERE p.site_id IN ($site)
    AND p.as_of <= ($__timeTo()::timestamptz AT TIME ZONE 'Asia/Bangkok')::date
  ORDER BY p.site_id, p.as_of DESC"""
"""The newest projection per site as of the end of the picked range."""

_STATUS_SQL = f"""WITH p AS ({_LATEST})
SELECT s.name AS site, p.fill_fraction, p.remaining_m3, p.days_left,
  to_char(p.full_date, 'YYYY-MM-DD') AS full_date,
  to_char(p.full_date_early, 'YYYY-MM-DD') AS full_date_early,
  to_char(p.full_date_late, 'YYYY-MM-DD') AS full_date_late,
  p.rate_m3_per_day, p.rate_low_m3_per_day, p.rate_high_m3_per_day,
  to_char(p.as_of, 'YYYY-MM-DD') AS as_of
FROM p JOIN landfill_sites s ON s.site_id = p.site_id
ORDER BY p.site_id"""
_STATUS_COLUMNS = (
    "site",
    "fill_fraction",
    "remaining_m3",
    "days_left",
    "full_date",
    "full_date_early",
    "full_date_late",
    "rate_m3_per_day",
    "rate_low_m3_per_day",
    "rate_high_m3_per_day",
    "as_of",
)

_HISTORY_SQL = f"""SELECT {LOCAL_DAY_AS_TIME.format(col="p.as_of")} AS "time",
  sum(p.days_left) AS days_left,
  sum(p.full_date_early - p.as_of) AS days_left_low,
  sum(p.full_date_late - p.as_of) AS days_left_high,
  sum(p.remaining_m3) AS remaining_m3
FROM landfill_projections p
WHERE p.site_id IN ($site) AND p.as_of {LOCAL_DAY_RANGE}
GROUP BY 1
ORDER BY 1"""

_DAILY_SELECT = ",\n  ".join(
    f"sum(d.mass_kg) FILTER (WHERE d.stream = '{key}') / 1000 AS {key}" for key, _, _ in STREAMS
)
_DAILY_SQL = f"""SELECT {LOCAL_DAY_AS_TIME.format(col="d.day")} AS "time",
  {_DAILY_SELECT}
FROM landfill_daily d
WHERE d.site_id IN ($site) AND d.day {LOCAL_DAY_RANGE}
GROUP BY 1
ORDER BY 1"""

_MEASURED_SQL = f"""SELECT
  sum(d.mass_kg) FILTER (WHERE d.measured) / 1000 AS measured_t,
  sum(d.mass_kg) FILTER (WHERE NOT d.measured) / 1000 AS estimated_t,
  sum(d.tickets) AS tickets,
  sum(d.volume_m3) AS airspace_m3
FROM landfill_daily d
WHERE d.site_id IN ($site) AND d.day {LOCAL_DAY_RANGE}"""

# Fixed scenarios plus the one picked with the two variables.  Shares are
# literals in the SQL, so the panel needs no write access and no function.
_SCENARIOS_SQL = f"""WITH p AS ({_LATEST}),
scenario (ord, name, recyclable, organic) AS (VALUES
  (1, 'ปัจจุบัน / As today', 0.0, 0.0),
  (2, 'รีไซเคิล 30% / Recycle 30%', 0.3, 0.0),
  (3, 'หมักอินทรีย์ 50% / Compost 50% of organics', 0.0, 0.5),
  (4, 'รีไซเคิล 30% + หมัก 50% / Both', 0.3, 0.5),
  (5, 'กำหนดเอง / Chosen above', $divert_recyclable, $divert_organic)
),
rated AS (
  SELECT p.site_id, p.as_of, p.remaining_m3, sc.ord, sc.name,
    (SELECT sum(r.value::float8 * (1 - CASE r.key
        WHEN 'recyclable' THEN sc.recyclable WHEN 'organic' THEN sc.organic ELSE 0 END))
     FROM jsonb_each_text(p.rate_by_stream) AS r) AS rate
  FROM p CROSS JOIN scenario sc
)
SELECT r.site_id, r.name AS scenario, r.rate AS rate_m3_per_day,
  r.remaining_m3 / nullif(r.rate, 0) AS days_left,
  to_char(r.as_of + least(floor(r.remaining_m3 / nullif(r.rate, 0)), 73000)::int, 'YYYY-MM-DD')
    AS full_date,
  r.remaining_m3 / nullif(r.rate, 0) - first_value(r.remaining_m3 / nullif(r.rate, 0))
    OVER (PARTITION BY r.site_id ORDER BY r.ord) AS days_gained
FROM rated r
ORDER BY r.site_id, r.ord"""

_STREAM_SHARE_SQL = f"""WITH p AS ({_LATEST})
SELECT r.key AS stream, sum(r.value::float8) AS rate_m3_per_day
FROM p, jsonb_each_text(p.rate_by_stream) AS r
GROUP BY r.key
ORDER BY r.key"""

_STATUS_STATS = (
    (
        "fill_fraction",
        title("ใช้ไปแล้ว", "Airspace used"),
        "percentunit",
        1,
        steps(("green", None), ("orange", 0.8), ("red", 0.9)),
    ),
    (
        "remaining_m3",
        title("ความจุคงเหลือ", "Remaining capacity"),
        "m3",
        0,
        steps(("red", None), ("orange", 20000), ("green", 50000)),
    ),
    (
        "days_left",
        title("จำนวนวันที่เหลือ", "Days left"),
        "d",
        0,
        steps(("red", None), ("orange", 365), ("green", 730)),
    ),
)
"""The three headline numbers of the newest projection: column, title, unit,
decimals, colours."""


def build() -> Board:
    board = Board(
        uid=UID,
        title=title("หลุมฝังกลบ", "Landfill"),
        description="Remaining airspace, projected full date with its interval, daily "
        "tonnage by stream and diversion scenarios",
        tags=["wastewatch", "landfill"],
        variables=[SITE, DIVERT_RECYCLABLE, DIVERT_ORGANIC],
        time_from="now-90d",
        refresh="15m",
    )
    status_query = Query(_STATUS_SQL, _STATUS_COLUMNS)
    for column, name, unit, decimals, colours in _STATUS_STATS:
        board.add(
            stat(title=name, format=unit, fields=column, decimals=decimals, thresholds=colours),
            w=4,
            h=5,
            queries=[status_query],
        )
    board.add(
        g.Table(
            title=title("วันที่คาดว่าจะเต็ม", "Projected full date"),
            description="full_date at the current rate; early/late at the high/low end "
            "of the rate interval (two standard errors of the weekly totals)",
            overrides=[
                override("fill_fraction", unit="percentunit", decimals=1),
                override("remaining_m3", unit="m3", decimals=0),
                override("days_left", unit="d", decimals=0),
                override("full_date", display_name=title("เต็ม", "full")),
                override("full_date_early", display_name=title("เร็วสุด", "earliest")),
                override("full_date_late", display_name=title("ช้าสุด", "latest")),
                override("rate_m3_per_day", unit="m3", decimals=1),
                override("rate_low_m3_per_day", unit="m3", decimals=1),
                override("rate_high_m3_per_day", unit="m3", decimals=1),
            ],
        ),
        w=12,
        h=5,
        queries=[status_query],
    )
    board.add(
        g.TimeSeries(
            title=title("ปริมาณขยะเข้าหลุมรายวัน", "Daily tonnage by stream"),
            description="landfill_daily.mass_kg: weighbridge tickets where the day had "
            "any, else the collections' estimate",
            unit="masst",
            **stacked_bars(),
            overrides=stream_colour_overrides(),
            interval="1d",
        ),
        w=16,
        h=9,
        queries=[per_stream_query(_DAILY_SQL)],
    )
    board.add(
        stat(
            title=title("ชั่งจริง / ประมาณ", "Measured vs estimated"),
            description="Tonnes from weighbridge tickets vs estimated from collections",
            format="masst",
            reduceCalc="sum",
            decimals=1,
            overrides=[
                override("measured_t", display_name=title("ชั่งจริง", "measured")),
                override("estimated_t", display_name=title("ประมาณ", "estimated")),
                override("tickets", unit="none", display_name=title("ใบชั่ง", "tickets")),
                override("airspace_m3", unit="m3", display_name=title("ปริมาตร", "airspace")),
            ],
            thresholds=steps(("blue", None)),
        ),
        w=8,
        h=9,
        queries=[
            Query(_MEASURED_SQL, ("measured_t", "estimated_t", "tickets", "airspace_m3")),
        ],
    )
    board.add(
        g.TimeSeries(
            title=title("จำนวนวันที่เหลือ (ช่วงความเชื่อมั่น)", "Days left with interval"),
            description="Each as-of day's projection: days left at the current rate, and "
            "at the high (low) and low (high) ends of the rate interval",
            unit="d",
            interval="1d",
            overrides=[
                override("remaining_m3", unit="m3"),
                override("remaining_m3", axis="right"),
                {
                    "matcher": {"id": "byRegexp", "options": "days_left_(low|high)"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
                    ],
                },
            ],
        ),
        w=12,
        h=9,
        queries=[
            Query(
                _HISTORY_SQL,
                ("time", "days_left", "days_left_low", "days_left_high", "remaining_m3"),
                fmt="time_series",
            )
        ],
    )
    board.add(
        g.Table(
            title=title("ถ้าแยกขยะออก", "Diversion scenarios"),
            description="Full date if shares of recyclables / organics stop going to the "
            "landfill from now on (pick the last row's shares with the variables above)",
            overrides=[
                override("rate_m3_per_day", unit="m3", decimals=1),
                override("days_left", unit="d", decimals=0),
                override("days_gained", unit="d", decimals=0, cell=COLOUR_TEXT),
            ],
            thresholds=steps(("text", None), ("green", 1)),
        ),
        w=12,
        h=9,
        queries=[
            Query(
                _SCENARIOS_SQL,
                (
                    "site_id",
                    "scenario",
                    "rate_m3_per_day",
                    "days_left",
                    "full_date",
                    "days_gained",
                ),
            )
        ],
    )
    board.add(
        g.PieChartv2(
            title=title("ปริมาตรที่ใช้ตามประเภท", "Airspace use by stream"),
            unit="m3",
            reduceOptionsValues=True,
            legendDisplayMode="table",
            legendPlacement="right",
            legendValues=["value", "percent"],
        ),
        w=12,
        h=8,
        queries=[Query(_STREAM_SHARE_SQL, ("stream", "rate_m3_per_day"))],
    )
    return board
