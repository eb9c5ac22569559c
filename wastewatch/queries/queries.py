"""SQL for the planners' API and reports, built from fixed fragments.

Every value a person gives is a bound parameter (``%(name)s``); the only text
that varies is chosen from the allow-lists in this module (sort orders, which
registry a lookup checks), never taken from the request.  Each builder returns
a :class:`Query` and the column names the caller can expect, so the API, the
CLI and the report format rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from wastewatch.queries.params import Period

__all__ = [
    "ALERT_SEVERITIES",
    "ALERT_STATES",
    "BIN_SORTS",
    "ORDERS",
    "URGENCIES",
    "Filters",
    "Page",
    "Query",
    "alerts_query",
    "bin_query",
    "bins_query",
    "collections_query",
    "existing_query",
    "landfill_query",
    "readings_query",
    "registry_query",
    "route_plans_query",
    "route_stops_query",
]


@dataclass(frozen=True, slots=True)
class Query:
    """SQL text with named placeholders, its parameters and its result columns."""

    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters every list shares; empty = no filter."""

    zones: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    bins: tuple[str, ...] = ()
    period: Period = field(default_factory=Period)


@dataclass(frozen=True, slots=True)
class Page:
    """One page: ``limit`` rows after ``offset``; one more is fetched to know if more follow."""

    limit: int = 100
    offset: int = 0


ORDERS: Final = {"desc": "desc", "asc": "asc"}
BIN_SORTS: Final = {
    "bin_id": "b.bin_id",
    "zone": "b.zone_id, b.stream, b.bin_id",
    "fill_level": "s.fill_level desc nulls last, b.bin_id",
    "collect_by": "s.collect_by asc nulls last, b.bin_id",
    "urgency": "case s.urgency when 'overflowing' then 0 when 'urgent' then 1 "
    "when 'soon' then 2 when 'fine' then 3 else 4 end, s.collect_by asc nulls last, b.bin_id",
}
URGENCIES: Final = ("overflowing", "urgent", "soon", "fine")
ALERT_SEVERITIES: Final = ("info", "warning", "critical")
ALERT_STATES: Final = ("open", "resolved")

# kind -> (table, id column, order): what `existing_query` may look up.
_REGISTRIES: Final = {
    "zone": ("zones", "zone_id"),
    "stream": ("waste_streams", "stream"),
    "bin": ("bins", "bin_id"),
    "site": ("landfill_sites", "site_id"),
    "truck": ("trucks", "truck_id"),
}


def existing_query(kind: str, values: Sequence[str]) -> Query:
    """Which of ``values`` exist in the registry of ``kind`` (zone, stream, bin, site, truck)."""
    table, column = _REGISTRIES[kind]
    return Query(
        f"select {column} from {table} where {column} = any(%(values)s)",
        {"values": list(values)},
        (column,),
    )


def registry_query(kind: str, limit: int = 200) -> Query:
    """Known ids of one registry, for messages listing what could have been meant."""
    table, column = _REGISTRIES[kind]
    return Query(
        f"select {column} from {table} order by {column} limit %(limit)s", {"limit": limit}
    )


class _Where:
    """Conditions and parameters built together, so every value is bound."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: dict[str, Any] = {}

    def any_of(self, column: str, name: str, values: Sequence[str]) -> None:
        if values:
            self.parts.append(f"{column} = any(%({name})s)")
            self.params[name] = list(values)

    def equals(self, column: str, name: str, value: Any) -> None:
        self.parts.append(f"{column} = %({name})s")
        self.params[name] = value

    def period(self, column: str, period: Period) -> None:
        if period.start is not None:
            self.parts.append(f"{column} >= %(start)s")
            self.params["start"] = period.start
        if period.end is not None:
            self.parts.append(f"{column} < %(end)s")
            self.params["end"] = period.end

    def filters(self, f: Filters, *, zone: str, stream: str, bin_id: str) -> None:
        self.any_of(zone, "zones", f.zones)
        self.any_of(stream, "streams", f.streams)
        self.any_of(bin_id, "bins", f.bins)

    def sql(self) -> str:
        return ("where " + " and ".join(self.parts)) if self.parts else ""


def _page(w: _Where, page: Page) -> str:
    w.params["limit"] = page.limit + 1
    w.params["offset"] = page.offset
    return "limit %(limit)s offset %(offset)s"


def _time_ordered_page(
    table: str, columns: tuple[str, ...], w: _Where, page: Page, order: str, tiebreak: str
) -> Query:
    """One page of ``table`` under ``w``, ordered by ``time`` (``order``) then ``tiebreak``
    (the key that makes the order total, so pages neither skip nor repeat rows)."""
    return Query(
        f"select {', '.join(columns)} from {table} {w.sql()} "
        f"order by time {ORDERS[order]}, {tiebreak} {_page(w, page)}",
        w.params,
        columns,
    )


BIN_COLUMNS: Final = (
    "bin_id",
    "device_id",
    "name",
    "address",
    "zone_id",
    "stream",
    "latitude",
    "longitude",
    "volume_l",
    "container_model",
    "collection_threshold",
    "active",
    "installed_at",
    "fill_level",
    "rate_per_h",
    "urgency",
    "threshold_at",
    "collect_by",
    "last_reading_at",
    "last_collection_at",
    "open_alerts",
)
_BIN_SELECT: Final = """select b.bin_id, b.device_id, b.name, b.address, b.zone_id, b.stream,
       b.latitude, b.longitude, b.volume_l, b.container_model, b.collection_threshold,
       b.active, b.installed_at, s.fill_level, s.rate_per_h, s.urgency, s.threshold_at,
       s.collect_by, s.last_reading_at, s.last_collection_at,
       array(select a.kind from alerts a
             where a.state = 'open' and (a.bin_id = b.bin_id or a.device_id = b.device_id)
             order by a.kind) as open_alerts
