"""ภาพรวมการเก็บขยะ / Collection operations: what the control room watches all day.

Which bins are full or about to be, where they stand, which alerts are open
(fire first), and how far today's routes have got.  Current state comes from
the processors' ``bin_state`` and ``alerts``; routes from ``route_plans`` /
``route_stops`` (migrations 0007, 0012) with progress from ``collections``.
"""

from __future__ import annotations

from grafanalib import core as g

from wastewatch.grafana.board import Board, Geomap, Query, steps, title
from wastewatch.grafana.dashboards.common import (
    BIN_FILTER,
    COLOUR_CELL,
    FILL_STEPS,
    GAUGE_CELL,
    SEVERITY_MAPPINGS,
    STREAM,
    STREAM_MAPPINGS,
    STREAMS,
    URGENCY_MAPPINGS,
    ZONE,
    absolute,
    in_var,
    override,
    per_stream_query,
    stat,
    stream_colour_overrides,
)

UID = "ww-operations"

# One geomap layer per stream, each with its own marker shape, so streams can be
# told apart in greyscale and switched off one by one in the layer list.
_SHAPES = ("circle", "square", "triangle", "star")

_MAP_SQL = f"""SELECT b.bin_id, b.latitude, b.longitude, b.stream, b.zone_id,
  s.fill_level, s.urgency, s.collect_by, s.last_reading_at
FROM bins b
LEFT JOIN bin_state s ON s.bin_id = b.bin_id
WHERE b.active AND b.stream = '{{stream}}' AND {BIN_FILTER}
ORDER BY b.bin_id"""
_MAP_COLUMNS = (
    "bin_id",
    "latitude",
    "longitude",
    "stream",
    "zone_id",
    "fill_level",
    "urgency",
    "collect_by",
    "last_reading_at",
)

_URGENCY_ORDER = (
    "CASE s.urgency WHEN 'overflowing' THEN 0 WHEN 'urgent' THEN 1 WHEN 'soon' THEN 2 ELSE 3 END"
)

_TO_COLLECT_SQL = f"""SELECT s.bin_id, b.name,
  z.name_th || ' / ' || z.name_en AS zone, b.stream, s.fill_level, s.urgency,
  s.collect_by, s.threshold_at, s.threshold_late, s.rate_per_h, s.last_reading_at
FROM bin_state s
JOIN bins b ON b.bin_id = s.bin_id
LEFT JOIN zones z ON z.zone_id = b.zone_id
WHERE s.urgency <> 'fine' AND {BIN_FILTER}
ORDER BY {_URGENCY_ORDER}, s.collect_by NULLS LAST, s.fill_level DESC
LIMIT 500"""

_ALERTS_SQL = f"""SELECT a.opened_at, a.severity, a.kind,
  coalesce(a.bin_id, b.bin_id, a.device_id, a.site_id) AS subject,
  z.name_th || ' / ' || z.name_en AS zone, a.message_th, a.message_en
FROM alerts a
LEFT JOIN bins b ON b.bin_id = a.bin_id OR (a.bin_id IS NULL AND b.device_id = a.device_id)
LEFT JOIN zones z ON z.zone_id = b.zone_id
WHERE a.state = 'open'
  AND (b.bin_id IS NULL OR ({BIN_FILTER}))
ORDER BY a.kind = 'fire' DESC,
  CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
  a.opened_at DESC
LIMIT 500"""

# "Today" is the Bangkok day at the end of the picked range: now, live; the
# replayed day when an operator looks back.  A stop is done once its bin has as many
# collections that day as the stop is its visit of the day: the n-th stop at a bin,
# by ETA over every truck's latest plan, needs the n-th collection.  So one emptying
# does not tick off both visits of a market bin, whether the same truck comes back
# (route_stops.visit 2, migration 0012) or a second truck does (an ordinary stop,
# visit 1, of that truck's plan).  "stops" counts visits.  The day's bounds are
# written from the range end (a constant), not from p.service_date (equal, since
# plans are of that day), so TimescaleDB excludes the other collections chunks when
# planning instead of at every stop (bench dashboards: 40 -> 10 ms).
_TODAY = "($__timeTo()::timestamptz AT TIME ZONE 'Asia/Bangkok')::date"
_ROUTES_SQL = f"""WITH plans AS (
  SELECT DISTINCT ON (p.truck_id) p.plan_id, p.truck_id, p.waste_stream, p.service_date,
    p.total_distance_km, p.expected_load_kg, p.solver_status
  FROM route_plans p
  WHERE p.service_date = {_TODAY}
  ORDER BY p.truck_id, p.created_at DESC
), stops AS (
  SELECT s.plan_id, s.bin_id, s.eta,
    row_number() OVER (PARTITION BY s.bin_id ORDER BY s.eta, s.plan_id) AS day_visit
  FROM plans p JOIN route_stops s ON s.plan_id = p.plan_id
)
SELECT p.truck_id, t.name AS truck, p.waste_stream AS stream,
  count(*) AS stops, count(c.bin_id) AS done,
  count(c.bin_id)::float8 / count(*) AS progress,
  min(s.eta) FILTER (WHERE c.bin_id IS NULL) AS next_eta,
  max(s.eta) AS last_eta, p.total_distance_km AS distance_km,
  p.expected_load_kg / 1000 AS expected_load_t, p.solver_status
FROM plans p
JOIN stops s ON s.plan_id = p.plan_id
LEFT JOIN trucks t ON t.truck_id = p.truck_id
LEFT JOIN LATERAL (
  SELECT c.bin_id FROM collections c
  WHERE c.bin_id = s.bin_id
    AND c.time >= ({_TODAY}::timestamp AT TIME ZONE 'Asia/Bangkok')
    AND c.time < (({_TODAY} + 1)::timestamp AT TIME ZONE 'Asia/Bangkok')
  ORDER BY c.time
  OFFSET s.day_visit - 1 LIMIT 1
) c ON true
WHERE {in_var("p.waste_stream", "stream")}
GROUP BY p.truck_id, t.name, p.waste_stream, p.total_distance_km, p.expected_load_kg,
  p.solver_status
ORDER BY p.truck_id"""

