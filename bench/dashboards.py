"""`wastewatch bench dashboards`: every Grafana panel query timed on a city-sized database.

Target (issue 8): each panel query answers in 200 ms or less on 90 days x 1,000
bins at 15-minute readings (8.64 M rows in ``readings``).

**The data, loaded once.**  The run uses a database of its own in the local
cluster, ``ww_bench_dash_<days>d_<bins>b_<interval>m`` (or ``--database``),
migrated from scratch like the tests' (``wastewatch.schema.migrate.migrate`` and
``ensure_login_roles``).  It is loaded by SQL inside PostgreSQL
(``generate_series``, no row crosses the client), one UTC day per statement:

* the registry: the shipped Kalasin city (zones, depot, landfill, trucks) with
  ``bins`` bins taken from it, cloned beyond its 600 like the simulator does
  (``wastewatch.workbench.simulators.engine.select_bins``, with clone trucks);
* ``readings``: one per bin per interval, with fill levels that rise at a
  per-bin rate (by stream, as the simulator's: general 35–95 %/day, organic
  35–105 %, recyclable 15–30 %, hazardous 3–8 %, varied per fill cycle) from a
  small residue after each collection, stay at the top when a collection is
  late, fall back at the next collection; battery drain, temperature cycle,
  RSSI, and fault flags (no echo, sensor-fault days, tilt, low battery, one
  fire); about 1 % of devices fall silent in the last two days;
* what the processors would have written from them (processors are not run:
  their own tests own their logic): ``collections`` (each bin on its own
  period and phase, at its round's time of day), ``bin_hourly`` (aggregated
  from the readings by the rollup processor's rule; its trigger fills
  ``bin_battery_daily``), ``bin_state``,
  ``fill_forecasts`` (one per bin per hour), ``alerts`` (a resolved history and
  the open ones the data implies: offline, low battery, sensor fault, fire,
  overflowing, landfill capacity), ``device_status`` and its history,
  ``zone_stream_daily``, weighbridge tickets in ``landfill_deliveries``,
  ``landfill_daily``, ``landfill_projections`` (one per as-of day), and one
  route plan per truck per day whose stops are the bins collected that day.

``bench_dashboards_load`` records the parameters and the data's time window
once the load is complete.  A later run with the same parameters finds it and
only times (after applying any new migration); other parameters, an unfinished
load, a database a migration cannot be applied to, or ``--reload`` start the
database again from scratch.  The database is kept for the next run unless
``--drop-db``.

**The timing.**  As Grafana does: the read-only role (``WW_DB_READER_DSN``),
every variable at the value the board opens with (``wastewatch.grafana.variables``: "All"
for zone and stream (their custom all value) and site (every site), the first
bin, the what-if defaults), macros
expanded by ``wastewatch.grafana.macros`` with ``$__interval`` = the panel's minimum
interval (the finest Grafana uses).  "Now" is the end of the loaded data.
Ranges: the last 24 h for the live boards (operations, fleet), each board's
default range (fleet 7 days, landfill 90 days, collection history 30 days),
and 90 days for collection history, which planners use.  Each query runs once
to warm the cache, then ``--repeat`` times; median and max of the wall time
(execute and fetch) per panel query and range, and the median CPU time of the
server backend (``/proc/<pid>/schedstat``, local server only), which leaves out
the waiting for a CPU that a shared machine adds.  ``slowest_ms`` is the
highest median wall time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from wastewatch.city import CityData, SimBin, import_city, load_city
from wastewatch.core import load_settings
from wastewatch.grafana import (
    Board,
    DashboardError,
    PanelQuery,
    TimeRange,
    boards,
    expand,
    opening_values,
    parse_interval,
)
from wastewatch.grafana.dashboards import collections as collections_board
from wastewatch.grafana.dashboards import operations as operations_board
from wastewatch.grafana.dashboards import sensor_health as fleet_board
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.ingest import migrate_with_roles, stack_up
from wastewatch.workbench.simulators import DEFAULT_CITY_DIR, SimulatorError, select_bins
from wastewatch.workbench.stack import ROLE_DSN_KEYS, with_database

__all__ = ["TARGET_MS", "DashBenchOptions", "run_dashboards_bench", "time_ranges"]

Progress = Callable[[str], None]
Conn = psycopg.Connection[tuple[Any, ...]]

TARGET_MS = 200.0
GENERATOR_VERSION = 1
"""Bump when the generated data changes: a kept database of an older version is reloaded."""

LIVE_BOARDS = (operations_board.UID, fleet_board.UID)
"""Boards an operator keeps open on the last 24 hours."""
PLANNER_RANGES = {collections_board.UID: ("90d",)}
"""Extra ranges beyond the default: planners look at a whole quarter of history."""

_BANGKOK_S = 7 * 3600
_DAY_S = 86400
_MARKER = "bench_dashboards_load"


@dataclass(frozen=True, slots=True)
class DashBenchOptions:
    """What to load and how often to run each query; the CLI's defaults
    (``wastewatch bench dashboards``)."""

    days: int
    bins: int
    interval_min: int
    repeat: int
    keep_db: bool
    reload: bool
    database: str | None
    explain: bool
    seed: int = 1

    @property
    def db_name(self) -> str:
        return self.database or (f"ww_bench_dash_{self.days}d_{self.bins}b_{self.interval_min}m")

    @property
    def step_s(self) -> int:
        return self.interval_min * 60


@dataclass(frozen=True, slots=True)
class Loaded:
    """The loaded data's window and size, as recorded in the marker table."""

    start: datetime
    end: datetime
    readings: int
    load_s: float
    reused: bool


@dataclass(slots=True)
class Timing:
    """One panel query on one time range."""

    pq: PanelQuery
    range_label: str
    runs_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    """The server backend's own CPU time per run (Linux schedstat), when it is local."""
    rows: int = 0

    @property
    def key(self) -> str:
        return f"{self.pq.name}@{self.range_label}"

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def max_ms(self) -> float:
        return max(self.runs_ms)

    @property
    def cpu_median_ms(self) -> float | None:
        return statistics.median(self.cpu_ms) if self.cpu_ms else None


# --------------------------------------------------------------------------- database


def _connect(dsn: str, *, autocommit: bool = True) -> Conn:
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise BenchError(f"cannot connect to {dsn.rsplit('@', 1)[-1]}: {exc}") from exc


