"""Route plans against the real TimescaleDB and Apache Kafka.

A database of this module's own (migrated from scratch, dropped afterwards),
so the readings inserted here never meet other tests' counts. The Kalasin
registry is imported with ``bins import``'s code; plans are made through the
CLI handler, read back by the planner's reader *and* by the simulator's
``DbPlanSource`` (the closed loop's consumer), and consumed from
``waste.routes.v2`` and the deprecated ``waste.routes.v1``. Repeat visits:
``tests/test_routes_v2.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SessionDb, StackEnv, fresh_database
from tests.routes_helpers import consume_plans, run_routes
from tests.test_geojson import assert_geojson
from wastewatch.city.citydata import load_city
from wastewatch.city.importer import import_city
from wastewatch.core.settings import KafkaSettings
from wastewatch.processors.routing.planner import plan_day
from wastewatch.processors.routing.problem import PlanOptions, local_to_utc
from wastewatch.processors.routing.store import (
    FALLBACK_NOTE,
    latest_plans,
    latest_plans_v2,
    load_day_inputs,
    read_plan,
)
from wastewatch.schema.routes import RoutePlan, RoutePlanV2
from wastewatch.workbench.simulators.plans import DbPlanSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CITY = Path(__file__).resolve().parents[1] / "simulators" / "data" / "kalasin"
DAY = date(2026, 3, 4)  # a Wednesday: general, organic and hazardous trucks work
PLAN = ["routes", "plan", "--date", DAY.isoformat()]


@pytest.fixture(scope="module")
def routes_db(stack_env: StackEnv) -> Iterator[SessionDb]:
    with fresh_database(stack_env, "ww_routes") as db:
        import_city(db.writer_dsn, load_city([CITY]))
        _insert_readings(db.writer_dsn)
        yield db


def _insert_readings(dsn: str) -> None:
    """Two readings per instrumented bin: 20 h and 1 h before the service day."""
    rng = random.Random(7)
    start = local_to_utc(DAY, __import__("datetime").time(0, 0))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        bins = conn.execute(
            "select bin_id, device_id from bins where device_id is not null order by bin_id"
        ).fetchall()
        rows = []
        for bin_id, device in bins:
            first = rng.uniform(0.0, 0.6)
            last = min(1.0, first + rng.uniform(0.0, 0.5))
            for seq, (at, fill) in enumerate(
                ((start - timedelta(hours=20), first), (start - timedelta(hours=1), last))
            ):
                rows.append((at, device, 1, seq, bin_id, round(fill, 4), 1))
        cur.executemany(
            "insert into readings (time, device_id, boot_counter, seq, bin_id, fill_level,"
            " payload_version) values (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, routes_db: SessionDb, kafka_settings: KafkaSettings
) -> SessionDb:
    monkeypatch.setenv("WW_DB_DSN", routes_db.dsn)
    monkeypatch.setenv("WW_DB_WRITER_DSN", routes_db.writer_dsn)
    monkeypatch.setenv("WW_DB_READER_DSN", routes_db.reader_dsn)
    monkeypatch.setenv("WW_DB_INGEST_DSN", routes_db.ingest_dsn)
    monkeypatch.setenv("WW_DB_PROCESSOR_DSN", routes_db.processor_dsn)
    monkeypatch.setenv("WW_KAFKA_BOOTSTRAP", kafka_settings.bootstrap)
    monkeypatch.setenv("WW_KAFKA_TOPIC_PREFIX", kafka_settings.topic_prefix)
    return routes_db


def test_plan_from_readings_stored_read_back_and_published(
    env: SessionDb, kafka_settings: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = load_day_inputs(env.reader_dsn, DAY)
    assert inputs.fill_source.startswith("readings")
    assert inputs.notes == (FALLBACK_NOTE,)

    assert run_routes([*PLAN, "--seconds", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["fill_source"] == "readings (linear extrapolation)"
    assert FALLBACK_NOTE in summary["notes"]
    assert summary["must_collect"] > 0
    assert summary["missed_must_collect"] == []
    assert summary["stored"] is True
    plans_out = summary["plans"]
    assert summary["published"] == len(plans_out) > 0
    assert {p["truck_id"] for p in plans_out} == {
        t.truck_id for t in inputs.trucks if DAY.weekday() in t.service_days
    }

    stored = latest_plans(env.reader_dsn, DAY)
    assert [p.plan_id for p in stored] == sorted(p["plan_id"] for p in plans_out)
    for p in stored:
        assert read_plan(env.reader_dsn, p.plan_id) == p
    by_truck = {p.truck_id: p for p in stored}

    # The simulator's trucks read the same plans (closed loop).
    sim = DbPlanSource(env.reader_dsn).plans_for(DAY)
    assert sim is not None
    for route in sim:
        plan = by_truck[route.truck_id]
        assert route.plan_id == plan.plan_id
        assert route.stops == tuple((s.bin_id, int(s.eta.timestamp())) for s in plan.stops)

    ids = {p.plan_id for p in stored}
    published = asyncio.run(consume_plans(kafka_settings, "waste.routes.v1", ids))
    assert {RoutePlan.model_validate_json(r).plan_id for r in published} == ids
    # The whole routes on v2: the stored plans, unload points included.
    raw = asyncio.run(consume_plans(kafka_settings, "waste.routes.v2", ids))
    whole = [RoutePlanV2.model_validate_json(r) for r in raw]
    assert {p.plan_id: p for p in whole} == {
        p.plan_id: p for p in latest_plans_v2(env.reader_dsn, DAY)
    }
    assert {p.plan_id: p.first_visits() for p in whole} == {p.plan_id: p for p in stored}

    # A re-plan is a new revision that supersedes the old one; the old stays stored.
    assert run_routes([*PLAN, "--seconds", "1", "--no-publish", "--json"]) == 0
    again = latest_plans(env.reader_dsn, DAY)
    assert all(p.plan_id.endswith(":2") for p in again)
    assert read_plan(env.reader_dsn, stored[0].plan_id) == stored[0]


def test_a_replan_with_an_iteration_budget_gives_the_same_routes(
    env: SessionDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI from the real database: same data, seed and budget, same routes."""
    runs = []
    for n in (1, 2):
        geo = tmp_path / f"run{n}.geojson"
        argv = [*PLAN, "--iterations", "300", "--seconds", "60", "--dry-run", "--json"]
        assert run_routes([*argv, "--geojson", str(geo)]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        runs.append((summary, json.loads(geo.read_text(encoding="utf-8"))))
    (first, first_geo), (again, again_geo) = runs
    assert first["iterations"] == 300
    assert sum(p["stops"] for p in first["plans"]) > 0
    assert not [n for n in first["notes"] if "iterations" in n]
    assert again["plans"] == first["plans"]  # ids, stops, km, hours, loads
    stops = [f["properties"] for f in first_geo["features"] if f["properties"]["kind"] == "stop"]
    assert stops
    assert again_geo == first_geo  # every stop, in order, with its ETA
    # The budget reaches the solver: a clock that ends the search first is said.
    argv = [*PLAN, "--iterations", "100000000", "--seconds", "0.5", "--dry-run", "--json"]
    assert run_routes(argv) == 0
    cut = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [n for n in cut["notes"] if "a re-plan of the same inputs may differ" in n]


def test_plan_uses_bin_state_when_present(
    env: SessionDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(env.dsn) as conn:
        if not conn.execute("select to_regclass('bin_state') is not null").fetchone()[0]:  # type: ignore[index]
            pytest.skip("bin_state (migration 0006) is not there yet")
        start = local_to_utc(DAY, __import__("datetime").time(0, 0))
        conn.execute(
            """insert into bin_state (bin_id, device_id, zone_id, stream, fill_level, rate_per_h,
              threshold, threshold_at, urgency, collect_by, last_reading_at, refill_h)
            select bin_id, device_id, zone_id, stream, 0.9, 0.01, collection_threshold,
              %(t)s::timestamptz - interval '1 hour', 'overflowing',
              %(t)s::timestamptz - interval '1 hour', %(t)s::timestamptz - interval '1 hour', 30
            from bins where stream = 'organic' and device_id is not null
            order by bin_id limit 12""",
            {"t": start},
        )
        # A 13th bin reads nearly empty, but its sensor is stuck (an open alert): collected.
        conn.execute(
            """insert into bin_state (bin_id, device_id, zone_id, stream, fill_level, rate_per_h,
              threshold, urgency, last_reading_at)
            select bin_id, device_id, zone_id, stream, 0.1, 0.0, collection_threshold, 'fine',
              %(t)s::timestamptz - interval '1 hour'
            from bins where stream = 'organic' and device_id is not null
            order by bin_id offset 12 limit 1""",
            {"t": start},
        )
        conn.execute(
            """insert into alerts (alert_id, kind, severity, state, bin_id, device_id, opened_at,
              message_en, message_th)
            select 'sensor_fault:' || device_id || ':1:1', 'sensor_fault', 'warning', 'open',
              bin_id, device_id, %(t)s::timestamptz - interval '5 hours', 'stuck', 'stuck'
            from bins where stream = 'organic' and device_id is not null
            order by bin_id offset 12 limit 1""",
            {"t": start},
        )
    try:
        # The usual refill time comes from bin_state (0013), not from the night's rate.
        refill = {b.refill_h for b in load_day_inputs(env.reader_dsn, DAY).bins}
        assert refill == {30.0, None}
        geo = tmp_path / "day.geojson"
        assert (
            run_routes([*PLAN, "--seconds", "1", "--dry-run", "--geojson", str(geo), "--json"]) == 0
        )
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["fill_source"] == "bin_state"
        assert summary["must_collect"] == 13
        organic = [p for p in summary["plans"] if p["waste_stream"] == "organic"]
        assert sum(p["stops"] for p in organic) == 13
        written = json.loads(geo.read_text(encoding="utf-8"))
        assert_geojson(written)  # RFC 7946, from a real database through the CLI
        features = written["features"]
        assert sum(f["properties"]["kind"] == "stop" for f in features) == 13

        assert run_routes([*PLAN, "--seconds", "1", "--dry-run", "--print", "kls-truck-05"]) == 0
        sheet = capsys.readouterr().out
        assert "ใบงานเก็บขยะ / Collection sheet — kls-truck-05" in sheet
        assert "ขยะอินทรีย์ / Organic waste" in sheet
    finally:
        with psycopg.connect(env.dsn) as conn:
            conn.execute("delete from bin_state")
            conn.execute("delete from alerts")


def test_kg_per_litre_is_learned_from_the_weighbridge_and_the_detected_emptyings(
    env: SessionDb,
) -> None:
    """Tickets and emptyings of the 28 days before the service day make the ratio; older
    ones and a stream with too few litres do not."""
    start = local_to_utc(DAY, __import__("datetime").time(0, 0))
    tickets = [
        # general: 2 x 6,000 kg over 50,000 L emptied -> 0.24 kg/L
        ("general", 6000.0, 2),
        ("general", 6000.0, 3),
        ("general", 90_000.0, 40),  # older than 28 days: left out
        ("organic", 2000.0, 2),  # organic has only 1,000 L emptied: too few to learn
    ]
    emptied = [("general", 25_000.0, 2), ("general", 25_000.0, 4), ("organic", 1000.0, 2)]
    with psycopg.connect(env.writer_dsn) as conn:
        for i, (stream, kg, days) in enumerate(tickets):
            conn.execute(
                "insert into landfill_deliveries (time, ticket_id, site_id, truck_id, stream,"
                " gross_kg, tare_kg, net_kg) values (%s, %s, 'kls-landfill-1', 'kls-truck-01',"
                " %s, %s, 9500, %s)",
                (start - timedelta(days=days), f"t-learn-{i}", stream, 9500 + kg, kg),
            )
        for i, (stream, litres, days) in enumerate(emptied):
            conn.execute(
                "insert into collections (time, event_id, bin_id, stream, fill_before,"
                " fill_after, volume_l, mass_kg, method, confidence)"
                " values (%s, %s, 'kls-0003', %s, 0.9, 0.0, %s, 0, 'level_drop', 1)",
                (start - timedelta(days=days), f"e-learn-{i}", stream, litres),
            )
    try:
        learned = load_day_inputs(env.dsn, DAY).kg_per_l
        assert {s.value: v for s, v in learned.items()} == {"general": 0.24}
    finally:
        with psycopg.connect(env.writer_dsn) as conn:
            conn.execute("delete from landfill_deliveries where ticket_id like 't-learn-%'")
            conn.execute("delete from collections where event_id like 'e-learn-%'")


def test_fast_refilling_bins_from_bin_state_get_a_second_visit(
    env: SessionDb, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bin_state.refill_h`` (0013) is what makes ``routes plan`` visit a bin twice: three
    overflowing organic bins that refill in 10 h are repeated, three that take 30 h not."""
    start = local_to_utc(DAY, __import__("datetime").time(0, 0))
    with psycopg.connect(env.dsn) as conn:
        conn.execute(
            """insert into bin_state (bin_id, device_id, zone_id, stream, fill_level, rate_per_h,
              threshold, threshold_at, urgency, collect_by, last_reading_at, refill_h)
            select bin_id, device_id, zone_id, stream, 0.95, 0.0, collection_threshold,
              %(t)s::timestamptz - interval '3 hours', 'overflowing',
              %(t)s::timestamptz - interval '3 hours', %(t)s::timestamptz - interval '1 hour',
              case when row_number() over (order by bin_id) <= 3 then 10 else 30 end
            from bins where stream = 'organic' and device_id is not null
            order by bin_id limit 6""",
            {"t": start},
        )
        fast = {r[0] for r in conn.execute("select bin_id from bin_state where refill_h = 10")}
    try:
        assert run_routes([*PLAN, "--seconds", "2", "--dry-run", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        organic = [p for p in summary["plans"] if p["waste_stream"] == "organic"]
        assert sum(p["stops"] for p in organic) == 6  # each bin once in the v1 count
        assert summary["repeat_visits"] == sum(p["repeat_visits"] for p in organic) == 3
        routes = plan_day(load_day_inputs(env.reader_dsn, DAY), PlanOptions(seconds=2)).routes
        repeated = {s.bin_id for r in routes for s in r.repeat_visits}
        assert repeated == fast
    finally:
        with psycopg.connect(env.dsn) as conn:
            conn.execute("delete from bin_state")
