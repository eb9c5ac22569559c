"""The database and Kafka edges of the route planner.

Reading (reader role is enough): the registry (``trucks``, ``depots``,
``landfill_sites``, ``bins``) and the processors' ``bin_state``. Before the
processors have run, ``bin_state`` is empty; the planner then falls back to
the latest reading per bin with a straight-line fill rate (see
:data:`FALLBACK_NOTE`) and says so in the plan (``fill_source``). Event time
only: "now" is the day's start or the newest reading before it, never the
wall clock, so a replayed month plans like a real one.

Writing (writer role): each plan and its stops in **one transaction** per
day, revision numbers assigned under an advisory lock, so concurrent planners
cannot give two plans the same id; a re-plan adds rows and never edits old
ones (the latest ``created_at`` per truck and date wins). ``route_stops`` holds
the whole route, one row per visit (``visit`` 1 or 2, migration 0012), so a bin
visited twice by the same truck is stored twice; :func:`read_plan_v2` and
:func:`latest_plans_v2` read it back whole, :func:`read_plan` and
:func:`latest_plans` as ``route_plan.v1`` (first visits only).

Publishing: after the commit, each plan goes to ``waste.routes.v2`` (the whole
route) and then, as its first visits, to the deprecated ``waste.routes.v1``
(key = truck id, ``acks=all``, one producer). The database is the source of
truth; publishing is at-least-once (a retry after a failure sends both again),
and consumers keep the plan with the latest ``created_at`` per truck and date,
so a duplicate is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import psycopg

from wastewatch.core import KafkaSettings
from wastewatch.processors.routing.distances import Place
from wastewatch.processors.routing.errors import PlanStoreError
from wastewatch.processors.routing.export import route_plan_v2
from wastewatch.processors.routing.planner import DayPlan, TruckRoute
from wastewatch.processors.routing.problem import (
    BANGKOK,
    BinInput,
    DayInputs,
    TruckInput,
    access_closed,
    kg_per_litre,
    local_to_utc,
)
from wastewatch.schema import RoutePlan, RoutePlanV2, RouteVisit, SolverInfo, WasteStream, Weekday

__all__ = [
    "FALLBACK_NOTE",
    "latest_plans",
    "latest_plans_v2",
    "load_day_inputs",
    "publish_plans",
    "read_plan",
    "read_plan_v2",
    "save_day",
]

FALLBACK_NOTE: Final = (
    "bin_state is empty (processors not running yet): fill levels from the latest reading "
    "per bin, extrapolated linearly from its lowest reading in the 36 h before"
)
_WEEKDAY = {d.value: d.number for d in Weekday}

_BIN_STATE = """
select b.bin_id, b.latitude, b.longitude, b.stream, b.volume_l, b.collection_threshold,
       coalesce(b.name, ''), s.fill_level, coalesce(s.rate_per_h, 0), s.threshold,
       s.last_reading_at, coalesce(s.collect_by, s.threshold_at), s.urgency,
       not exists (select 1 from alerts a
                   where a.state = 'open' and a.kind in ('sensor_fault', 'tipped_over')
                     and (a.bin_id = b.bin_id or a.device_id = s.device_id)),
       s.threshold_at, s.refill_h
from bins b join bin_state s using (bin_id)
where b.active and s.fill_level is not null
order by b.bin_id
"""
"""bin_state with the registry; column 13 is False while an open alert says the device's
level cannot be trusted (``alerts`` comes with ``bin_state`` in migration 0006); 14 is the
central crossing beside the early band, 15 the hours to refill at the usual rate (0013)."""

_FROM_READINGS = """
with latest as (
    select distinct on (bin_id) bin_id, time, fill_level from readings
    where bin_id is not null and fill_level is not null
      and time <= %(as_of)s and time > %(as_of)s - interval '3 days'
    order by bin_id, time desc
), lowest as (
    select distinct on (r.bin_id) r.bin_id, r.time, r.fill_level
    from readings r join latest l using (bin_id)
    where r.fill_level is not null
      and r.time > l.time - interval '36 hours' and r.time <= l.time - interval '2 hours'
    order by r.bin_id, r.fill_level, r.time desc
)
select b.bin_id, b.latitude, b.longitude, b.stream, b.volume_l, b.collection_threshold,
       coalesce(b.name, ''), l.fill_level, l.time, w.fill_level, w.time