from bins b left join bin_state s on s.bin_id = b.bin_id"""


def bins_query(
    f: Filters,
    page: Page,
    *,
    sort: str = "bin_id",
    urgencies: Sequence[str] = (),
    active_only: bool = False,
) -> Query:
    """The registry with each bin's current state (``bin_state``) and open alert kinds."""
    w = _Where()
    w.filters(f, zone="b.zone_id", stream="b.stream", bin_id="b.bin_id")
    w.any_of("s.urgency", "urgencies", urgencies)
    if active_only:
        w.parts.append("b.active")
    order = BIN_SORTS[sort]
    limit = _page(w, page)
    return Query(f"{_BIN_SELECT}\n{w.sql()}\norder by {order}\n{limit}", w.params, BIN_COLUMNS)


def bin_query(bin_id: str) -> Query:
    """One bin, as in :func:`bins_query`."""
    return Query(f"{_BIN_SELECT}\nwhere b.bin_id = %(bin_id)s", {"bin_id": bin_id}, BIN_COLUMNS)


READING_COLUMNS: Final = (
    "time",
    "fill_level",
    "distance_mm",
    "temperature_c",
    "battery_mv",
    "rssi_dbm",
    "flags",
    "device_id",
    "boot_counter",
    "seq",
)


def readings_query(bin_id: str, period: Period, page: Page, *, order: str = "desc") -> Query:
    """One bin's readings in ``period``, newest first by default."""
    w = _Where()
    w.equals("bin_id", "bin_id", bin_id)
    w.period("time", period)
    return _time_ordered_page(
        "readings", READING_COLUMNS, w, page, order, "device_id, boot_counter, seq"
    )


COLLECTION_COLUMNS: Final = (
    "time",
    "event_id",
    "bin_id",
    "device_id",
    "zone_id",
    "stream",
    "fill_before",
    "fill_after",
    "volume_l",
    "mass_kg",
    "method",
    "confidence",
)


def collections_query(f: Filters, page: Page, *, order: str = "desc") -> Query:
    """Detected emptyings (``collections``), newest first by default."""
    w = _Where()
    w.filters(f, zone="zone_id", stream="stream", bin_id="bin_id")
    w.period("time", f.period)
    return _time_ordered_page("collections", COLLECTION_COLUMNS, w, page, order, "event_id")


ALERT_COLUMNS: Final = (
    "alert_id",
    "kind",
    "severity",
    "state",
    "bin_id",
    "device_id",
    "site_id",
    "zone_id",
    "stream",
    "opened_at",
    "resolved_at",
    "message_en",
    "message_th",
    "details",
)


def alerts_query(
    f: Filters,
    page: Page,
    *,
    kinds: Sequence[str] = (),
    severities: Sequence[str] = (),
    states: Sequence[str] = (),
    sites: Sequence[str] = (),
    order: str = "desc",
) -> Query:
    """Alerts opened in the period, with their bin's zone and stream."""
    w = _Where()
    w.filters(f, zone="b.zone_id", stream="b.stream", bin_id="coalesce(a.bin_id, b.bin_id)")
    w.any_of("a.kind", "kinds", kinds)
    w.any_of("a.severity", "severities", severities)
    w.any_of("a.state", "states", states)
    w.any_of("a.site_id", "sites", sites)
    w.period("a.opened_at", f.period)
    direction = ORDERS[order]
    limit = _page(w, page)
    return Query(
        "select a.alert_id, a.kind, a.severity, a.state, coalesce(a.bin_id, b.bin_id), "
        "a.device_id, a.site_id, b.zone_id, b.stream, a.opened_at, a.resolved_at, "
        "a.message_en, a.message_th, a.details "
        "from alerts a left join bins b on b.bin_id = a.bin_id "
        "or (a.bin_id is null and b.device_id = a.device_id) "
        f"{w.sql()} order by a.opened_at {direction}, a.alert_id {limit}",
        w.params,
        ALERT_COLUMNS,
    )