def _marker(dsn: str) -> dict[str, Any] | None:
    with _connect(dsn) as conn:
        row = conn.execute("select to_regclass(%s) is not null", [_MARKER]).fetchone()
        if not row or not row[0]:
            return None
        cur = conn.execute(
            f"select generator_version, days, bins, interval_min, data_start, data_end, "
            f"readings, load_s from {_MARKER}"
        )
        names = [c.name for c in cur.description or ()]
        got = cur.fetchone()
    return dict(zip(names, got, strict=True)) if got else None


def _matches(marker: dict[str, Any] | None, opts: DashBenchOptions) -> bool:
    return marker is not None and (
        marker["generator_version"],
        marker["days"],
        marker["bins"],
        marker["interval_min"],
    ) == (GENERATOR_VERSION, opts.days, opts.bins, opts.interval_min)


@contextlib.contextmanager
def _database(
    env: dict[str, str], opts: DashBenchOptions, progress: Progress
) -> Iterator[tuple[dict[str, str], Loaded]]:
    """The loaded database (reused when it holds this load), dropped after with ``keep_db``
    off."""
    name = opts.db_name
    server = with_database(env["WW_DB_DSN"], "postgres")
    dsns = {key: with_database(env[key], name) for key in ROLE_DSN_KEYS}
    with _connect(server) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
    loaded: Loaded | None = None
    if exists and not opts.reload:
        try:
            migrate_with_roles(dsns)
        except BenchError as exc:  # e.g. a migration edited since (before it shipped)
            progress(f"database {name} cannot be migrated ({exc}): starting it again")
            exists = None
    if exists and not opts.reload:
        marker = _marker(dsns["WW_DB_DSN"])
        if _matches(marker, opts):
            assert marker is not None
            loaded = Loaded(
                start=marker["data_start"],
                end=marker["data_end"],
                readings=int(marker["readings"]),
                load_s=0.0,
                reused=True,
            )
            progress(
                f"database {name}: reusing the load of {loaded.readings:,} readings "
                f"({loaded.start:%Y-%m-%d %H:%M} .. {loaded.end:%Y-%m-%d %H:%M} UTC)"
            )
        else:
            progress(f"database {name} exists without this load: starting it again")
    try:
        if loaded is None:
            with _connect(server) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
                conn.execute(f'create database "{name}"')
            migrate_with_roles(dsns)
            progress(f"database {name} created and migrated")
            loaded = _load(dsns["WW_DB_DSN"], opts, progress)
        yield dsns, loaded
    finally:
        if not opts.keep_db:
            with _connect(server) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            progress(f"database {name} dropped")


# --------------------------------------------------------------------------- the load


_RATE_PER_DAY = {
    "general": (0.35, 0.95),
    "recyclable": (0.15, 0.30),
    "organic": (0.35, 1.05),
    "hazardous": (0.03, 0.08),
}
"""Share of the bin's volume filled per day, by stream (the simulator's ranges)."""
_FIRMWARE = (("1.2.0", 0.85), ("1.1.3", 0.12), ("1.0.9", 0.03))
_PARAM_COLUMNS = (
    "idx",
    "bin_id",
    "device_id",
    "zone_id",
    "stream",
    "truck_id",
    "threshold",
    "volume_l",
    "mount_mm",
    "depth_mm",
    "rate",
    "period",
    "phase",
    "collect_min",
    "residue",
    "offset_s",
    "batt0",
    "drain",
    "rssi",
    "temp_offset",
    "firmware",
    "silent_from",
    "fire_from",
)


def _city(bins: int) -> tuple[CityData, list[tuple[SimBin, int]]]:
    """The Kalasin registry with ``bins`` bins (clones beyond it) and a truck set per clone
    group, as the simulator builds it."""
    city = load_city([DEFAULT_CITY_DIR])
    selected = select_bins(city, bins)
    groups = sorted({g for _, g in selected})
    trucks = tuple(
        t
        if g == 0
        else t.model_copy(update={"truck_id": f"{t.truck_id}-c{g}", "name": f"{t.name} ({g + 1})"})
        for g in groups
        for t in city.trucks
    )
    unmetered = {t.truck_id: city.unmetered_kg_per_day.get(t.truck_id, 0.0) for t in trucks}
    return (
        replace(
            city,
            bins=tuple(b for b, _ in selected),
            trucks=trucks,
            unmetered_kg_per_day=unmetered,
        ),
        selected,
    )


def _truck_of(city: CityData, bin_: SimBin, group: int) -> str | None:
    for t in city.trucks:
        base_group = int(t.truck_id.rsplit("-c", 1)[1]) if "-c" in t.truck_id else 0
        if (
            base_group == group
            and t.waste_stream is bin_.reg.waste_stream
            and bin_.reg.zone in t.zones
        ):
            return t.truck_id
    return None


def _bin_params(
    city: CityData,
    selected: list[tuple[SimBin, int]],
    opts: DashBenchOptions,
    start: datetime,
    end: datetime,
) -> list[tuple[Any, ...]]:
    """Each bin's hidden truth: fill rate, collection period and phase, device traits."""
    rows: list[tuple[Any, ...]] = []
    for idx, (b, group) in enumerate(selected):
        reg = b.reg
        rng = random.Random(f"dash:{opts.seed}:{reg.bin_id}")  # noqa: S311
        lo, hi = _RATE_PER_DAY[reg.waste_stream.value]
        rate = rng.uniform(lo, hi) * rng.lognormvariate(0.0, 0.2)
        # Scheduled so the bin is under its threshold when emptied; a fifth of the bins
        # are on a period a day shorter or longer (wasted stops, overflows), and the
        # fastest fill past the top between two daily rounds (market bins).
        period = max(1, math.floor(reg.collection_threshold * 0.9 / rate))
        if rng.random() < 0.2:
            period += rng.choice((-1, 1))
        period = min(max(period, 1), 14)
        batt0 = rng.uniform(3900, 4150)
        drain = rng.uniform(1.5, 4.5)
        if rng.random() < 0.02:  # a failing battery: under 3400 mV before the end
            drain = (batt0 - rng.uniform(3320, 3390)) / opts.days
        silent = None
        if rng.random() < 0.012:
            silent = end - timedelta(hours=rng.uniform(3, 48))
        firmware = rng.choices([f for f, _ in _FIRMWARE], [w for _, w in _FIRMWARE])[0]
        rows.append(
            (
                idx,
                reg.bin_id,
                reg.device_id,
                reg.zone,
                reg.waste_stream.value,
                _truck_of(city, b, group),
                reg.collection_threshold,
                reg.volume_l,
                reg.mounting_height_mm,
                reg.usable_depth_mm,
                rate,
                period,
                rng.randrange(period),
                rng.randint(300, 840),  # 05:00..14:00 Bangkok: where the bin is on its round
                rng.uniform(0.0, 0.03),
                rng.randrange(opts.step_s),
                round(batt0),
                drain,
                rng.randint(-105, -70),
                rng.uniform(-1.5, 3.0),
                firmware,
                silent,
                end - timedelta(minutes=25) if idx == 0 else None,
            )
        )
    return rows