_FILL_TREND_SELECT = ",\n  ".join(
    f"sum(h.fill_sum) FILTER (WHERE h.stream = '{key}') / "
    f"nullif(sum(h.levels) FILTER (WHERE h.stream = '{key}'), 0) AS {key}"
    for key, _, _ in STREAMS
)
_FILL_TREND_SQL = f"""SELECT $__timeGroupAlias(h.bucket, $__interval),
  {_FILL_TREND_SELECT}
FROM bin_hourly h
WHERE $__timeFilter(h.bucket) AND {in_var("h.zone_id", "zone")}
  AND {in_var("h.stream", "stream")}
GROUP BY 1
ORDER BY 1"""

_SUMMARY_SQL = f"""SELECT
  count(*) FILTER (WHERE s.urgency IN ('overflowing', 'urgent')) AS to_collect,
  count(*) FILTER (WHERE s.urgency = 'overflowing') AS overflowing,
  avg(s.fill_level) AS fill_avg
FROM bin_state s
JOIN bins b ON b.bin_id = s.bin_id
WHERE {BIN_FILTER}"""

_OPEN_ALERTS_SQL = """SELECT
  count(*) FILTER (WHERE kind = 'fire') AS fires,
  count(*) FILTER (WHERE severity = 'critical') AS critical,
  count(*) AS open_alerts
FROM alerts
WHERE state = 'open'"""