from bins b join latest l using (bin_id) left join lowest w using (bin_id)
where b.active
order by b.bin_id
"""


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise PlanStoreError(f"cannot connect to the database: {exc}") from exc


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", [table]).fetchone()
    return bool(row and row[0])


def load_day_inputs(dsn: str, service_date: date) -> DayInputs:
    """Registry and fill estimates for planning ``service_date`` (reader role suffices)."""
    day_start = local_to_utc(service_date, time(0, 0))
    try:
        with _connect(dsn) as conn:
            missing = [
                t
                for t in ("bins", "trucks", "depots", "landfill_sites", "readings")
                if not _exists(conn, t)
            ]
            if missing:
                raise PlanStoreError(
                    f"the database lacks {', '.join(missing)}: run `wastewatch db migrate` "
                    "and `wastewatch bins import` first"
                )
            trucks = tuple(
                TruckInput(
                    truck_id=r[0],
                    name=r[1],
                    stream=WasteStream(r[2]),
                    capacity_l=float(r[3]),
                    capacity_kg=float(r[4]),
                    depot_id=r[5],
                    site_id=r[6],
                    shift_start=r[7],
                    service_days=frozenset(_WEEKDAY[d] for d in r[8] if d in _WEEKDAY),
                    speed_kmh=float(r[9]),
                )
                for r in conn.execute(
                    "select truck_id, name, stream, capacity_l, capacity_kg, depot_id, site_id,"
                    " shift_start, service_days, speed_kmh from trucks where active"
                    " order by truck_id"
                )
            )
            depots = {
                r[0]: Place(r[0], r[1], r[2])
                for r in conn.execute("select depot_id, latitude, longitude from depots")
            }
            sites = {
                r[0]: Place(r[0], r[1], r[2])
                for r in conn.execute("select site_id, latitude, longitude from landfill_sites")
            }
            rows = conn.execute(_BIN_STATE).fetchall() if _exists(conn, "bin_state") else []
            notes: tuple[str, ...] = ()
            if rows:
                bins = tuple(_from_state(r) for r in rows)
                source = "bin_state"
            else:
                fallback = conn.execute(_FROM_READINGS, {"as_of": day_start}).fetchall()
                bins = tuple(_from_readings(r) for r in fallback)
                source = "readings (linear extrapolation)"
                notes = (FALLBACK_NOTE,)
            kg_per_l = _learned_kg_per_l(conn, day_start)
    except psycopg.Error as exc:
        raise PlanStoreError(f"cannot read the planning inputs: {exc}") from exc
    if not trucks:
        raise PlanStoreError("no active truck in the registry: run `wastewatch bins import`")
    return DayInputs(
        service_date=service_date,
        bins=bins,
        trucks=trucks,
        depots=depots,
        sites=sites,
        fill_source=source,
        notes=notes,
        kg_per_l=kg_per_l,
    )


LEARN_DAYS: Final = 28
"""Weighbridge tickets and detected emptyings of this many days before the service day
make the planner's kg per litre (:func:`kg_per_litre`)."""


def _learned_kg_per_l(conn: psycopg.Connection[Any], before: datetime) -> dict[WasteStream, float]:
    """Per stream: net kg weighed at the landfill over litres the detector saw emptied."""
    if not (_exists(conn, "landfill_deliveries") and _exists(conn, "collections")):
        return {}
    since = before - timedelta(days=LEARN_DAYS)
    window = {"since": since, "before": before}
    kg = conn.execute(
        "select stream, sum(net_kg) from landfill_deliveries"
        " where time >= %(since)s and time < %(before)s group by stream",
        window,
    ).fetchall()
    litres = conn.execute(
        "select stream, sum(volume_l) from collections"
        " where time >= %(since)s and time < %(before)s group by stream",
        window,
    ).fetchall()
    known = {s.value for s in WasteStream}
    return kg_per_litre(
        {WasteStream(r[0]): float(r[1]) for r in kg if r[0] in known and r[1] is not None},
        {WasteStream(r[0]): float(r[1]) for r in litres if r[0] in known and r[1] is not None},
    )


def _registry_bin(
    r: Sequence[Any], *, threshold: float, fill_level: float, rate_per_h: float, as_of: datetime
) -> BinInput:
    """A bin from the registry columns both queries start with (id .. name) and its level."""
    return BinInput(
        bin_id=r[0],
        latitude=r[1],
        longitude=r[2],
        stream=WasteStream(r[3]),
        volume_l=float(r[4]),
        name=r[6],
        closed=access_closed(r[6] or ""),
        threshold=threshold,
        fill_level=fill_level,
        rate_per_h=rate_per_h,
        as_of=as_of,
    )