_PARAMS_DDL = """CREATE TABLE bench_bin_params (
    idx          integer PRIMARY KEY,
    bin_id       text NOT NULL UNIQUE,
    device_id    text NOT NULL,
    zone_id      text NOT NULL,
    stream       text NOT NULL,
    truck_id     text,
    threshold    real NOT NULL,
    volume_l     real NOT NULL,
    mount_mm     integer NOT NULL,
    depth_mm     integer NOT NULL,
    rate         float8 NOT NULL,
    period       integer NOT NULL,
    phase        integer NOT NULL,
    collect_min  integer NOT NULL,
    residue      float8 NOT NULL,
    offset_s     integer NOT NULL,
    batt0        integer NOT NULL,
    drain        float8 NOT NULL,
    rssi         integer NOT NULL,
    temp_offset  float8 NOT NULL,
    firmware     text NOT NULL,
    silent_from  timestamptz,
    fire_from    timestamptz
);
COMMENT ON TABLE bench_bin_params IS
  'bench dashboards: the hidden truth each bin''s generated data follows';
CREATE TABLE bench_truck_params (
    truck_id      text PRIMARY KEY,
    stream        text NOT NULL,
    site_id       text NOT NULL,
    capacity_kg   real NOT NULL,
    tare_kg       real NOT NULL,
    unmetered_kg  real NOT NULL
)"""

# The fill model, as SQL over a row with the bench_bin_params columns and ``le`` (the
# local Bangkok epoch second of the reading).  The bin was last emptied on local day
# ``last_day`` at ``collect_min``; since then it filled at ``rate`` x this cycle's
# factor (0.75..1.25) from ``residue``; at 1.0 it stays full until the next visit.
_CYCLE = """(
  SELECT x.*, (x.le - ((x.day_i - x.dsince) * 86400 + x.collect_min * 60)) / 86400.0 AS elapsed,
    1 + 0.25 * sin((x.day_i - x.dsince) * 0.7 + x.idx) AS factor
  FROM (
    SELECT y.*, CASE WHEN y.dmod = 0 AND y.mins < y.collect_min THEN y.period ELSE y.dmod END
      AS dsince
    FROM (
      SELECT z.*, mod(mod(z.day_i - z.phase, z.period) + z.period, z.period) AS dmod
      FROM (
        SELECT w.*, floor(w.le / 86400)::int AS day_i,
          (w.le - floor(w.le / 86400) * 86400) / 60.0 AS mins
        FROM ({inner}) w
      ) z
    ) y
  ) x
)"""

_READINGS_SQL = (
    """INSERT INTO readings (time, device_id, boot_counter, seq, bin_id, distance_mm,
  fill_level, temperature_c, battery_mv, rssi_dbm, flags, dropped_count, payload_version,
  received_at, stored_at)
SELECT f.t, f.device_id, 1, f.k, f.bin_id,
  CASE WHEN f.flags & 71 = 0 THEN round(f.mount_mm - f.fill * f.depth_mm)::int END,
  CASE WHEN f.flags & 70 = 0 THEN f.fill END,
  CASE WHEN f.flags & 8 <> 0 THEN 95 + f.noise * 40 ELSE f.temp END,
  f.battery, f.rssi + floor(f.noise * 7 - 3)::int, f.flags, 0, 1,
  f.t + interval '1.2 seconds', f.t + interval '1.6 seconds'
FROM (
  SELECT g.*,
    CASE WHEN g.fill_true >= 0.995 THEN 1 ELSE 0 END
    | CASE WHEN g.r1 < 0.002 THEN 2 ELSE 0 END
    | CASE WHEN mod(g.idx::bigint * 31 + g.day_i::bigint * 17, 997) = 0
        AND g.mins BETWEEN 120 AND 420 THEN 4 ELSE 0 END
    | CASE WHEN g.fire_from IS NOT NULL AND g.t >= g.fire_from THEN 8 ELSE 0 END
    | CASE WHEN g.battery < 3400 THEN 16 ELSE 0 END
    | CASE WHEN mod(g.idx::bigint * 7919 + g.day_i::bigint * 104729, 1000) < 4
        AND g.r2 < 0.25 THEN 64 ELSE 0 END AS flags,
    least(1.0, greatest(0.0, g.fill_true + (g.r2 - 0.5) * 0.02)) AS fill
  FROM (
    SELECT c.*, least(1.0, c.residue + c.rate * c.factor * c.elapsed) AS fill_true,
      round(c.batt0 - c.drain * extract(epoch FROM c.t - %(start)s) / 86400
        + 12 * sin(c.mins / 1440 * 2 * pi()))::int AS battery,
      28 + 5 * sin((c.mins / 1440 - 0.375) * 2 * pi()) + c.temp_offset + (c.r1 - 0.5)
        AS temp,
      random() AS noise
    FROM """
    + _CYCLE.format(
        inner="""SELECT p.*, s.k, s.t, extract(epoch FROM s.t)::float8 + 25200 AS le,
          random() AS r1, random() AS r2
        FROM bench_bin_params p
        CROSS JOIN LATERAL (
          SELECT k, %(start)s::timestamptz + make_interval(secs => k * %(step)s + p.offset_s) AS t
          FROM generate_series(%(k0)s::int, %(k1)s::int - 1) AS k
        ) s
        WHERE s.t < %(end)s AND (p.silent_from IS NULL OR s.t < p.silent_from)"""
    )
    + """ c
  ) g
) f"""
)

