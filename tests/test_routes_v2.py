"""``route_plan.v2``: repeat visits and unload points from the planner to the database,
Kafka and the simulator's closed loop.

The model tests are pure. The rest runs against the real TimescaleDB (a database of
this module's own, migrated from scratch, 0012 included) and Apache Kafka (this
session's topics): a plan in which the same truck empties a market bin twice is
stored with both visits, read back whole (v2) and as first visits (v1), followed by
``DbPlanSource``, and published on ``waste.routes.v2`` and ``waste.routes.v1``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import SessionDb, StackEnv, fresh_database
from tests.routes_helpers import DAY, bin_input, consume_plans, run_routes
from wastewatch.core.settings import KafkaSettings
from wastewatch.processors.routing.export import route_plan_v2
from wastewatch.processors.routing.planner import DayPlan, TruckRoute, plan_day
from wastewatch.processors.routing.problem import BinInput, PlanOptions
from wastewatch.processors.routing.store import (
    latest_plans,
    latest_plans_v2,
    publish_plans,
    read_plan,
    read_plan_v2,
    save_day,
)
from wastewatch.processors.routing.synthetic import kalasin_day
from wastewatch.schema.export import JSONSCHEMA_DIR, model_examples
from wastewatch.schema.routes import RoutePlan, RoutePlanV2
from wastewatch.workbench.simulators.plans import DbPlanSource

pytestmark = pytest.mark.timeout(120)


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((JSONSCHEMA_DIR / name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- the model -------------------------------------------------------------------


def _example(**changes: Any) -> dict[str, Any]:
    return {**model_examples(RoutePlanV2)[0], **changes}


def _stops() -> list[dict[str, Any]]:
    return [dict(s) for s in _example()["stops"]]


def test_the_example_repeats_a_bin_and_its_first_visits_are_a_valid_v1_plan() -> None:
    plan = RoutePlanV2.model_validate(_example())
    assert [(s.bin_id, s.visit) for s in plan.stops] == [
        ("kls-0012", 1),
        ("kls-0007", 1),
        ("kls-0012", 2),
    ]
    v1 = plan.first_visits()
    assert [(s.sequence, s.bin_id) for s in v1.stops] == [(1, "kls-0012"), (2, "kls-0007")]
    assert v1.plan_id == plan.plan_id
    assert v1.expected_load_l == plan.expected_load_l  # the whole route's totals
    assert _validator("route_plan.v1.json").is_valid(v1.to_json_dict())
    assert _validator("route_plan.v2.json").is_valid(plan.to_json_dict())


def test_a_bin_three_times_is_refused() -> None:
    stops = _stops()
    third = {**stops[2], "sequence": 4, "eta": "2026-01-02T09:00:00Z", "visit": 2}
    with pytest.raises(ValueError, match="appears 3 times"):
        RoutePlanV2.model_validate(_example(stops=[*stops, third]))
    # Nor can a third visit say so: visits are 1 or 2.
    third["visit"] = 3
    with pytest.raises(ValueError, match="less than or equal to 2"):
        RoutePlanV2.model_validate(_example(stops=[*stops, third]))
    assert not _validator("route_plan.v2.json").is_valid(_example(stops=[*stops, third]))


def test_visit_two_before_visit_one_is_refused() -> None:
    stops = _stops()
    stops[0]["visit"], stops[2]["visit"] = 2, 1
    with pytest.raises(ValueError, match="says visit 2"):
        RoutePlanV2.model_validate(_example(stops=stops))


def test_a_duplicate_without_visit_numbers_is_refused() -> None:
    stops = _stops()
    for s in stops:
        del s["visit"]  # both appearances of kls-0012 default to visit 1
    with pytest.raises(ValueError, match="says visit 1"):
        RoutePlanV2.model_validate(_example(stops=stops))


def test_a_lone_second_visit_is_refused() -> None:
    stops = _stops()[:2]
    stops[0]["visit"] = 2
    with pytest.raises(ValueError, match=r"appearance 1 .* says visit 2"):
        RoutePlanV2.model_validate(_example(stops=stops))


def test_v1_still_refuses_a_bin_twice() -> None:
    # route_plan.v1 is published as it was: the repeat is what it cannot carry.
    v1 = model_examples(RoutePlan)[0]
    stops = [dict(s) for s in v1["stops"]]
    stops[1]["bin_id"] = stops[0]["bin_id"]
    with pytest.raises(ValueError, match="more than once"):
        RoutePlan.model_validate({**v1, "stops": stops})


# --- a plan with a same-truck repeat visit -----------------------------------------


def _bin(bin_id: str, lat: float, lon: float, **kw: Any) -> BinInput:
    return bin_input(bin_id, lat, lon, **{"fill_level": 0.9, "urgency": "urgent", **kw})


def _repeat_day() -> tuple[DayPlan, TruckRoute]:
    """One truck, a market bin that refills in 8 h and two ordinary bins; the truck holds
    one bin at a time (300 L), so it unloads at the landfill between stops."""
    market = _bin("fast", 16.434, 103.506, rate_per_h=0.1, refill_h=8.0)
    slow = _bin("slow", 16.440, 103.500)
    other = _bin("other", 16.445, 103.510)
    base = kalasin_day(bins=1, trucks=1, seed=1, service_date=DAY)
    inputs = replace(
        base,
        bins=(market, slow, other),
        trucks=tuple(replace(t, capacity_l=300.0) for t in base.trucks),
    )
    day = plan_day(inputs, PlanOptions(due_fill=None, early_band=True, seconds=0.5, seed=1))
    (route,) = [r for r in day.routes if r.plan.stops]
    assert [s.bin_id for s in route.repeat_visits] == ["fast"], route.all_stops
    return day, route


def test_the_whole_route_becomes_v2_and_its_first_visits_are_the_v1_plan() -> None:
    _, route = _repeat_day()
    v2 = route_plan_v2(route)
    assert [(s.bin_id, s.visit) for s in v2.stops] == [
        (s.bin_id, 2 if s in route.repeat_visits else 1) for s in route.all_stops
    ]
    assert tuple(s.sequence for s in v2.stops if s.unload_after) == route.all_unload_after
    assert len(route.all_unload_after) >= 2  # one bin per trip
    assert v2.first_visits() == route.plan
    assert _validator("route_plan.v2.json").is_valid(v2.to_json_dict())


# --- the database, the simulator and Kafka ------------------------------------------


@pytest.fixture(scope="module")
def v2_db(stack_env: StackEnv) -> Iterator[SessionDb]:
    with fresh_database(stack_env, "ww_routes_v2") as db:
        yield db


@pytest.mark.integration
def test_a_repeat_visit_is_stored_read_back_and_followed_by_the_simulator(
    v2_db: SessionDb,
) -> None:
    day, route = _repeat_day()
    (saved,) = [r for r in save_day(v2_db.processor_dsn, day) if r.plan.stops]
    plan_id = saved.plan.plan_id
    with psycopg.connect(v2_db.reader_dsn) as conn:
        rows = conn.execute(
            "select sequence, bin_id, visit, unload_after from route_stops"
            " where plan_id = %s order by sequence",
            [plan_id],
        ).fetchall()
    assert [(b, v) for _, b, v, _ in rows].count(("fast", 1)) == 1
    assert [(b, v) for _, b, v, _ in rows].count(("fast", 2)) == 1
    assert [r[0] for r in rows] == [s.sequence for s in route.all_stops]
    assert [r[1] for r in rows] == [s.bin_id for s in route.all_stops]
    assert tuple(r[0] for r in rows if r[3]) == route.all_unload_after

    whole = read_plan_v2(v2_db.reader_dsn, plan_id)
    assert whole == route_plan_v2(saved)
    assert latest_plans_v2(v2_db.reader_dsn, DAY) == [whole]
    # The v1 readers see first visits only: the plan as route_plan.v1 always had it.
    assert read_plan(v2_db.reader_dsn, plan_id) == saved.plan
    assert latest_plans(v2_db.reader_dsn, DAY) == [saved.plan]
    assert [s.bin_id for s in saved.plan.stops].count("fast") == 1

    # The closed loop through the database follows both visits, in driving order.
    (sim,) = DbPlanSource(v2_db.reader_dsn).plans_for(DAY) or ()
    assert sim.plan_id == plan_id
    assert sim.stops == tuple((s.bin_id, int(s.eta.timestamp())) for s in route.all_stops)
    assert [b for b, _ in sim.stops].count("fast") == 2


@pytest.mark.integration
def test_route_stops_allow_a_bin_twice_per_plan_and_no_more(v2_db: SessionDb) -> None:
    """Migration 0012's constraints, as the processors' role that writes plans."""
    v2 = RoutePlanV2.model_validate(_example(plan_id="2026-01-02:kls-truck-03:general:9"))
    insert = (
        "insert into route_stops (plan_id, sequence, bin_id, eta, expected_load_l,"
        " expected_load_kg, distance_from_previous_km, visit)"
        " values (%s, %s, 'kls-0012', now(), 1, 1, 1, %s)"
    )
    with psycopg.connect(v2_db.processor_dsn) as conn:
        conn.execute(
            "insert into route_plans (plan_id, service_date, truck_id, waste_stream,"
            " created_at, revision, total_distance_km, total_duration_s, expected_load_l,"
            " expected_load_kg, solver_name, solver_status, solver_objective,"
            " solver_runtime_s) values (%s, %s, 'kls-truck-03', 'general', now(), 9,"
            " 1, 1, 1, 1, 'x', 'heuristic', 1, 1)",
            [v2.plan_id, v2.service_date],
        )
        conn.execute(
            "insert into route_stops (plan_id, sequence, bin_id, eta, expected_load_l,"
            " expected_load_kg, distance_from_previous_km) values (%s, 1, 'kls-0012',"
            " now(), 1, 1, 1)",
            [v2.plan_id],
        )
        conn.execute(insert, [v2.plan_id, 2, 2])
        conn.commit()
        for seq, visit, error in (
            (3, 1, psycopg.errors.UniqueViolation),  # the first visit again
            (3, 2, psycopg.errors.UniqueViolation),  # the second visit again
            (3, 3, psycopg.errors.CheckViolation),  # a third visit
        ):
            with pytest.raises(error), conn.transaction():
                conn.execute(insert, [v2.plan_id, seq, visit])
        visits = conn.execute(
            "select sequence, visit from route_stops where plan_id = %s order by sequence",
            [v2.plan_id],
        ).fetchall()
        assert visits == [(1, 1), (2, 2)]  # the default is a first visit
        conn.execute("delete from route_plans where plan_id = %s", [v2.plan_id])
    # The new column comes with the table's grants: the processors write it, the reader
    # (Grafana, the API, DbPlanSource) only reads it.
    privileges = "select has_column_privilege('route_stops', 'visit', 'SELECT'), " + ", ".join(
        f"has_column_privilege('route_stops', 'visit', '{p}')" for p in ("INSERT", "UPDATE")
    )
    for dsn, expected in ((v2_db.processor_dsn, (True, True, True)),
                          (v2_db.reader_dsn, (True, False, False))):  # fmt: skip
        with psycopg.connect(dsn) as conn:
            assert conn.execute(privileges).fetchone() == expected


@pytest.mark.integration
def test_v2_and_v1_are_published_and_validate(
    v2_db: SessionDb,
    kafka_settings: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    day, _ = _repeat_day()
    plans = [route_plan_v2(r) for r in save_day(v2_db.processor_dsn, day) if r.plan.stops]
    assert publish_plans(kafka_settings, plans) == 1
    # `routes publish` sends the stored latest plans again, read whole from the database.
    monkeypatch.setenv("WW_DB_DSN", v2_db.dsn)
    monkeypatch.setenv("WW_DB_READER_DSN", v2_db.reader_dsn)
    monkeypatch.setenv("WW_KAFKA_BOOTSTRAP", kafka_settings.bootstrap)
    monkeypatch.setenv("WW_KAFKA_TOPIC_PREFIX", kafka_settings.topic_prefix)
    assert run_routes(["routes", "publish", "--date", DAY.isoformat()]) == 0
    assert "published" in capsys.readouterr().out

    (plan,) = plans
    ids = {plan.plan_id}
    v2_records = asyncio.run(consume_plans(kafka_settings, "waste.routes.v2", ids, each=2))
    v1_records = asyncio.run(consume_plans(kafka_settings, "waste.routes.v1", ids, each=2))
    assert len(v2_records) == len(v1_records) == 2  # publish_plans, then `routes publish`
    v2_schema, v1_schema = _validator("route_plan.v2.json"), _validator("route_plan.v1.json")
    for raw in v2_records:
        v2_schema.validate(json.loads(raw))
        got = RoutePlanV2.model_validate_json(raw)
        assert got == plan
        assert [s.bin_id for s in got.stops].count("fast") == 2
        assert any(s.unload_after for s in got.stops)
    for raw in v1_records:
        v1_schema.validate(json.loads(raw))
        got_v1 = RoutePlan.model_validate_json(raw)
        assert got_v1 == plan.first_visits()
        bins = [s.bin_id for s in got_v1.stops]
        assert len(bins) == len(set(bins))
        assert "unload_after" not in json.loads(raw)["stops"][0]