def _from_state(r: Sequence[Any]) -> BinInput:
    level = _registry_bin(
        r,
        threshold=float(r[9] if r[9] is not None else r[5]),
        fill_level=float(r[7]),
        rate_per_h=max(0.0, float(r[8])),
        as_of=r[10],
    )
    return replace(
        level,
        collect_by=r[11],
        urgency=r[12],
        sensor_ok=bool(r[13]),
        central_at=r[14],
        refill_h=None if r[15] is None else float(r[15]),
    )


def _from_readings(r: Sequence[Any]) -> BinInput:
    fill, at, low, low_at = float(r[7]), r[8], r[9], r[10]
    rate = 0.0
    if low is not None and low_at is not None and at > low_at:
        rate = max(0.0, (fill - float(low)) / ((at - low_at).total_seconds() / 3600))
    return _registry_bin(r, threshold=float(r[5]), fill_level=fill, rate_per_h=rate, as_of=at)


def save_day(dsn: str, day: DayPlan) -> list[TruckRoute]:
    """Store every plan of ``day`` in one transaction; returns them with their final ids.

    Every stop of the whole route (``all_stops``) is a ``route_stops`` row, with its
    visit number and whether the truck unloads after it (``all_unload_after``).
    """
    saved: list[TruckRoute] = []
    try:
        with _connect(dsn) as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('route_plans'))")
            for route in day.routes:
                plan = route.plan
                row = conn.execute(
                    "select coalesce(max(revision), 0) + 1 from route_plans"
                    " where service_date = %s and truck_id = %s",
                    [plan.service_date, plan.truck_id],
                ).fetchone()
                revision = int(row[0]) if row else 1
                plan = plan.model_copy(
                    update={
                        "plan_id": f"{plan.service_date.isoformat()}:{plan.truck_id}:"
                        f"{plan.waste_stream.value}:{revision}"
                    }
                )
                conn.execute(
                    """insert into route_plans (plan_id, service_date, truck_id, waste_stream,
                      created_at, revision, total_distance_km, total_duration_s,
                      expected_load_l, expected_load_kg, solver_name, solver_status,
                      solver_objective, solver_runtime_s, fill_source, distance_source, notes)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [
                        plan.plan_id,
                        plan.service_date,
                        plan.truck_id,
                        plan.waste_stream.value,
                        plan.created_at,
                        revision,
                        plan.total_distance_km,
                        plan.total_duration_s,
                        plan.expected_load_l,
                        plan.expected_load_kg,
                        plan.solver.name,
                        plan.solver.status.value,
                        plan.solver.objective,
                        plan.solver.runtime_s,
                        day.fill_source,
                        day.distance_source,
                        [*day.notes, *_repeat_note(route)],
                    ],
                )
                route = replace(route, plan=plan)
                with conn.cursor() as cur:
                    cur.executemany(
                        """insert into route_stops (plan_id, sequence, bin_id, eta,
                          expected_load_l, expected_load_kg, distance_from_previous_km,
                          unload_after, visit) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                        [
                            (
                                plan.plan_id,
                                s.sequence,
                                s.bin_id,
                                s.eta,
                                s.expected_load_l,
                                s.expected_load_kg,
                                s.distance_from_previous_km,
                                s.unload_after,
                                s.visit,
                            )
                            for s in route_plan_v2(route).stops
                        ],
                    )
                saved.append(route)
    except psycopg.Error as exc:
        raise PlanStoreError(f"cannot store the plans, nothing was written: {exc}") from exc
    return saved


def _repeat_note(route: TruckRoute) -> list[str]:
    """The repeat visits, for readers of the first visits only (``route_plan.v1``, the
    ``visit = 1`` rows): 'repeat visits: <bin> at HH:MM after stop <n>, ...', n counted
    in first visits."""
    again = route.repeat_visits
    if not again:
        return []
    firsts = len(route.plan.stops)
    where = []
    for s in again:
        before = {x.bin_id for x in route.all_stops if x.sequence < s.sequence}
        where.append(
            f"{s.bin_id} at {s.eta.astimezone(BANGKOK):%H:%M} after stop {min(len(before), firsts)}"
        )
    return [f"{route.plan.truck_id} repeat visits: {', '.join(where)}"]


_PLAN_COLUMNS = """plan_id, service_date, truck_id, waste_stream, created_at, total_distance_km,
    total_duration_s, expected_load_l, expected_load_kg, solver_name, solver_status,
    solver_objective, solver_runtime_s"""