# Collections: every scheduled visit in the window, stamped with the first reading
# after it (what the collection detector reports), fill before = the model at the visit.
_COLLECTIONS_SQL = """INSERT INTO collections (time, event_id, bin_id, device_id, zone_id,
  stream, fill_before, fill_after, volume_l, mass_kg, method, confidence)
SELECT v.time, v.bin_id || ':' || extract(epoch FROM v.time)::bigint, v.bin_id, v.device_id,
  v.zone_id, v.stream, v.fill_before, v.residue,
  (v.fill_before - v.residue) * v.volume_l,
  (v.fill_before - v.residue) * v.volume_l / 1000 * w.density_kg_per_m3,
  'level_drop', 0.9
FROM (
  SELECT p.*,
    %(start)s::timestamptz + make_interval(secs => p.offset_s
      + ceil((d::bigint * 86400 + p.collect_min * 60 - 25200
        - extract(epoch FROM %(start)s::timestamptz) - p.offset_s) / %(step)s) * %(step)s)
      AS time,
    least(1.0, p.residue + p.rate * (1 + 0.25 * sin((d - p.period) * 0.7 + p.idx))
      * p.period) AS fill_before
  FROM bench_bin_params p
  CROSS JOIN generate_series(%(d0)s::int, %(d1)s::int) AS d
  WHERE mod(mod(d - p.phase, p.period) + p.period, p.period) = 0
) v
JOIN waste_streams w ON w.stream = v.stream
WHERE v.time > %(start)s AND v.time < %(end)s
  AND (v.silent_from IS NULL OR v.time < v.silent_from)"""

# The rollup processor's rule (processors/rollups.py, also tests/test_grafana_queries.py).
_HOURLY_SQL = """INSERT INTO bin_hourly (bucket, bin_id, zone_id, stream, readings, levels,
  fill_sum, fill_min, fill_max, fill_last, last_reading_at, temp_max, battery_min, flags_any)
SELECT time_bucket('1 hour', r.time), r.bin_id, b.zone_id, b.stream, count(*),
  count(r.fill_level) FILTER (WHERE r.flags & 70 = 0),
  coalesce(sum(r.fill_level) FILTER (WHERE r.flags & 70 = 0), 0),
  min(r.fill_level), max(r.fill_level), last(r.fill_level, r.time), max(r.time),
  max(r.temperature_c), min(r.battery_mv), bit_or(r.flags)
FROM readings r JOIN bins b ON b.bin_id = r.bin_id
WHERE r.time >= %(lo)s AND r.time < %(hi)s
GROUP BY 1, 2, 3, 4"""

_BATTERY_DAILY_SQL = """INSERT INTO bin_battery_daily (bin_id, day, battery_min)
SELECT bin_id, time_bucket('1 day', bucket), min(battery_min)
FROM bin_hourly WHERE battery_min IS NOT NULL
GROUP BY 1, 2"""
"""What the trigger of migration 0008 keeps, in one statement (as its backfill)."""

_FORECASTS_SQL = """INSERT INTO fill_forecasts (time, bin_id, fill_level, rate_per_h, threshold,
  threshold_at, threshold_early, threshold_late, urgency)
SELECT f.bucket, f.bin_id, f.fill_last, f.rate_h, f.threshold, f.at,
  f.at - interval '2 hours', f.at + interval '2 hours',
  CASE WHEN f.fill_last >= 0.98 THEN 'overflowing' WHEN f.fill_last >= f.threshold THEN 'urgent'
    WHEN f.at < f.bucket + interval '24 hours' THEN 'soon' ELSE 'fine' END
FROM (
  SELECT h.bucket, h.bin_id, h.fill_last, p.threshold, p.rate / 24 AS rate_h,
    CASE WHEN h.fill_last < p.threshold
      THEN h.bucket + make_interval(secs => (p.threshold - h.fill_last) / (p.rate / 24) * 3600)
    END AS at
  FROM bin_hourly h JOIN bench_bin_params p ON p.bin_id = h.bin_id
  WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s AND h.fill_last IS NOT NULL
) f"""

_BIN_STATE_SQL = """INSERT INTO bin_state (bin_id, device_id, zone_id, stream, fill_level,
  rate_per_h, threshold, threshold_at, threshold_early, threshold_late, urgency, collect_by,
  last_reading_at, last_collection_at)
SELECT s.bin_id, s.device_id, s.zone_id, s.stream, s.fill_level, s.rate_h, s.threshold,
  s.at, s.at - interval '2 hours', s.at + interval '2 hours', s.urgency,
  CASE WHEN s.urgency IN ('overflowing', 'urgent') THEN s.time ELSE s.at - interval '2 hours'
  END,
  s.time, (SELECT max(c.time) FROM collections c WHERE c.bin_id = s.bin_id)
FROM (
  SELECT t.*,
    CASE WHEN t.fill_level >= 0.98 THEN 'overflowing'
      WHEN t.fill_level >= t.threshold THEN 'urgent'
      WHEN t.at < t.time + interval '24 hours' THEN 'soon' ELSE 'fine' END AS urgency
  FROM (
    SELECT p.bin_id, p.device_id, p.zone_id, p.stream, p.threshold, r.time, r.fill_level,
      p.rate / 24 AS rate_h,
      CASE WHEN r.fill_level < p.threshold
        AND (p.threshold - r.fill_level) / (p.rate / 24) < 14 * 24
        THEN r.time + make_interval(secs => (p.threshold - r.fill_level) / (p.rate / 24) * 3600)
      END AS at
    FROM bench_bin_params p
    JOIN LATERAL (
      SELECT r.time, r.fill_level FROM readings r
      WHERE r.bin_id = p.bin_id AND r.fill_level IS NOT NULL
      ORDER BY r.time DESC LIMIT 1
    ) r ON true
  ) t
) s"""

_DEVICE_STATUS_SQL = (
    """INSERT INTO device_status_history (time, device_id, state,
  firmware_version, boot_counter, reason, received_at)
SELECT %(start)s, p.device_id, 'online', p.firmware, 1, 'boot', %(start)s FROM bench_bin_params p
UNION ALL
SELECT p.silent_from, p.device_id, 'offline', p.firmware, 1, 'connection_lost', p.silent_from
FROM bench_bin_params p WHERE p.silent_from IS NOT NULL""",
    """INSERT INTO device_status (device_id, state, firmware_version, boot_counter, reason,
  changed_at, received_at)
SELECT DISTINCT ON (device_id) device_id, state, firmware_version, boot_counter, reason, time,
  received_at
FROM device_status_history ORDER BY device_id, time DESC""",
)

