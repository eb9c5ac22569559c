"""Pieces the boards share: variables, labels, colours, value mappings."""

from __future__ import annotations

from typing import Any, Final

from grafanalib import core as g

from wastewatch.grafana.board import Query, Variable, steps, title

STREAMS: Final = (
    ("general", "ขยะทั่วไป", "General"),
    ("recyclable", "ขยะรีไซเคิล", "Recyclable"),
    ("organic", "ขยะอินทรีย์", "Organic"),
    ("hazardous", "ขยะอันตราย", "Hazardous"),
)
"""Waste streams of migration 0002 (waste_streams), in board order."""

STREAM_COLOURS: Final = {
    "general": "blue",
    "recyclable": "yellow",
    "organic": "green",
    "hazardous": "red",
}
"""Colours that match the Thai bin colour code (blue general, yellow recyclable,
green organic, red hazardous), so the boards look like the street."""

ALL_VALUE: Final = "'__all'"
"""The zone and stream variables' custom "All" value.  Grafana puts a custom all
value into the SQL as written, so "All" arrives as this one literal instead of
every zone (stream) quoted, and :func:`in_var` makes it a condition the planner
folds to true: no per-row test against every zone for the whole fleet (about a
fifth of a 7-day fleet query's time, ``wastewatch bench dashboards``)."""


def in_var(column: str, var: str) -> str:
    """``column IN ($var)``, or true for every row when the variable is at "All"."""
    return f"({ALL_VALUE} IN (${var}) OR {column} IN (${var}))"


ZONE = Variable(
    name="zone",
    label=title("เขต", "Zone"),
    sql="SELECT zone_id AS __value, name_th || ' / ' || name_en AS __text FROM zones ORDER BY 1",
    all_value=ALL_VALUE,
)
STREAM = Variable(
    name="stream",
    label=title("ประเภทขยะ", "Stream"),
    sql="SELECT stream AS __value, name_th || ' / ' || name_en AS __text "
    "FROM waste_streams ORDER BY 1",
    all_value=ALL_VALUE,
)
BIN = Variable(
    name="bin",
    label=title("ถัง", "Bin"),
    sql="SELECT bin_id AS __value, bin_id || coalesce(' ' || name, '') AS __text FROM bins "
    f"WHERE {in_var('zone_id', 'zone')} AND {in_var('stream', 'stream')} ORDER BY 1",
    multi=False,
    include_all=False,
)

BIN_FILTER: Final = f"{in_var('b.zone_id', 'zone')} AND {in_var('b.stream', 'stream')}"
"""The zone and stream variables applied to ``bins b``."""

LOCAL_DAY_RANGE: Final = (
    "BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE 'Asia/Bangkok')::date "
    "AND ($__timeTo()::timestamptz AT TIME ZONE 'Asia/Bangkok')::date"
)
"""The picked time range as Bangkok dates, for the per-day rollups (``day date``)."""

LOCAL_DAY_AS_TIME: Final = "({col}::timestamp AT TIME ZONE 'Asia/Bangkok')"
"""A Bangkok ``date`` as the timestamptz of its local midnight (the x axis)."""

FILL_STEPS: Final = steps(("green", None), ("#EAB839", 0.5), ("orange", 0.75), ("red", 0.9))
"""Fill level colours: green empty, yellow half, orange nearly full, red at collection."""


def value_mappings(*values: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    """Show each value as Thai / English text in its colour: ``(value, th, en, colour)``."""
    return [
        {
            "type": "value",
            "options": {
                value: {"text": f"{th} / {en}", "color": colour, "index": i}
                for i, (value, th, en, colour) in enumerate(values)
            },
        }
    ]


URGENCY_MAPPINGS: Final = value_mappings(
    ("overflowing", "ล้น", "overflowing", "dark-red"),
    ("urgent", "ด่วน", "urgent", "orange"),
    ("soon", "เร็ว ๆ นี้", "soon", "yellow"),
    ("fine", "ปกติ", "fine", "green"),
)
SEVERITY_MAPPINGS: Final = value_mappings(
    ("critical", "วิกฤต", "critical", "red"),
    ("warning", "เตือน", "warning", "orange"),
    ("info", "แจ้ง", "info", "blue"),
)
STREAM_MAPPINGS: Final = value_mappings(
    *((key, th, en, STREAM_COLOURS[key]) for key, th, en in STREAMS)
)


def absolute(colours: list[dict[str, Any]]) -> dict[str, Any]:
    """Thresholds at fixed values (``steps(...)``), as a field override sets them."""
    return {"mode": "absolute", "steps": colours}


def stat(**options: Any) -> Any:
    """A Stat panel of single numbers: no sparkline, the last non-null value.

    ``options`` are grafanalib's ``Stat`` arguments; ``reduceCalc`` may override
    the reduction (``"sum"``).
    """
    return g.Stat(**{"graphMode": "none", "reduceCalc": "lastNotNull", **options})


def stacked_bars() -> dict[str, Any]:
    """TimeSeries arguments for one stacked bar per interval (``**stacked_bars()``)."""
    return {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal", "group": "A"}}


def per_stream_query(sql: str) -> Query:
    """A time series query with a ``time`` column and one column per waste stream."""
    return Query(sql, ("time", *(key for key, _, _ in STREAMS)), fmt="time_series")


def override(name: str, **props: Any) -> dict[str, Any]:
    """A field override by column name, e.g. ``override("fill_level", unit="percentunit")``."""
    properties: list[dict[str, Any]] = []
    for key, value in props.items():
        pid = {
            "display_name": "displayName",
            "cell": "custom.cellOptions",
            "axis": "custom.axisPlacement",
        }.get(key, key)
        properties.append({"id": pid, "value": value})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def stream_colour_overrides() -> list[dict[str, Any]]:
    """One fixed colour per stream series (the series are named by the stream column)."""
    return [
        {
            "matcher": {"id": "byName", "options": key},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": STREAM_COLOURS[key]}},
                {"id": "displayName", "value": f"{th} / {en}"},
            ],
        }
        for key, th, en in STREAMS
    ]


GAUGE_CELL: Final = {"type": "gauge", "mode": "basic"}
COLOUR_CELL: Final = {"type": "color-background", "mode": "basic"}
COLOUR_TEXT: Final = {"type": "color-text"}
