"""ประวัติการเก็บขยะ / Collection history: what planners ask of the past.

How much of which stream was collected where and when, whether bins were
emptied too early (half empty: a wasted stop) or too late (already full:
overflow in the street), and any one bin's history.  Per-day figures come from
the processors' ``zone_stream_daily`` (Bangkok days); single collections from
``collections``; a bin's fill curve from ``readings``.
"""

from __future__ import annotations

from grafanalib import core as g

from wastewatch.grafana.board import Board, Query, steps, title
from wastewatch.grafana.dashboards.common import (
    BIN,
    COLOUR_TEXT,
    FILL_STEPS,
    LOCAL_DAY_AS_TIME,
    LOCAL_DAY_RANGE,
    STREAM,
    STREAMS,
    ZONE,
    absolute,
    in_var,
    override,
    per_stream_query,
    stacked_bars,
    stat,
    stream_colour_overrides,
)

UID = "ww-collections"

TOO_EARLY_MARGIN = 0.3
"""A collection is too early when the bin was filled less than its threshold minus this."""
TOO_LATE_FILL = 0.98
"""... and too late when it was at the top already (the overflow alert's level)."""

_C_FILTER = f"{in_var('c.zone_id', 'zone')} AND {in_var('c.stream', 'stream')}"
_D_FILTER = f"{in_var('d.zone_id', 'zone')} AND {in_var('d.stream', 'stream')}"

_TOTALS_SQL = f"""SELECT count(*) AS collections,
  sum(c.volume_l) / 1000 AS volume_m3,
  sum(c.mass_kg) / 1000 AS mass_t,
  avg(c.fill_before) AS fill_at_collection
FROM collections c
WHERE $__timeFilter(c.time) AND {_C_FILTER}"""


def _daily_per_stream(expr: str) -> str:
    """Per Bangkok day, ``sum(expr)`` over ``zone_stream_daily d``, one column per stream."""
    per_stream = ",\n  ".join(
        f"sum({expr}) FILTER (WHERE d.stream = '{key}') AS {key}" for key, _, _ in STREAMS
    )
    return f"""SELECT {LOCAL_DAY_AS_TIME.format(col="d.day")} AS "time",
  {per_stream}
FROM zone_stream_daily d
WHERE d.day {LOCAL_DAY_RANGE} AND {_D_FILTER}
GROUP BY 1
ORDER BY 1"""


_COUNT_SQL = _daily_per_stream("d.collections")
_VOLUME_SQL = _daily_per_stream("d.volume_l / 1000")

_BY_ZONE_SQL = f"""SELECT z.name_th || ' / ' || z.name_en AS zone,
  sum(d.collections) AS collections,
  sum(d.volume_l) / 1000 AS volume_m3,
  sum(d.mass_kg) / 1000 AS mass_t,
  sum(d.fill_avg * d.readings) / nullif(sum(d.readings) FILTER (WHERE d.fill_avg IS NOT NULL), 0)
    AS fill_avg,
  max(d.fill_max) AS fill_max
FROM zone_stream_daily d
JOIN zones z ON z.zone_id = d.zone_id
WHERE d.day {LOCAL_DAY_RANGE} AND {_D_FILTER}
GROUP BY z.zone_id, z.name_th, z.name_en
ORDER BY z.zone_id"""

_HISTOGRAM_SQL = f"""SELECT to_char(band.lo * 10, 'FM990') || '–'
    || to_char(band.lo * 10 + 10, 'FM990') || '%' AS fill_band,
  coalesce(h.n, 0) AS collections
FROM generate_series(0, 9) AS band (lo)
LEFT JOIN (
  SELECT least(floor(c.fill_before * 10), 9)::int AS lo, count(*) AS n
  FROM collections c
  WHERE $__timeFilter(c.time) AND {_C_FILTER}
  GROUP BY 1
) h ON h.lo = band.lo
ORDER BY band.lo"""

_TIMING_SQL = f"""SELECT z.name_th || ' / ' || z.name_en AS zone, c.stream,
  count(*) AS collections,
  avg(c.fill_before) AS fill_at_collection,
  count(*) FILTER (WHERE c.fill_before < b.collection_threshold - {TOO_EARLY_MARGIN})::float8
    / count(*) AS too_early,
  count(*) FILTER (WHERE c.fill_before >= {TOO_LATE_FILL})::float8 / count(*) AS too_late
FROM collections c
JOIN bins b ON b.bin_id = c.bin_id
LEFT JOIN zones z ON z.zone_id = c.zone_id
WHERE $__timeFilter(c.time) AND {_C_FILTER}
GROUP BY z.zone_id, z.name_th, z.name_en, c.stream
ORDER BY z.zone_id, c.stream"""

_BIN_FILL_SQL = """SELECT r.time AS "time", r.fill_level
FROM readings r
WHERE r.bin_id = '$bin' AND $__timeFilter(r.time)
ORDER BY 1"""

_BIN_COLLECTED_SQL = """SELECT c.time AS "time", c.fill_before AS fill_at_collection
FROM collections c
WHERE c.bin_id = '$bin' AND $__timeFilter(c.time)
ORDER BY 1"""

_BIN_TABLE_SQL = """SELECT c.time, c.fill_before, c.fill_after, c.volume_l, c.mass_kg,
  c.method, c.confidence
FROM collections c
WHERE c.bin_id = '$bin' AND $__timeFilter(c.time)
ORDER BY c.time DESC
LIMIT 500"""

_RATE_STEPS = steps(("green", None), ("orange", 0.1), ("red", 0.25))