# A resolved history (per bin and day, at roughly the simulator's fault rates), then the
# alerts the data leaves open at its end.
_ALERTS_SQL = """INSERT INTO alerts (alert_id, kind, severity, state, bin_id, device_id,
  opened_at, resolved_at, message_en, message_th)
SELECT a.kind || ':' || a.device_id || ':' || extract(epoch FROM a.opened_at)::bigint, a.kind,
  a.severity, 'resolved', a.bin_id, a.device_id, a.opened_at,
  a.opened_at + make_interval(secs => a.minutes * 60),
  a.kind || ' on ' || a.device_id, a.kind || ' ที่ ' || a.device_id
FROM (
  SELECT p.bin_id, p.device_id, k.kind, k.severity,
    %(start)s::timestamptz + make_interval(secs => d * 86400 + random() * 86400) AS opened_at,
    k.minutes * (0.5 + random()) AS minutes, random() AS r, k.rate
  FROM bench_bin_params p
  CROSS JOIN generate_series(0, %(days)s::int - 2) AS d
  CROSS JOIN (VALUES ('offline', 'warning', 0.004, 120), ('sensor_fault', 'warning', 0.003, 600),
    ('tipped_over', 'warning', 0.001, 240), ('clock_unset', 'info', 0.005, 5),
    ('fire', 'critical', 0.0003, 60)) AS k (kind, severity, rate, minutes)
) a
WHERE a.r < a.rate
ON CONFLICT DO NOTHING;
INSERT INTO alerts (alert_id, kind, severity, state, bin_id, device_id, opened_at, resolved_at,
  message_en, message_th, details)
SELECT 'overflowing:' || c.device_id || ':' || extract(epoch FROM c.time)::bigint,
  'overflowing', 'warning', 'resolved', c.bin_id, c.device_id,
  c.time - interval '3 hours', c.time, 'Bin ' || c.bin_id || ' is overflowing',
  'ถัง ' || c.bin_id || ' ล้น', jsonb_build_object('fill_level', c.fill_before)
FROM collections c WHERE c.fill_before >= 0.98 AND c.time - interval '3 hours' > %(start)s
ON CONFLICT DO NOTHING;
INSERT INTO alerts (alert_id, kind, severity, state, bin_id, device_id, opened_at, message_en,
  message_th, details)
SELECT o.kind || ':' || o.device_id || ':' || extract(epoch FROM o.opened_at)::bigint, o.kind,
  o.severity, 'open', o.bin_id, o.device_id, o.opened_at, o.kind || ' on ' || o.device_id,
  o.kind || ' ที่ ' || o.device_id, '{}'
FROM (
  SELECT p.bin_id, p.device_id, 'offline' AS kind, 'warning' AS severity,
    p.silent_from + interval '1 hour' AS opened_at
  FROM bench_bin_params p WHERE p.silent_from IS NOT NULL
  UNION ALL
  SELECT p.bin_id, p.device_id, 'low_battery', 'warning',
    %(start)s::timestamptz + make_interval(secs => (p.batt0 - 3400) / p.drain * 86400)
  FROM bench_bin_params p
  WHERE p.batt0 - p.drain * %(days)s < 3400
  UNION ALL
  SELECT p.bin_id, p.device_id, 'fire', 'critical', p.fire_from
  FROM bench_bin_params p WHERE p.fire_from IS NOT NULL
  UNION ALL
  SELECT p.bin_id, p.device_id, 'sensor_fault', 'warning',
    date_trunc('day', %(end)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
  FROM bench_bin_params p
  WHERE mod(p.idx::bigint * 7919
    + floor((extract(epoch FROM %(end)s::timestamptz) + 25200 - 1) / 86400)::bigint * 104729,
    1000) < 4
  UNION ALL
  SELECT s.bin_id, s.device_id, 'overflowing', 'warning', s.last_reading_at
  FROM bin_state s WHERE s.urgency = 'overflowing'
) o
WHERE o.opened_at <= %(end)s
ON CONFLICT DO NOTHING;
INSERT INTO alerts (alert_id, kind, severity, state, site_id, opened_at, message_en, message_th,
  details)
SELECT 'landfill_capacity:' || p.site_id || ':0.9', 'landfill_capacity', 'warning', 'open',
  p.site_id, (p.as_of::timestamp AT TIME ZONE 'Asia/Bangkok'), 'Landfill 90 %% full',
  'หลุมฝังกลบเต็ม 90 %%', jsonb_build_object('fill_fraction', p.fill_fraction)
FROM (
  SELECT DISTINCT ON (site_id) * FROM landfill_projections
  WHERE fill_fraction >= 0.9 ORDER BY site_id, as_of
) p"""

_ZONE_DAILY_SQL = """WITH h AS (
  SELECT (bucket AT TIME ZONE 'Asia/Bangkok')::date AS day, zone_id, stream,
    count(DISTINCT bin_id) AS bins, sum(readings) AS readings,
    (sum(fill_sum) / nullif(sum(levels), 0))::real AS fill_avg, max(fill_max) AS fill_max
  FROM bin_hourly GROUP BY 1, 2, 3),
c AS (
  SELECT (time AT TIME ZONE 'Asia/Bangkok')::date AS day, zone_id, stream,
    count(*) AS n, sum(volume_l) AS v, sum(mass_kg) AS m
  FROM collections GROUP BY 1, 2, 3)
INSERT INTO zone_stream_daily (day, zone_id, stream, collections, volume_l, mass_kg,
  bins_reporting, readings, fill_avg, fill_max)
SELECT day, zone_id, stream, coalesce(c.n, 0), coalesce(c.v, 0), coalesce(c.m, 0),
  coalesce(h.bins, 0), coalesce(h.readings, 0), h.fill_avg, h.fill_max
FROM h FULL JOIN c USING (day, zone_id, stream)"""

# Per truck and Bangkok day: what its bins gave plus the bagged street waste, in as
# many weighbridge tickets as trips (90 % of the payload each).
_TICKETS_SQL = """INSERT INTO landfill_deliveries (time, ticket_id, site_id, truck_id, stream,
  gross_kg, tare_kg, net_kg, received_at, stored_at)
SELECT t.time, t.truck_id || ':' || t.day || ':' || t.trip, t.site_id, t.truck_id, t.stream,
  t.tare_kg + t.net, t.tare_kg, t.net, t.time, t.time
FROM (
  SELECT d.*, trip, round(d.kg / d.trips) AS net,
    (d.day::timestamp AT TIME ZONE 'Asia/Bangkok') + make_interval(hours => 9 + 2 * trip)
      AS time
  FROM (
    SELECT tp.truck_id, tp.site_id, tp.stream, tp.tare_kg, x.day,
      coalesce(m.kg, 0) + tp.unmetered_kg AS kg,
      greatest(1, ceil((coalesce(m.kg, 0) + tp.unmetered_kg) / (0.9 * tp.capacity_kg)))::int
        AS trips
    FROM bench_truck_params tp
    CROSS JOIN generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS x0
    CROSS JOIN LATERAL (SELECT x0::date AS day) x
    LEFT JOIN (
      SELECT p.truck_id, (c.time AT TIME ZONE 'Asia/Bangkok')::date AS day, sum(c.mass_kg) AS kg
      FROM collections c JOIN bench_bin_params p ON p.bin_id = c.bin_id
      GROUP BY 1, 2
    ) m ON m.truck_id = tp.truck_id AND m.day = x.day
  ) d
  CROSS JOIN generate_series(1, d.trips) AS trip
  WHERE d.kg > 0
) t
WHERE t.time > %(start)s AND t.time <= %(end)s"""