def _plan_from_row(conn: psycopg.Connection[Any], r: Sequence[Any]) -> RoutePlanV2:
    stops = conn.execute(
        """select sequence, bin_id, eta, expected_load_l, expected_load_kg,
          distance_from_previous_km, visit, unload_after from route_stops
        where plan_id = %s order by sequence""",
        [r[0]],
    ).fetchall()
    return RoutePlanV2(
        plan_id=r[0],
        service_date=r[1],
        truck_id=r[2],
        waste_stream=WasteStream(r[3]),
        created_at=r[4].astimezone(UTC),
        stops=tuple(
            RouteVisit(
                sequence=s[0],
                bin_id=s[1],
                eta=s[2].astimezone(UTC),
                expected_load_l=s[3],
                expected_load_kg=s[4],
                distance_from_previous_km=s[5],
                visit=s[6],
                unload_after=s[7],
            )
            for s in stops
        ),
        total_distance_km=r[5],
        total_duration_s=r[6],
        expected_load_l=r[7],
        expected_load_kg=r[8],
        solver=SolverInfo(name=r[9], status=r[10], objective=r[11], runtime_s=r[12]),
    )


def read_plan(dsn: str, plan_id: str) -> RoutePlan:
    """One stored plan as ``route_plan.v1``: first visits only, renumbered (the
    ``route.plan`` that :func:`save_day` stored)."""
    return read_plan_v2(dsn, plan_id).first_visits()


def read_plan_v2(dsn: str, plan_id: str) -> RoutePlanV2:
    """One stored plan, whole (round trip of :func:`save_day` and
    :func:`~wastewatch.processors.routing.export.route_plan_v2`)."""
    try:
        with _connect(dsn) as conn:
            row = conn.execute(
                f"select {_PLAN_COLUMNS} from route_plans where plan_id = %s", [plan_id]
            ).fetchone()
            if row is None:
                raise PlanStoreError(f"no route plan {plan_id!r}")
            return _plan_from_row(conn, row)
    except psycopg.Error as exc:
        raise PlanStoreError(f"cannot read plan {plan_id}: {exc}") from exc


def latest_plans(dsn: str, service_date: date) -> list[RoutePlan]:
    """The latest plan per truck for ``service_date``, by truck id, as ``route_plan.v1``
    (first visits only)."""
    return [p.first_visits() for p in latest_plans_v2(dsn, service_date)]


def latest_plans_v2(dsn: str, service_date: date) -> list[RoutePlanV2]:
    """The latest plan per truck for ``service_date``, by truck id, whole."""
    try:
        with _connect(dsn) as conn:
            rows = conn.execute(
                f"""select distinct on (truck_id) {_PLAN_COLUMNS} from route_plans
                where service_date = %s order by truck_id, created_at desc, revision desc""",
                [service_date],
            ).fetchall()
            return [_plan_from_row(conn, r) for r in rows]
    except psycopg.Error as exc:
        raise PlanStoreError(f"cannot read plans of {service_date}: {exc}") from exc


async def _publish(kafka: KafkaSettings, plans: Sequence[RoutePlanV2], timeout_s: float) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap,
        acks="all",
        enable_idempotence=kafka.enable_idempotence,
        request_timeout_ms=kafka.request_timeout_ms,
        client_id="ww-routes",
    )
    topic = kafka.topic_prefix + "waste.routes.v2"
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
        for plan in plans:
            key = plan.truck_id.encode("utf-8")
            for topic, value in (
                (kafka.topic_prefix + "waste.routes.v2", plan),
                (kafka.topic_prefix + "waste.routes.v1", plan.first_visits()),
            ):
                await asyncio.wait_for(
                    producer.send_and_wait(topic, value.to_json_bytes(), key=key), timeout_s
                )
    except (KafkaError, TimeoutError, OSError) as exc:
        raise PlanStoreError(
            f"plans are stored but publishing to {topic} failed ({type(exc).__name__}: {exc}); "
            "publish again with `wastewatch routes publish --date D`"
        ) from exc
    finally:
        await producer.stop()


def publish_plans(kafka: KafkaSettings, plans: Sequence[RoutePlanV2], timeout_s: float = 30) -> int:
    """Send ``plans`` (after they are stored) to ``waste.routes.v2``, and their first
    visits to the deprecated ``waste.routes.v1``; returns how many plans."""
    if plans:
        asyncio.run(_publish(kafka, plans, timeout_s))
    return len(plans)


def service_window(service_date: date) -> tuple[datetime, datetime]:
    """UTC bounds of a Bangkok service day."""
    start = local_to_utc(service_date, time(0, 0))
    return start, start + timedelta(days=1)