def build() -> Board:
    board = Board(
        uid=UID,
        title=title("ภาพรวมการเก็บขยะ", "Collection operations"),
        description="Bins to collect, alerts and today's routes (Kalasin Town Municipality)",
        tags=["wastewatch", "operations"],
        variables=[ZONE, STREAM],
        time_from="now-24h",
        refresh="1m",
    )
    summary = Query(_SUMMARY_SQL, ("to_collect", "overflowing", "fill_avg"))
    board.add(
        stat(
            title=title("ต้องเก็บ", "Bins to collect"),
            description="Urgent or overflowing bins (bin_state.urgency)",
            format="none",
            fields="/^(to_collect|overflowing)$/",
            thresholds=steps(("green", None), ("orange", 1), ("red", 20)),
            overrides=[
                override("to_collect", display_name=title("ต้องเก็บ", "to collect")),
                override("overflowing", display_name=title("ล้น", "overflowing")),
            ],
        ),
        w=6,
        h=4,
        queries=[summary],
    )
    board.add(
        stat(
            title=title("ระดับขยะเฉลี่ย", "Average fill"),
            format="percentunit",
            fields="fill_avg",
            decimals=0,
            thresholds=FILL_STEPS,
        ),
        w=4,
        h=4,
        queries=[summary],
    )
    board.add(
        stat(
            title=title("การแจ้งเตือนที่เปิดอยู่", "Open alerts"),
            description="Fires, critical and all open alerts (alerts.state = 'open')",
            format="none",
            thresholds=steps(("green", None), ("red", 1)),
            overrides=[
                override("fires", display_name=title("ไฟไหม้", "fires")),
                override("critical", display_name=title("วิกฤต", "critical")),
                override(
                    "open_alerts",
                    display_name=title("ทั้งหมด", "all"),
                    thresholds=absolute(steps(("blue", None))),
                ),
            ],
        ),
        w=8,
        h=4,
        queries=[Query(_OPEN_ALERTS_SQL, ("fires", "critical", "open_alerts"))],
    )
    board.add(
        g.TimeSeries(
            title=title("ระดับขยะเฉลี่ยตามประเภท", "Average fill by stream"),
            unit="percentunit",
            valueMin=0,
            valueMax=1,
            interval="1h",
            overrides=stream_colour_overrides(),
        ),
        w=6,
        h=4,
        queries=[
            per_stream_query(_FILL_TREND_SQL),
        ],
    )

    board.add(
        Geomap(
            title=title("แผนที่ถังขยะ", "Bin map"),
            description="Colour = fill level; one layer and marker shape per waste stream "
            "(circle general, square recyclable, triangle organic, star hazardous)",
            thresholds=FILL_STEPS,
            # Fitted to the bins shown (the city, or the zones picked), not a fixed centre:
            # Grafana's geomap schema has integer lat/lon/zoom, so a fixed centre could
            # only be whole degrees (~50 km off) and stay valid.
            view={"id": "fit", "allLayers": True, "maxZoom": 17},
            layers=[
                {
                    "type": "markers",
                    "name": f"{th} / {en}",
                    "config": {
                        "showLegend": i == 0,
                        "style": {
                            "color": {"field": "fill_level", "fixed": "dark-green"},
                            "opacity": 0.85,
                            "size": {"fixed": 8, "min": 6, "max": 12},
                            "symbol": {
                                "mode": "fixed",
                                "fixed": f"img/icons/marker/{_SHAPES[i]}.svg",
                            },
                            "symbolAlign": {"horizontal": "center", "vertical": "center"},
                        },
                    },
                    "location": {
                        "mode": "coords",
                        "latitude": "latitude",
                        "longitude": "longitude",
                    },
                    "filterData": {"id": "byRefId", "options": chr(ord("A") + i)},
                    "tooltip": True,
                }
                for i, (_, th, en) in enumerate(STREAMS)
            ],
        ),
        w=12,
        h=14,
        queries=[
            Query(
                _MAP_SQL.format(stream=key),
                _MAP_COLUMNS,
                ref=chr(ord("A") + i),
                may_be_empty=True,
            )
            for i, (key, _, _) in enumerate(STREAMS)
        ],
    )
    board.add(
        g.Table(
            title=title("ถังที่ต้องเก็บ", "Bins needing collection"),
            description="Most urgent first; collect by = the early end of the predicted "
            "threshold crossing, so a truck arriving then finds the bin under its threshold",
            filterable=True,
            overrides=[
                override("fill_level", unit="percentunit", min=0, max=1, cell=GAUGE_CELL),
                override("urgency", cell=COLOUR_CELL),
                override("stream", mappings=STREAM_MAPPINGS),
                override("rate_per_h", unit="percentunit", decimals=1),
                override("bin_id", display_name=title("ถัง", "bin")),
                override("collect_by", display_name=title("เก็บก่อน", "collect by")),
            ],
            mappings=URGENCY_MAPPINGS,
            thresholds=FILL_STEPS,
        ),
        w=12,
        h=14,
        queries=[
            Query(
                _TO_COLLECT_SQL,
                (
                    "bin_id",
                    "name",
                    "zone",
                    "stream",
                    "fill_level",
                    "urgency",
                    "collect_by",
                    "threshold_at",
                    "threshold_late",
                    "rate_per_h",
                    "last_reading_at",
                ),
            )
        ],
    )

    board.add(
        g.Table(
            title=title("การแจ้งเตือน (ไฟไหม้ก่อน)", "Active alerts (fire first)"),
            filterable=True,
            overrides=[
                override("severity", cell=COLOUR_CELL),
                override("opened_at", display_name=title("เริ่ม", "opened")),
            ],
            mappings=SEVERITY_MAPPINGS,
        ),
        w=12,
        h=10,
        queries=[
            Query(
                _ALERTS_SQL,
                ("opened_at", "severity", "kind", "subject", "zone", "message_th", "message_en"),
            )
        ],
    )
    board.add(
        g.Table(
            title=title("เส้นทางวันนี้", "Today's routes"),
            description="Latest plan per truck for the Bangkok day at the end of the time "
            "range; a stop is done once its bin has a collection that day",
            overrides=[
                override("progress", unit="percentunit", min=0, max=1, cell=GAUGE_CELL),
                override("stream", mappings=STREAM_MAPPINGS),
                override("next_eta", display_name=title("จุดถัดไป", "next stop ETA")),
                override("distance_km", unit="lengthkm", decimals=1),
                override("expected_load_t", unit="masst", decimals=1),
            ],
            thresholds=steps(("red", None), ("orange", 0.5), ("green", 0.9)),
        ),
        w=12,
        h=10,
        queries=[
            Query(
                _ROUTES_SQL,
                (
                    "truck_id",
                    "truck",
                    "stream",
                    "stops",
                    "done",
                    "progress",
                    "next_eta",
                    "last_eta",
                    "distance_km",
                    "expected_load_t",
                    "solver_status",
                ),
                may_be_empty=True,
            )
        ],
    )
    return board