_LANDFILL_DAILY_SQL = """INSERT INTO landfill_daily (site_id, day, stream, tickets, delivered_kg,
  collections, collected_kg_est, mass_kg, volume_m3, measured)
SELECT d.site_id, d.day, d.stream, d.tickets, d.kg, coalesce(c.n, 0), coalesce(c.kg, 0), d.kg,
  d.kg / coalesce(ld.compacted_density_kg_m3, s.compacted_density_kg_m3), true
FROM (
  SELECT site_id, (time AT TIME ZONE 'Asia/Bangkok')::date AS day, stream, count(*) AS tickets,
    sum(net_kg) AS kg
  FROM landfill_deliveries GROUP BY 1, 2, 3
) d
JOIN landfill_sites s ON s.site_id = d.site_id
LEFT JOIN landfill_stream_densities ld ON ld.site_id = d.site_id AND ld.stream = d.stream
LEFT JOIN (
  SELECT tp.site_id, (c.time AT TIME ZONE 'Asia/Bangkok')::date AS day, c.stream,
    count(*) AS n, sum(c.mass_kg) AS kg
  FROM collections c
  JOIN bench_bin_params p ON p.bin_id = c.bin_id
  JOIN bench_truck_params tp ON tp.truck_id = p.truck_id
  GROUP BY 1, 2, 3
) c ON c.site_id = d.site_id AND c.day = d.day AND c.stream = d.stream"""

_STOPS_CTE = """WITH stops AS (
  SELECT ('1970-01-01'::date + d) AS day, p.truck_id, p.stream, p.bin_id,
    to_timestamp(d::bigint * 86400 + p.collect_min * 60 - 25200) AS eta,
    least(1.0, p.residue + p.rate * p.period) * p.volume_l AS load_l,
    least(1.0, p.residue + p.rate * p.period) * p.volume_l / 1000 * w.density_kg_per_m3
      AS load_kg,
    0.2 + mod(p.idx * 37, 100) / 80.0 AS km
  FROM bench_bin_params p
  JOIN waste_streams w ON w.stream = p.stream
  CROSS JOIN generate_series(%(d0)s::int, %(d1)s::int) AS d
  WHERE p.truck_id IS NOT NULL AND mod(mod(d - p.phase, p.period) + p.period, p.period) = 0
    AND (('1970-01-01'::date + d)::timestamp AT TIME ZONE 'Asia/Bangkok') - interval '2 hours'
      <= %(end)s
)
"""
_ROUTES_SQL = (
    _STOPS_CTE
    + """INSERT INTO route_plans (plan_id, service_date, truck_id, waste_stream, created_at,
  revision, total_distance_km, total_duration_s, expected_load_l, expected_load_kg, solver_name,
  solver_status, solver_objective, solver_runtime_s)
SELECT s.day || ':' || s.truck_id || ':' || s.stream || ':1', s.day, s.truck_id, s.stream,
  (s.day::timestamp AT TIME ZONE 'Asia/Bangkok') - interval '2 hours', 1,
  sum(s.km) + 14, (extract(epoch FROM max(s.eta) - min(s.eta)) + 3600)::int, sum(s.load_l),
  sum(s.load_kg), 'pyvrp', 'feasible', sum(s.km) + 14, 2.5
FROM stops s
GROUP BY s.day, s.truck_id, s.stream""",
    _STOPS_CTE
    + """INSERT INTO route_stops (plan_id, sequence, bin_id, eta, expected_load_l,
  expected_load_kg, distance_from_previous_km)
SELECT s.day || ':' || s.truck_id || ':' || s.stream || ':1',
  row_number() OVER (PARTITION BY s.day, s.truck_id ORDER BY s.eta, s.bin_id), s.bin_id, s.eta,
  s.load_l, s.load_kg, s.km
FROM stops s""",
)
"""One plan per truck and Bangkok day of the window (made the evening before); its stops
are the bins due that day in round order, the ETA being the visit."""

_MARKER_DDL = f"""CREATE TABLE {_MARKER} (
    generator_version  integer NOT NULL,
    days               integer NOT NULL,
    bins               integer NOT NULL,
    interval_min       integer NOT NULL,
    data_start         timestamptz NOT NULL,
    data_end           timestamptz NOT NULL,
    readings           bigint NOT NULL,
    load_s             double precision NOT NULL,
    loaded_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {_MARKER} IS
  'bench dashboards: written last, so its row means the load is complete'"""