LANDFILL_COLUMNS: Final = (
    "site_id",
    "name",
    "latitude",
    "longitude",
    "capacity_m3",
    "surveyed_on",
    "as_of",
    "used_m3",
    "remaining_m3",
    "fill_fraction",
    "rate_m3_per_day",
    "rate_low_m3_per_day",
    "rate_high_m3_per_day",
    "days_left",
    "full_date",
    "full_date_early",
    "full_date_late",
    "window_days",
    "rate_by_stream_m3_per_day",
)


def landfill_query(sites: Sequence[str] = ()) -> Query:
    """Each site with its latest capacity projection (``landfill_projections``)."""
    w = _Where()
    w.any_of("s.site_id", "sites", sites)
    return Query(
        "select s.site_id, s.name, s.latitude, s.longitude, s.capacity_m3, s.surveyed_on, "
        "p.as_of, p.used_m3, p.remaining_m3, p.fill_fraction, p.rate_m3_per_day, "
        "p.rate_low_m3_per_day, p.rate_high_m3_per_day, p.days_left, p.full_date, "
        "p.full_date_early, p.full_date_late, p.window_days, p.rate_by_stream "
        "from landfill_sites s left join lateral ("
        " select * from landfill_projections p where p.site_id = s.site_id"
        " order by p.as_of desc limit 1) p on true "
        f"{w.sql()} order by s.site_id",
        w.params,
        LANDFILL_COLUMNS,
    )


PLAN_COLUMNS: Final = (
    "plan_id",
    "service_date",
    "truck_id",
    "waste_stream",
    "revision",
    "created_at",
    "total_distance_km",
    "total_duration_s",
    "expected_load_l",
    "expected_load_kg",
    "solver_status",
    "fill_source",
    "distance_source",
    "notes",
)


def route_plans_query(
    day: date, *, streams: Sequence[str] = (), trucks: Sequence[str] = ()
) -> Query:
    """The plan in force per truck on ``day``: the latest ``created_at`` wins (as in 0007)."""
    w = _Where()
    w.equals("service_date", "day", day)
    w.any_of("waste_stream", "streams", streams)
    w.any_of("truck_id", "trucks", trucks)
    return Query(
        f"select distinct on (truck_id) {', '.join(PLAN_COLUMNS)} from route_plans "
        f"{w.sql()} order by truck_id, created_at desc, revision desc",
        w.params,
        PLAN_COLUMNS,
    )


STOP_COLUMNS: Final = (
    "plan_id",
    "sequence",
    "bin_id",
    "visit",
    "eta",
    "expected_load_l",
    "expected_load_kg",
    "distance_from_previous_km",
    "unload_after",
    "latitude",
    "longitude",
    "name",
)


def route_stops_query(plan_ids: Sequence[str]) -> Query:
    """The stops of those plans in visiting order, repeat visits included (``visit`` 2,
    migration 0012), with where each bin stands."""
    return Query(
        "select s.plan_id, s.sequence, s.bin_id, s.visit, s.eta, s.expected_load_l, "
        "s.expected_load_kg, "
        "s.distance_from_previous_km, s.unload_after, b.latitude, b.longitude, b.name "
        "from route_stops s left join bins b on b.bin_id = s.bin_id "
        "where s.plan_id = any(%(plans)s) order by s.plan_id, s.sequence",
        {"plans": list(plan_ids)},
        STOP_COLUMNS,
    )


ZONE_COLUMNS: Final = ("zone_id", "name_en", "name_th", "bins")
STREAM_COLUMNS: Final = ("stream", "name_en", "name_th", "density_kg_per_m3", "bins")


def zones_query() -> Query:
    return Query(
        "select z.zone_id, z.name_en, z.name_th, "
        "(select count(*) from bins b where b.zone_id = z.zone_id) "
        "from zones z order by z.zone_id",
        {},
        ZONE_COLUMNS,
    )


def streams_query() -> Query:
    return Query(
        "select w.stream, w.name_en, w.name_th, w.density_kg_per_m3, "
        "(select count(*) from bins b where b.stream = w.stream) "
        "from waste_streams w order by w.stream",
        {},
        STREAM_COLUMNS,
    )