def build() -> Board:
    board = Board(
        uid=UID,
        title=title("ประวัติการเก็บขยะ", "Collection history"),
        description="Collections by zone, stream and day; volume trends; fill at "
        "collection; one bin's history",
        tags=["wastewatch", "planning"],
        variables=[ZONE, STREAM, BIN],
        time_from="now-30d",
        refresh="",
    )
    totals = Query(_TOTALS_SQL, ("collections", "volume_m3", "mass_t", "fill_at_collection"))
    board.add(
        stat(
            title=title("สรุปช่วงเวลา", "Totals for the range"),
            description="Mass is estimated: volume x the stream's loose bulk density",
            thresholds=steps(("blue", None)),
            overrides=[
                override("collections", unit="none", display_name=title("ครั้ง", "collections")),
                override(
                    "volume_m3", unit="m3", decimals=1, display_name=title("ปริมาตร", "volume")
                ),
                override("mass_t", unit="masst", decimals=1, display_name=title("น้ำหนัก", "mass")),
                override(
                    "fill_at_collection",
                    unit="percentunit",
                    decimals=0,
                    display_name=title("ระดับขณะเก็บ", "fill at collection"),
                ),
            ],
        ),
        w=24,
        h=4,
        queries=[totals],
    )
    board.row(title("ตามวันและประเภท", "By day and stream"))
    board.add(
        g.TimeSeries(
            title=title("จำนวนครั้งที่เก็บต่อวัน", "Collections per day"),
            **stacked_bars(),
            interval="1d",
            overrides=stream_colour_overrides(),
        ),
        w=12,
        h=8,
        queries=[per_stream_query(_COUNT_SQL)],
    )
    board.add(
        g.TimeSeries(
            title=title("ปริมาตรที่เก็บต่อวัน", "Volume collected per day"),
            unit="m3",
            interval="1d",
            lineWidth=2,
            overrides=stream_colour_overrides(),
        ),
        w=12,
        h=8,
        queries=[per_stream_query(_VOLUME_SQL)],
    )
    board.add(
        g.Table(
            title=title("ตามเขต", "By zone"),
            overrides=[
                override("volume_m3", unit="m3", decimals=1),
                override("mass_t", unit="masst", decimals=2),
                override("fill_avg", unit="percentunit", decimals=0),
                override("fill_max", unit="percentunit", decimals=0),
            ],
        ),
        w=12,
        h=9,
        queries=[
            Query(
                _BY_ZONE_SQL,
                ("zone", "collections", "volume_m3", "mass_t", "fill_avg", "fill_max"),
            )
        ],
    )
    board.add(
        g.BarChart(
            title=title("ระดับขยะขณะเก็บ", "Fill at collection"),
            description="How full bins were when emptied: the left bars are wasted "
            "stops, the right bar bins that were already overflowing",
            showLegend=False,
            showValue="auto",
        ),
        w=12,
        h=9,
        queries=[Query(_HISTOGRAM_SQL, ("fill_band", "collections"))],
    )
    board.add(
        g.Table(
            title=title("เก็บเร็วหรือช้าเกินไป", "Collected too early or too late"),
            description=f"Too early: fill under the bin's threshold minus "
            f"{TOO_EARLY_MARGIN:.0%}; too late: at {TOO_LATE_FILL:.0%} or more",
            overrides=[
                override("fill_at_collection", unit="percentunit", decimals=0),
                *(
                    override(
                        column,
                        unit="percentunit",
                        decimals=0,
                        thresholds=absolute(_RATE_STEPS),
                        cell=COLOUR_TEXT,
                    )
                    for column in ("too_early", "too_late")
                ),
            ],
        ),
        w=24,
        h=8,
        queries=[
            Query(
                _TIMING_SQL,
                ("zone", "stream", "collections", "fill_at_collection", "too_early", "too_late"),
            )
        ],
    )
    board.row(title("ถังรายใบ: $bin", "One bin: $bin"))
    board.add(
        g.TimeSeries(
            title=title("ระดับขยะ", "Fill level"),
            unit="percentunit",
            valueMin=0,
            valueMax=1,
            thresholds=FILL_STEPS,
            thresholdsStyleMode="dashed",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "fill_at_collection"},
                    "properties": [
                        {"id": "custom.drawStyle", "value": "points"},
                        {"id": "custom.pointSize", "value": 9},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "purple"}},
                    ],
                }
            ],
        ),
        w=14,
        h=9,
        queries=[
            Query(_BIN_FILL_SQL, ("time", "fill_level"), fmt="time_series"),
            Query(
                _BIN_COLLECTED_SQL,
                ("time", "fill_at_collection"),
                fmt="time_series",
                ref="B",
                may_be_empty=True,
            ),
        ],
    )
    board.add(
        g.Table(
            title=title("การเก็บของถังนี้", "This bin's collections"),
            overrides=[
                override("fill_before", unit="percentunit", decimals=0),
                override("fill_after", unit="percentunit", decimals=0),
                override("volume_l", unit="litre", decimals=0),
                override("mass_kg", unit="masskg", decimals=1),
                override("confidence", unit="percentunit", decimals=0),
            ],
        ),
        w=10,
        h=9,
        queries=[
            Query(
                _BIN_TABLE_SQL,
                (
                    "time",
                    "fill_before",
                    "fill_after",
                    "volume_l",
                    "mass_kg",
                    "method",
                    "confidence",
                ),
                may_be_empty=True,
            )
        ],
    )
    return board
