"""Every panel's SQL against the real TimescaleDB, as Grafana's read-only role.

Data: a short simulated replay of a Kalasin city of this module's own (every id
prefixed, so nothing else in the session database is touched or counted) goes
through the ingest path's own validation and row code (``wastewatch.ingest.validate``,
``wastewatch.ingest.rows``, ``wastewatch.ingest.store.write_batch``: what the sink does, without
Kafka) into ``readings``, ``device_status`` and ``landfill_deliveries``.  The
processor tables (``bin_hourly``, ``collections``, ``bin_state``, ``alerts``,
``zone_stream_daily``, ``landfill_daily``, ``landfill_projections``) and, once
migration 0007 exists, the route plans are filled with representative rows
derived from those readings and from the simulator's ground truth, so these
tests do not depend on the processors' internals, only on the tables' columns.

Each query is expanded like Grafana would (``wastewatch.grafana.macros``) for the replay's
time range with every variable at "All", and again for one bin's zone, stream
and bin; it must run, return exactly the columns the panel reads, and (for
"All") return rows unless no rows is a normal answer for that panel.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import SessionDb
from tests.pipeline_helpers import SinkRows, tagged_city
from wastewatch.city.citydata import load_city
from wastewatch.city.importer import import_city
from wastewatch.grafana.alerting import RULES
from wastewatch.grafana.board import PanelQuery, Variable
from wastewatch.grafana.dashboards import boards
from wastewatch.grafana.dashboards.common import BIN, STREAM, ZONE
from wastewatch.grafana.dashboards.landfill import SITE
from wastewatch.grafana.macros import TimeRange, VariableValue, expand
from wastewatch.grafana.variables import opening_values, options
from wastewatch.ingest.rows import Reject, broker_event_row
from wastewatch.ingest.store import prepare, write_batch
from wastewatch.ingest.validate import BROKER, Accepted, classify
from wastewatch.workbench.simulators.calendar import load_calendar
from wastewatch.workbench.simulators.engine import SimOptions, Simulation
from wastewatch.workbench.simulators.faults import FaultRates
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.truth import GroundTruth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

QUERIES: list[PanelQuery] = [q for b in boards() for q in b.queries]
BINS = 40
DAYS = 4


@dataclass(frozen=True)
class Dataset:
    prefix: str
    time_range: TimeRange
    one_bin: str
    one_zone: str
    one_stream: str
    routes: bool


async def _ingest(writer_dsn: str, sim: Simulation, end: int) -> None:
    """The sink's row code and batch writer on the simulator's messages (no Kafka)."""
    rows = SinkRows()
    t = sim.options.start
    while t < end:
        t = min(t + 3600, end)
        for ts, topic, payload, _retained, _key in sim.advance(t):
            verdict = classify(topic, payload, now_s=time.time(), max_future_s=300)
            assert isinstance(verdict, Accepted), verdict
            rows.add(verdict, datetime.fromtimestamp(ts, UTC))
    await rows.write(writer_dsn)


async def _broker_events(writer_dsn: str, p: str, device: str, end: int) -> None:
    """What the broker refused in the last day of the replay: one of the city's devices
    publishing for another city (twice, the copy of a second bridge too) and a login
    flood, through the bridge's verdict and the sink's row code."""
    denied = {
        "event": "denied",
        "access": "publish",
        "client_id": device,
        "username": device,
        "address": "10.20.0.17",
        "topic": f"ww/elsewhere/bins/{device}/telemetry",
        "count": 3,
    }
    flood = {"event": "login_refused", "address": f"{p}flood", "username": "ww-ops"}
    reports = [
        ("$SYS/broker/wastewatch/denied", {**denied, "at": end - 7200}),
        ("$SYS/broker/wastewatch/denied", {**denied, "count": 2, "at": end - 3600}),
        ("$SYS/broker/wastewatch/denied", {**denied, "count": 2, "at": end - 3600}),
        (
            "$SYS/broker/wastewatch/login-refused",
            {**flood, "attempts": 21, "window_s": 10, "at": end - 600},
        ),
    ]
    rows = []
    for topic, body in reports:
        verdict = classify(topic, json.dumps(body).encode(), now_s=end, max_future_s=300)
        assert isinstance(verdict, Accepted), verdict
        assert verdict.topic == BROKER
        row = broker_event_row(verdict.value, datetime.fromtimestamp(body["at"], UTC))
        assert not isinstance(row, Reject), row
        rows.append(row)
    async with await psycopg.AsyncConnection.connect(writer_dsn) as conn:
        await prepare(conn)
        await write_batch(conn, [], [], [], rows)


def _truth(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


_ALERT_KINDS = {
    "fire": ("fire", "critical"),
    "tip_over": ("tipped_over", "warning"),
    "offline": ("offline", "warning"),
    "battery": ("low_battery", "warning"),
    "stuck": ("sensor_fault", "warning"),
    "noisy": ("sensor_fault", "warning"),
    "reboot": ("clock_unset", "info"),
}


def _derive(conn: psycopg.Connection[Any], p: str, truth: Path, end: datetime) -> None:
    """Representative processor rows (the processors' own tests own their logic)."""
    like = p + "%"
    conn.execute(
        """insert into bin_hourly (bucket, bin_id, zone_id, stream, readings, levels, fill_sum,
             fill_min, fill_max, fill_last, last_reading_at, temp_max, battery_min, flags_any)
           select time_bucket('1 hour', r.time), r.bin_id, b.zone_id, b.stream, count(*),
             count(r.fill_level) filter (where r.flags & 70 = 0),
             coalesce(sum(r.fill_level) filter (where r.flags & 70 = 0), 0),
             min(r.fill_level), max(r.fill_level), last(r.fill_level, r.time), max(r.time),
             max(r.temperature_c), min(r.battery_mv), bit_or(r.flags)
           from readings r join bins b on b.bin_id = r.bin_id
           where b.bin_id like %s group by 1, 2, 3, 4""",
        [like],
    )
    bins = {
        row[0]: row[1:]
        for row in conn.execute(
            "select bin_id, device_id, zone_id, stream, collection_threshold from bins "
            "where bin_id like %s",
            [like],
        )
    }
    for c in _truth(truth, "collections"):
        _dev, zone, stream, _thr = bins[c["bin"]]
        conn.execute(
            """insert into collections (time, event_id, bin_id, device_id, zone_id, stream,
                 fill_before, fill_after, volume_l, mass_kg, method, confidence)
               values (to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, %s, 'level_drop', 0.9)""",
            [
                c["ts"],
                f"{c['bin']}:{c['ts']}",
                c["bin"],
                c["device"],
                zone,
                stream,
                min(max(c["fill_before"], 0.0), 1.0),
                min(max(c["fill_after"], 0.0), 1.0),
                c["litres"],
                c["kg"],
            ],
        )
    for bin_id, (device, zone, stream, thr) in bins.items():
        rows = conn.execute(
            "select time, fill_level from readings where bin_id = %s and fill_level is not null "
            "order by time desc limit 8",
            [bin_id],
        ).fetchall()
        if not rows:
            continue
        (t_last, fill), (t_old, fill_old) = rows[0], rows[-1]
        hours = max((t_last - t_old).total_seconds() / 3600, 0.25)
        rate = (fill - fill_old) / hours
        at = t_last + timedelta(hours=(thr - fill) / rate) if rate > 0 and fill < thr else None
        if fill >= 0.98:
            urgency = "overflowing"
        elif fill >= thr:
            urgency = "urgent"
        elif at is not None and at - t_last < timedelta(hours=24):
            urgency = "soon"
        else:
            urgency = "fine"
        band = timedelta(hours=2)
        conn.execute(
            """insert into bin_state (bin_id, device_id, zone_id, stream, fill_level, rate_per_h,
                 threshold, threshold_at, threshold_early, threshold_late, urgency, collect_by,
                 last_reading_at, last_collection_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                 (select max(time) from collections where bin_id = %s))""",
            [
                bin_id,
                device,
                zone,
                stream,
                fill,
                rate,
                thr,
                at,
                at - band if at else None,
                at + band if at else None,
                urgency,
                (at - band) if at else (t_last if urgency != "fine" else None),
                t_last,
                bin_id,
            ],
        )
    device_bins = {v[0]: k for k, v in bins.items()}
    opened: dict[tuple[str, str], dict[str, Any]] = {}
    end_s = end.timestamp()
    for f in _truth(truth, "faults"):
        if f["kind"] not in _ALERT_KINDS:
            continue
        kind, severity = _ALERT_KINDS[f["kind"]]
        is_open = f["end_ts"] is None or f["end_ts"] >= end_s
        key = (f["device"], kind)
        if is_open:
            opened[key] = f  # the latest open one per device and kind wins
            continue
        conn.execute(
            """insert into alerts (alert_id, kind, severity, state, bin_id, device_id, opened_at,
                 resolved_at, message_en, message_th)
               values (%s, %s, %s, 'resolved', %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s)
               on conflict do nothing""",
            [
                f"{kind}:{f['device']}:{f['ts']}",
                kind,
                severity,
                device_bins.get(f["device"]),
                f["device"],
                f["ts"],
                f["end_ts"],
                f"{kind} on {f['device']}",
                f"{kind} ที่ {f['device']}",
            ],
        )
    first_device = next(iter(device_bins))
    opened.setdefault((first_device, "fire"), {"device": first_device, "ts": end_s - 600})
    opened.setdefault((first_device, "offline"), {"device": first_device, "ts": end_s - 7200})
    for (device, kind), f in opened.items():
        severity = "critical" if kind == "fire" else "warning"
        conn.execute(
            """insert into alerts (alert_id, kind, severity, state, bin_id, device_id, opened_at,
                 message_en, message_th)
               values (%s, %s, %s, 'open', %s, %s, to_timestamp(%s), %s, %s)""",
            [
                f"{kind}:{device}:{f['ts']}",
                kind,
                severity,
                device_bins.get(device),
                device,
                f["ts"],
                f"{kind} on {device}",
                f"{kind} ที่ {device}",
            ],
        )
    site = conn.execute(
        "select site_id from landfill_sites where site_id like %s", [like]
    ).fetchone()
    assert site is not None
    conn.execute(
        """insert into alerts (alert_id, kind, severity, state, site_id, opened_at, message_en,
             message_th, details)
           values (%s, 'landfill_capacity', 'warning', 'open', %s, %s, 'Landfill 90 %% full',
             'หลุมฝังกลบเต็ม 90 %%', '{"fill_fraction": 0.9}')""",
        [f"landfill_capacity:{site[0]}:0.9", site[0], end - timedelta(days=1)],
    )
    conn.execute(
        """with h as (
             select (bucket at time zone 'Asia/Bangkok')::date as day, zone_id, stream,
               count(distinct bin_id) as bins, sum(readings) as readings,
               (sum(fill_sum) / nullif(sum(levels), 0))::real as fill_avg, max(fill_max) as fill_max
             from bin_hourly where bin_id like %s group by 1, 2, 3),
           c as (
             select (time at time zone 'Asia/Bangkok')::date as day, zone_id, stream,
               count(*) as n, sum(volume_l) as v, sum(mass_kg) as m
             from collections where bin_id like %s group by 1, 2, 3)
           insert into zone_stream_daily (day, zone_id, stream, collections, volume_l, mass_kg,
             bins_reporting, readings, fill_avg, fill_max)
           select day, zone_id, stream, coalesce(c.n, 0), coalesce(c.v, 0), coalesce(c.m, 0),
             coalesce(h.bins, 0), coalesce(h.readings, 0), h.fill_avg, h.fill_max
           from h full join c using (day, zone_id, stream)""",
        [like, like],
    )
    conn.execute(
        """insert into landfill_daily (site_id, day, stream, tickets, delivered_kg, collections,
             collected_kg_est, mass_kg, volume_m3, measured)
           select d.site_id, (d.time at time zone 'Asia/Bangkok')::date, d.stream, count(*),
             sum(d.net_kg), 0, 0, sum(d.net_kg),
             sum(d.net_kg) / coalesce(min(ld.compacted_density_kg_m3),
               min(s.compacted_density_kg_m3)), true
           from landfill_deliveries d
           join landfill_sites s on s.site_id = d.site_id
           left join landfill_stream_densities ld on ld.site_id = d.site_id
             and ld.stream = d.stream
           where d.site_id like %s
           group by 1, 2, 3""",
        [like],
    )
    days = conn.execute(
        "select d.day, d.stream, d.volume_m3::float8, s.capacity_m3, s.used_m3 "
        "from landfill_daily d join landfill_sites s using (site_id) where site_id = %s "
        "order by d.day",
        [site[0]],
    ).fetchall()
    assert days, "the replay produced no weighbridge ticket"
    capacity, used0 = days[0][3], days[0][4]
    for as_of in sorted({d[0] for d in days}):
        upto = [d for d in days if d[0] <= as_of]
        span = (as_of - upto[0][0]).days + 1
        by_stream: dict[str, float] = {}
        for d in upto:
            by_stream[d[1]] = by_stream.get(d[1], 0.0) + d[2] / span
        rate = sum(by_stream.values())
        used = min(used0 + sum(d[2] for d in upto), capacity)
        remaining = capacity - used

        def full(r: float, day: date = as_of, left: float = remaining) -> date | None:
            return day + timedelta(days=int(left / r)) if r > 0 else None

        conn.execute(
            """insert into landfill_projections (site_id, as_of, used_m3, remaining_m3,
                 fill_fraction, rate_m3_per_day, rate_low_m3_per_day, rate_high_m3_per_day,
                 days_left, full_date, full_date_early, full_date_late, window_days,
                 rate_by_stream)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                site[0],
                as_of,
                used,
                remaining,
                used / capacity,
                rate,
                rate * 0.8,
                rate * 1.2,
                remaining / rate if rate else None,
                full(rate),
                full(rate * 1.2),
                full(rate * 0.8),
                span,
                json.dumps(by_stream),
            ],
        )


def _routes(conn: psycopg.Connection[Any], p: str, end: datetime) -> bool:
    """A plan per truck for the Bangkok day of the range end, when migration 0007 exists."""
    row = conn.execute(
        "select to_regclass('route_plans') is not null and to_regclass('route_stops') is not null"
    ).fetchone()
    if not row or not row[0]:
        return False
    day = (end + timedelta(hours=7)).date()
    trucks = conn.execute(
        "select truck_id, stream, zones from trucks where truck_id like %s", [p + "%"]
    ).fetchall()
    for truck_id, stream, zones in trucks:
        plan_id = f"{day}:{truck_id}:{stream}:1"
        conn.execute(
            "insert into route_plans (plan_id, service_date, truck_id, waste_stream, created_at, "
            "revision, total_distance_km, total_duration_s, expected_load_l, expected_load_kg, "
            "solver_name, solver_status, solver_objective, solver_runtime_s) "
            "values (%s, %s, %s, %s, %s, 1, 21.5, 14400, 4000, 900, 'test', 'heuristic', "
            "21.5, 0.1)",
            [plan_id, day, truck_id, stream, end - timedelta(hours=8)],
        )
        stops = conn.execute(
            "select bin_id from bins where stream = %s and zone_id = any(%s) order by bin_id",
            [stream, zones],
        ).fetchall()
        for i, (bin_id,) in enumerate(stops, start=1):
            conn.execute(
                "insert into route_stops (plan_id, sequence, bin_id, eta, expected_load_l, "
                "expected_load_kg, distance_from_previous_km) "
                "values (%s, %s, %s, %s, 200, 40, 0.8)",
                [plan_id, i, bin_id, end - timedelta(hours=6) + timedelta(minutes=4 * i)],
            )
    return True


@pytest.fixture(scope="module")
def dataset(test_db: SessionDb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    tag = uuid.uuid4().hex[:6]
    p = f"g{tag}-"
    city = tagged_city(load_city([DEFAULT_CITY_DIR]), p, BINS)
    import_city(test_db.dsn, city)
    end = int(time.time()) // 3600 * 3600
    start = end - DAYS * 86400
    truth = tmp_path_factory.mktemp("truth")
    sim = Simulation(
        city,
        load_calendar(DEFAULT_CITY_DIR / "calendar.json"),
        SimOptions(
            seed=int(tag, 16) % 10_000,
            start=start,
            end=end,
            city=f"g{tag}",
            faults=FaultRates().scaled(30),
        ),
        truth=GroundTruth(truth),
    )
    asyncio.run(_ingest(test_db.writer_dsn, sim, end))
    sim.finish()
    device = min(b.reg.device_id for b in city.bins if b.reg.device_id)
    asyncio.run(_broker_events(test_db.writer_dsn, p, device, end))
    end_dt = datetime.fromtimestamp(end, UTC)
    with psycopg.connect(test_db.dsn) as conn:
        _derive(conn, p, truth, end_dt)
        routes = _routes(conn, p, end_dt)
        one = conn.execute(
            "select c.bin_id, c.zone_id, c.stream from collections c where c.bin_id like %s "
            "group by 1, 2, 3 order by count(*) desc, 1 limit 1",
            [p + "%"],
        ).fetchone()
    assert one is not None, "the replay produced no collection"
    return Dataset(
        prefix=p,
        time_range=TimeRange(datetime.fromtimestamp(start, UTC), end_dt),
        one_bin=one[0],
        one_zone=one[1],
        one_stream=one[2],
        routes=routes,
    )


def _options(
    conn: psycopg.Connection[Any], var: Variable, ds: Dataset, chosen: dict[str, Any]
) -> list[str]:
    return options(conn, var, ds.time_range, chosen)


def _selections(conn: psycopg.Connection[Any], ds: Dataset) -> dict[str, dict[str, VariableValue]]:
    """Variable values for "All" (every option, as Grafana sends them) and for one bin."""
    every = opening_values(conn, (ZONE, STREAM, SITE), ds.time_range)
    bins = _options(conn, BIN, ds, every)
    assert ds.one_bin in bins
    shares = {"divert_recyclable": "0.3", "divert_organic": "0.5"}
    one: dict[str, VariableValue] = {
        "zone": [ds.one_zone],
        "stream": [ds.one_stream],
        "site": [s for s in every["site"] if isinstance(s, str) and s.startswith(ds.prefix)],
    }
    assert ds.one_bin in _options(conn, BIN, ds, one)
    return {
        "all": {**every, "bin": ds.one_bin, **shares},
        "one": {**one, "bin": ds.one_bin, **shares},
    }


@pytest.fixture(scope="module")
def reader(test_db: SessionDb, dataset: Dataset) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(test_db.reader_dsn, autocommit=True) as conn:
        conn.execute("set statement_timeout = '10s'")
        yield conn


@pytest.fixture(scope="module")
def selections(
    reader: psycopg.Connection[Any], dataset: Dataset
) -> dict[str, dict[str, VariableValue]]:
    return _selections(reader, dataset)


def test_reader_role_cannot_write(reader: psycopg.Connection[Any]) -> None:
    # read-only by default; without the privilege even in a read-write transaction
    with pytest.raises(psycopg.errors.InsufficientPrivilege), reader.transaction():
        reader.execute("set transaction read write; delete from alerts")


@pytest.mark.parametrize("selection", ["all", "one"])
@pytest.mark.parametrize("pq", QUERIES, ids=[q.name for q in QUERIES])
def test_panel_query_runs_and_returns_its_columns(
    pq: PanelQuery,
    selection: str,
    dataset: Dataset,
    reader: psycopg.Connection[Any],
    selections: dict[str, dict[str, VariableValue]],
) -> None:
    if "route_plans" in pq.query.sql and not dataset.routes:
        pytest.skip("route_plans/route_stops do not exist yet (migration 0007)")
    sql = expand(pq.query.sql, time_range=dataset.time_range, variables=selections[selection])
    cur = reader.execute(sql)
    assert cur.description is not None
    assert tuple(c.name for c in cur.description) == pq.query.columns, pq.panel_title
    rows = cur.fetchall()
    if selection == "all" and not pq.query.may_be_empty:
        assert rows, f"{pq.name} {pq.panel_title}: no rows"
    if pq.query.fmt == "time_series":
        assert all(r[0] is not None for r in rows), "time_series rows need a time"
        assert [r[0] for r in rows] == sorted(r[0] for r in rows), "time must ascend"


@pytest.mark.parametrize("rule", RULES, ids=[r.uid for r in RULES])
def test_alert_rule_query_returns_one_value(
    rule: Any, reader: psycopg.Connection[Any], dataset: Dataset
) -> None:
    cur = reader.execute(rule.sql)
    assert cur.description is not None
    assert [c.name for c in cur.description] == ["value"]
    assert len(cur.fetchall()) == 1


def test_fire_alerts_come_first(
    dataset: Dataset,
    reader: psycopg.Connection[Any],
    selections: dict[str, dict[str, VariableValue]],
) -> None:
    pq = next(q for q in QUERIES if "a.kind = 'fire' DESC" in q.query.sql)
    sql = expand(pq.query.sql, time_range=dataset.time_range, variables=selections["all"])
    kinds = [r[2] for r in reader.execute(sql).fetchall()]
    assert kinds[0] == "fire"
    assert kinds == sorted(kinds, key=lambda k: k != "fire")


def test_the_broker_refusals_panel_lists_each_client_once(
    dataset: Dataset, reader: psycopg.Connection[Any], test_db: SessionDb
) -> None:
    """Three reports of one device (one a second bridge's copy, stored once) are one row
    with every denial counted and its bin named; the login flood is a row of its address."""
    pq = next(q for q in QUERIES if "FROM broker_events" in q.query.sql)
    sql = expand(pq.query.sql, time_range=dataset.time_range, variables={})
    rows = [dict(zip(pq.query.columns, r, strict=True)) for r in reader.execute(sql).fetchall()]
    mine = [r for r in rows if (r["bin_id"] or r["client"]).startswith(dataset.prefix)]
    by_client = {r["client"]: r for r in mine}
    assert len(by_client) == len(mine) == 2, mine
    device = next(r for r in mine if r["refused"] == "publish")
    assert device["count"] == 5  # 3 + 2: the copy of the second report is not counted
    assert device["last_topic"] == f"ww/elsewhere/bins/{device['client']}/telemetry"
    assert device["last_at"] == dataset.time_range.end - timedelta(hours=1)
    assert device["bin_id"] is not None
    flood = by_client[f"{dataset.prefix}flood"]
    assert (flood["refused"], flood["count"], flood["bin_id"]) == ("login", 1, None)
    with (
        psycopg.connect(test_db.processor_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("select 1 from broker_events limit 1")


def test_route_progress_needs_a_collection_per_visit_of_the_day(
    dataset: Dataset,
    reader: psycopg.Connection[Any],
    test_db: SessionDb,
    selections: dict[str, dict[str, VariableValue]],
) -> None:
    """A market bin's second visit is done only at its second emptying of the day, whether
    the same truck comes back (visit 2) or another truck's plan names it (visit 1 there)."""
    if not dataset.routes:
        pytest.skip("route_plans/route_stops do not exist yet (migration 0007)")
    pq = next(q for q in QUERIES if "OFFSET s.day_visit - 1" in q.query.sql)
    end = dataset.time_range.end
    day = (end + timedelta(hours=7)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=7)
    with psycopg.connect(test_db.dsn, autocommit=True) as admin:
        trucks = [
            r[0]
            for r in admin.execute(
                "select truck_id from trucks where truck_id like %s and stream = 'general' "
                "order by truck_id limit 2",
                [dataset.prefix + "%"],
            )
        ]
        # Two bins no other truck's plan of the day visits, not emptied yet today.
        same, other = [
            r[0]
            for r in admin.execute(
                "select b.bin_id from bins b where b.bin_id like %s and b.stream = 'general' "
                "and not exists (select 1 from collections c where c.bin_id = b.bin_id "
                "and c.time >= %s and c.time < %s + interval '1 day') "
                "and not exists (select 1 from route_stops s join route_plans p "
                "on p.plan_id = s.plan_id where s.bin_id = b.bin_id and p.service_date = %s "
                "and p.truck_id <> all(%s)) order by b.bin_id limit 2",
                [dataset.prefix + "%", midnight, midnight, day, trucks],
            )
        ]
        plans = {t: f"{day}:{t}:general:2" for t in trucks}
        for t, plan_id in plans.items():
            admin.execute(
                "insert into route_plans (plan_id, service_date, truck_id, waste_stream, "
                "created_at, revision, total_distance_km, total_duration_s, expected_load_l, "
                "expected_load_kg, solver_name, solver_status, solver_objective, "
                "solver_runtime_s) values (%s, %s, %s, 'general', %s, 2, 10, 3600, 500, 100, "
                "'test', 'heuristic', 10, 0.1)",
                [plan_id, day, t, end - timedelta(hours=7)],
            )
        first, second = trucks
        # First truck: `other` early, `same` early and again late (visit 2).
        # Second truck: `other` again, late: an ordinary stop (visit 1) of its own plan.
        stops = [
            (plans[first], 1, other, midnight + timedelta(hours=6), 1),
            (plans[first], 2, same, midnight + timedelta(hours=6, minutes=10), 1),
            (plans[first], 3, same, midnight + timedelta(hours=14), 2),
            (plans[second], 1, other, midnight + timedelta(hours=13), 1),
        ]
        for plan_id, seq, bin_id, eta, visit in stops:
            admin.execute(
                "insert into route_stops (plan_id, sequence, bin_id, eta, expected_load_l, "
                "expected_load_kg, distance_from_previous_km, visit) "
                "values (%s, %s, %s, %s, 100, 20, 0.5, %s)",
                [plan_id, seq, bin_id, eta, visit],
            )

        def progress() -> dict[str, tuple[int, int, datetime | None]]:
            sql = expand(pq.query.sql, time_range=dataset.time_range, variables=selections["all"])
            rows = [dict(zip(pq.query.columns, r, strict=True)) for r in reader.execute(sql)]
            return {
                r["truck_id"]: (r["stops"], r["done"], r["next_eta"])
                for r in rows
                if r["truck_id"] in plans
            }

        def emptied(bin_id: str, at: datetime) -> None:
            admin.execute(
                "insert into collections (time, event_id, bin_id, zone_id, stream, fill_before, "
                "fill_after, volume_l, mass_kg, method, confidence) select %s, %s, bin_id, "
                "zone_id, stream, 0.9, 0.05, 200, 40, 'level_drop', 0.9 from bins "
                "where bin_id = %s",
                [at, f"{bin_id}:{at.timestamp():.0f}", bin_id],
            )

        try:
            # The morning round empties both bins once.
            emptied(other, midnight + timedelta(hours=6, minutes=2))
            emptied(same, midnight + timedelta(hours=6, minutes=12))
            assert progress() == {
                first: (3, 2, midnight + timedelta(hours=14)),
                second: (1, 0, midnight + timedelta(hours=13)),
            }
            # The second truck empties `other` again; the first comes back to `same`.
            emptied(other, midnight + timedelta(hours=13, minutes=5))
            emptied(same, midnight + timedelta(hours=14, minutes=5))
            assert progress() == {first: (3, 3, None), second: (1, 1, None)}
        finally:
            admin.execute("delete from route_plans where plan_id = any(%s)", [list(plans.values())])
            admin.execute(
                "delete from collections where bin_id = any(%s) and time >= %s",
                [[same, other], midnight],
            )