def _triggers_off(conn: Conn) -> bool:
    """Skip row triggers in this session (superusers only); whether that was allowed."""
    try:
        conn.execute("set session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _local_day(t: datetime) -> int:
    return int((t.timestamp() + _BANGKOK_S) // _DAY_S)


def _projections(conn: Conn) -> None:
    """One projection per site per as-of day: used airspace from the survey plus the
    days' volumes; the rate over the last 28 days with +/- 2 standard errors of its weeks."""
    sites = conn.execute("select site_id, capacity_m3, used_m3 from landfill_sites").fetchall()
    for site_id, capacity, used0 in sites:
        days = conn.execute(
            "select day, stream, volume_m3::float8 from landfill_daily where site_id = %s "
            "order by day",
            [site_id],
        ).fetchall()
        by_day: dict[date, dict[str, float]] = {}
        for day, stream, volume in days:
            by_day.setdefault(day, {})[stream] = volume
        ordered = sorted(by_day)
        rows: list[tuple[Any, ...]] = []
        used = float(used0)
        for i, as_of in enumerate(ordered):
            used = min(used + sum(by_day[as_of].values()), float(capacity))
            window = ordered[max(0, i - 27) : i + 1]
            span = len(window)
            by_stream: dict[str, float] = {}
            for d in window:
                for stream, volume in by_day[d].items():
                    by_stream[stream] = by_stream.get(stream, 0.0) + volume / span
            rate = sum(by_stream.values())
            weeks = [
                sum(sum(by_day[d].values()) for d in window[j : j + 7]) / 7
                for j in range(0, span, 7)
            ]
            se = statistics.stdev(weeks) / math.sqrt(len(weeks)) if len(weeks) > 1 else 0.1 * rate
            low, high = max(rate - 2 * se, 0.0), rate + 2 * se
            remaining = float(capacity) - used

            def full(r: float, day: date = as_of, left: float = remaining) -> date | None:
                return day + timedelta(days=int(left / r)) if r > 0 else None

            rows.append(
                (
                    site_id,
                    as_of,
                    used,
                    remaining,
                    used / float(capacity),
                    rate,
                    low,
                    high,
                    remaining / rate if rate else None,
                    full(rate),
                    full(high),
                    full(low),
                    span,
                    json.dumps(by_stream),
                )
            )
        with conn.cursor() as cur:
            cur.executemany(
                """insert into landfill_projections (site_id, as_of, used_m3, remaining_m3,
                     fill_fraction, rate_m3_per_day, rate_low_m3_per_day, rate_high_m3_per_day,
                     days_left, full_date, full_date_early, full_date_late, window_days,
                     rate_by_stream)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )


def _load(dsn: str, opts: DashBenchOptions, progress: Progress) -> Loaded:
    """Fill the freshly migrated database; the marker row is written last."""
    began = time.perf_counter()
    step = opts.step_s
    end = datetime.fromtimestamp(int(time.time()) // step * step, UTC)
    start = end - timedelta(days=opts.days)
    city, selected = _city(opts.bins)
    try:
        import_city(dsn, city)
    except SimulatorError as exc:
        raise BenchError(f"importing the registry: {exc}") from exc
    params = _bin_params(city, selected, opts, start, end)
    window = {"start": start, "end": end, "step": step, "days": opts.days}
    first_day, last_day = _local_day(start), _local_day(end)

    def stage(name: str, t0: float) -> None:
        progress(f"  {name} ({time.perf_counter() - t0:.1f} s)")

    with _connect(dsn) as conn:
        t0 = time.perf_counter()
        conn.execute(_PARAMS_DDL)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY bench_bin_params ({', '.join(_PARAM_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in params:
                copy.write_row(row)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into bench_truck_params values (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        t.truck_id,
                        t.waste_stream.value,
                        t.site_id,
                        t.capacity_kg,
                        t.tare_kg,
                        city.unmetered_kg_per_day.get(t.truck_id, 0.0),
                    )
                    for t in city.trucks
                ],
            )
        stage(f"registry: {len(params)} bins, {len(city.trucks)} trucks", t0)

        t0 = time.perf_counter()
        slots_per_day = _DAY_S // step
        total_slots = opts.days * slots_per_day
        for k0 in range(0, total_slots, slots_per_day):
            k1 = min(k0 + slots_per_day, total_slots)
            conn.execute(_READINGS_SQL, {**window, "k0": k0, "k1": k1})
            day = k0 // slots_per_day + 1
            if day % 10 == 0 or k1 == total_slots:
                progress(f"  readings: day {day}/{opts.days} ({time.perf_counter() - t0:.0f} s)")
        readings = _scalar(conn, "select count(*) from readings")
        stage(f"readings: {readings:,} rows", t0)

        t0 = time.perf_counter()
        conn.execute(_COLLECTIONS_SQL, {**window, "d0": first_day - 1, "d1": last_day})
        stage(f"collections: {_scalar(conn, 'select count(*) from collections'):,}", t0)

        # Whole hours per statement: a bucket split between two would be inserted twice.
        hour0 = start.replace(minute=0, second=0, microsecond=0)
        days = [hour0 + timedelta(days=d) for d in range(opts.days + 1)]
        t0 = time.perf_counter()
        # 0008's trigger would merge each of the 2 M rows into bin_battery_daily one by
        # one; a superuser skips triggers for the bulk load and fills it in one go.
        bulk = _triggers_off(conn)
        for lo_t in days:
            conn.execute(_HOURLY_SQL, {"lo": lo_t, "hi": lo_t + timedelta(days=1)})
        if bulk:
            conn.execute("set session_replication_role = default")
            conn.execute(_BATTERY_DAILY_SQL)
        stage(f"bin_hourly: {_scalar(conn, 'select count(*) from bin_hourly'):,}", t0)

        t0 = time.perf_counter()
        for lo_t in days:
            conn.execute(_FORECASTS_SQL, {"lo": lo_t, "hi": lo_t + timedelta(days=1)})
        stage(f"fill_forecasts: {_scalar(conn, 'select count(*) from fill_forecasts'):,}", t0)

        t0 = time.perf_counter()
        conn.execute(_BIN_STATE_SQL)
        for stmt in _DEVICE_STATUS_SQL:
            conn.execute(stmt, window)
        conn.execute(_ZONE_DAILY_SQL)
        conn.execute(
            _TICKETS_SQL,
            {
                **window,
                "first_day": date(1970, 1, 1) + timedelta(days=first_day),
                "last_day": date(1970, 1, 1) + timedelta(days=last_day),
            },
        )
        conn.execute(_LANDFILL_DAILY_SQL)
        _projections(conn)
        for stmt in _ALERTS_SQL.split(";\n"):
            conn.execute(stmt, window)
        for stmt in _ROUTES_SQL:
            conn.execute(stmt, {**window, "d0": first_day, "d1": last_day})
        stage(
            "bin_state, device_status, alerts ("
            f"{_scalar(conn, 'select count(*) from alerts'):,}), zone_stream_daily, landfill, "
            f"routes ({_scalar(conn, 'select count(*) from route_stops'):,} stops)",
            t0,
        )

        t0 = time.perf_counter()
        conn.execute("vacuum (analyze)")
        stage("vacuum analyze", t0)

        load_s = time.perf_counter() - began
        conn.execute(_MARKER_DDL)
        conn.execute(
            f"insert into {_MARKER} (generator_version, days, bins, interval_min, data_start, "
            "data_end, readings, load_s) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                GENERATOR_VERSION,
                opts.days,
                opts.bins,
                opts.interval_min,
                start,
                end,
                readings,
                load_s,
            ],
        )
    progress(f"loaded in {load_s:.0f} s")
    return Loaded(start=start, end=end, readings=readings, load_s=load_s, reused=False)


def _scalar(conn: Conn, query: str) -> int:
    row = conn.execute(query.encode()).fetchone()
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------- the timing


def time_ranges(board: Board, end: datetime) -> list[tuple[str, TimeRange]]:
    """The ranges a board is timed on: 24 h for live boards, its default, planners' 90 d."""
    labels: list[str] = []
    if board.uid in LIVE_BOARDS:
        labels.append("24h")
    labels.append(board.time_from.removeprefix("now-"))
    labels.extend(PLANNER_RANGES.get(board.uid, ()))
    unique = list(dict.fromkeys(labels))
    return [(label, TimeRange(end - parse_interval(label), end)) for label in unique]


def _backend_cpu(conn: Conn) -> Callable[[], int | None]:
    """A reader of the connection's backend CPU time in ns, or of None when the server
    is not a PostgreSQL process on this host (``/proc/<pid>/schedstat``).

    On a shared machine the wall time of a query includes waiting for a CPU; the
    backend's own CPU time does not, so both are reported.
    """
    row = conn.execute("select pg_backend_pid()").fetchone()
    host = conninfo_to_dict(conn.info.dsn).get("host", "")
    proc = Path(f"/proc/{row[0] if row else 0}")
    try:
        local = host in {"127.0.0.1", "localhost", "::1", ""} and "postgres" in (
            proc / "comm"
        ).read_text("ascii")
    except OSError:
        local = False

    def read() -> int | None:
        if not local:
            return None
        try:
            return int((proc / "schedstat").read_text("ascii").split()[0])
        except (OSError, ValueError, IndexError):
            return None

    return read


def _time_all(
    reader_dsn: str, end: datetime, opts: DashBenchOptions, progress: Progress
) -> list[Timing]:
    out: list[Timing] = []
    with _connect(reader_dsn) as conn:
        conn.execute("set statement_timeout = '60s'")
        cpu = _backend_cpu(conn)
        for board in boards():
            for label, tr in time_ranges(board, end):
                try:
                    values = opening_values(conn, board.variables, tr)
                except (psycopg.Error, DashboardError) as exc:
                    raise BenchError(f"{board.uid}: variable query failed: {exc}") from exc
                for pq in board.queries:
                    timing = Timing(pq, label)
                    try:
                        sql = expand(
                            pq.query.sql,
                            time_range=tr,
                            variables=values,
                            interval=pq.interval or "1h",
                        )
                        for run in range(opts.repeat + 1):
                            c0, t0 = cpu(), time.perf_counter()
                            rows = conn.execute(sql.encode()).fetchall()
                            ms = (time.perf_counter() - t0) * 1000
                            c1 = cpu()
                            if run:  # the first run only warms the cache
                                timing.runs_ms.append(ms)
                                if c0 is not None and c1 is not None:
                                    timing.cpu_ms.append((c1 - c0) / 1e6)
                            timing.rows = len(rows)
                    except (psycopg.Error, DashboardError) as exc:
                        raise BenchError(f"{timing.key} ({pq.panel_title}) failed: {exc}") from exc
                    out.append(timing)
                    if opts.explain and timing.median_ms > TARGET_MS:
                        plan = conn.execute(
                            b"EXPLAIN (ANALYZE, BUFFERS) " + sql.encode()
                        ).fetchall()
                        progress(
                            f"--- {timing.key} {pq.panel_title}\n"
                            + "\n".join(str(r[0]) for r in plan)
                        )
            progress(f"  {board.uid}: timed")
    return out


def _table(timings: Sequence[Timing]) -> str:
    lines = [f"{'panel query @ range':<26} {'median':>8} {'max':>8} {'cpu':>8} {'rows':>6}  title"]
    for t in timings:
        flag = "  << over target" if t.median_ms > TARGET_MS else ""
        cpu = "-" if t.cpu_median_ms is None else f"{t.cpu_median_ms:.1f}ms"
        lines.append(
            f"{t.key:<26} {t.median_ms:>6.1f}ms {t.max_ms:>6.1f}ms {cpu:>8} {t.rows:>6}  "
            f"{t.pq.panel_title}{flag}"
        )
    return "\n".join(lines)


def run_dashboards_bench(opts: DashBenchOptions, progress: Progress) -> tuple[dict[str, Any], str]:
    """Load (or reuse) the data, time every panel; the result object and a text table."""
    if opts.repeat < 1:
        raise BenchError("--repeat must be at least 1")
    if _DAY_S % opts.step_s:
        raise BenchError("--interval-min must divide a day (1, 2, 3, 4, 5, 6, 10, 12, 15, ...)")
    env = stack_up(load_settings(), progress)
    progress(
        f"{opts.bins} bins x {opts.days} days at {opts.interval_min}-minute readings "
        f"(~{opts.bins * opts.days * _DAY_S // opts.step_s:,} rows) in {opts.db_name}"
    )
    with _database(env, opts, progress) as (dsns, loaded):
        progress(f"timing every panel query ({opts.repeat} runs each after one warm-up)")
        load_before = os.getloadavg()[0]
        timings = _time_all(dsns["WW_DB_READER_DSN"], loaded.end, opts, progress)
        load_after = os.getloadavg()[0]
    slowest = max(timings, key=lambda t: t.median_ms)
    cpus = [t.cpu_median_ms for t in timings if t.cpu_median_ms is not None]
    panels = {(t.pq.board_uid, t.pq.panel_id) for t in timings}
    result: dict[str, Any] = {
        "rows": loaded.readings,
        "panels": len(panels),
        "queries": len({t.pq.name for t in timings}),
        "timings": len(timings),
        "slowest_ms": round(slowest.median_ms, 1),
        "slowest_panel": f"{slowest.key} {slowest.pq.panel_title}",
        "slowest_max_ms": round(max(t.max_ms for t in timings), 1),
        "over_target": sorted(t.key for t in timings if t.median_ms > TARGET_MS),
        "slowest_cpu_ms": round(max(cpus), 1) if cpus else None,
        "target_ms": TARGET_MS,
        "load_avg": [round(load_before, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
        "repeat": opts.repeat,
        "data_end": loaded.end.isoformat(),
        "database": opts.db_name,
        "reused": loaded.reused,
        "load_s": round(loaded.load_s, 1),
        "per_panel": {
            t.key: {
                "title": t.pq.panel_title,
                "median_ms": round(t.median_ms, 1),
                "max_ms": round(t.max_ms, 1),
                "cpu_ms": None if t.cpu_median_ms is None else round(t.cpu_median_ms, 1),
                "rows": t.rows,
            }
            for t in timings
        },
    }
    return result, _table(timings)
