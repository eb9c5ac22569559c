"""`wastewatch routes plan|publish|solve-vrplib`: collection routes with PyVRP.

``plan`` reads the registry and ``bin_state`` (reader role), plans every
truck on duty for ``--date`` (Asia/Bangkok), checks the plans independently,
stores them (writer role, one transaction) and publishes them whole to
``waste.routes.v2`` and as first visits to the deprecated ``waste.routes.v1``; it
prints a summary, or with ``--json`` one JSON object as the last line.
``solve-vrplib`` runs the same solver on a CVRPLIB instance, to compare with the
published best-known costs. Errors are one line, exit 2 (a
``RoutingError``, printed by ``wastewatch.cli.main``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from wastewatch.cli.options import (
    Subparsers,
    add_action,
    add_iterations,
    add_json,
    add_seed,
    add_service_date,
    command_group,
)
from wastewatch.cli.output import print_json, print_result


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "routes", "collection route plans (PyVRP)")
    plan = add_action(
        actions,
        "plan",
        run_plan,
        "plan, store and publish the routes of one service day",
        description="Must-collect bins (will cross their threshold before the stream's next "
        "service window) are required stops; nearly full bins are optional stops worth a "
        "detour. One problem per stream; trucks unload at their landfill when full.",
    )
    add_service_date(plan, "YYYY-MM-DD")
    plan.add_argument("--seconds", type=float, default=8.0, help="solver time (default 8)")
    add_seed(plan)
    add_iterations(plan)
    plan.add_argument(
        "--matrix",
        default=None,
        metavar="CSV|URL",
        help="distance matrix CSV (from_id,to_id,distance_m[,duration_s]) or an "
        "OSRM-compatible table service URL; default: haversine x1.3",
    )
    plan.add_argument("--strict", action="store_true", help="fail if a must-collect bin misses")
    plan.add_argument("--dry-run", action="store_true", help="plan and print; store nothing")
    plan.add_argument("--no-publish", action="store_true", help="store but do not publish")
    plan.add_argument("--geojson", type=Path, default=None, metavar="FILE")
    plan.add_argument("--print", dest="print_truck", default=None, metavar="TRUCK")
    add_json(plan)

    pub = add_action(
        actions, "publish", run_publish, "publish the latest stored plans of a day again"
    )
    add_service_date(pub)

    vrp = add_action(
        actions,
        "solve-vrplib",
        run_solve_vrplib,
        "solve a CVRPLIB instance with the planner's solver",
        description="Cost counts distances rounded to the nearest integer per edge, as "
        "CVRPLIB does; routes list customers numbered as in .sol files (depot 0).",
    )
    vrp.add_argument("file", type=Path, metavar="FILE")
    vrp.add_argument("--seconds", type=float, default=10.0, help="time limit (default 10)")
    add_seed(vrp)
    add_json(vrp)


def run_solve_vrplib(args: argparse.Namespace) -> int:
    if not 0 < args.seconds <= 3600:
        args.parser.error("--seconds must be within 0..3600")
    from wastewatch.processors.routing import read_cvrp, solve_cvrp

    instance = read_cvrp(args.file)
    result = solve_cvrp(instance, seconds=args.seconds, seed=args.seed)
    out: dict[str, Any] = {
        "instance": instance.name,
        "cost": result.cost,
        "routes": result.routes,
        "vehicles": len(result.routes),
        "max_load": max(result.loads),
        "capacity": instance.capacity,
        "seconds": args.seconds,
        "seed": args.seed,
        "runtime_s": round(result.runtime_s, 3),
    }
    print_result(out, as_json=args.json, table=_solution_text)
    return 0


def _solution_text(out: dict[str, Any]) -> str:
    """As a CVRPLIB .sol file."""
    routes = [f"Route #{k}: {' '.join(map(str, r))}" for k, r in enumerate(out["routes"], start=1)]
    return "\n".join([*routes, f"Cost {out['cost']}"])


def run_plan(args: argparse.Namespace) -> int:
    from wastewatch.core import load_settings
    from wastewatch.processors.routing import (
        RoutingError,
        check_day,
        day_geojson,
        driver_sheet,
        load_day_inputs,
        plan_day,
        publish_plans,
        route_plan_v2,
        save_day,
        source_from_spec,
    )
    from wastewatch.processors.routing.problem import PlanOptions

    settings = load_settings()
    options = PlanOptions(
        seconds=args.seconds, seed=args.seed, strict=args.strict, iterations=args.iterations
    )
    published = 0
    inputs = load_day_inputs(settings.db.reader_dsn or settings.db.dsn, args.date)
    day = plan_day(inputs, options, source_from_spec(args.matrix))
    _require_feasible(check_day(day, inputs, options))
    routes = list(day.routes)
    if not args.dry_run:
        routes = save_day(settings.db.for_processors(), day)
        if not args.no_publish:
            published = publish_plans(settings.kafka, [route_plan_v2(r) for r in routes])
    places = {b.bin_id: b for b in inputs.bins}
    if args.geojson is not None:
        from wastewatch.processors.routing import Place

        lookup: dict[str, Place] = {**inputs.depots, **inputs.sites}
        lookup.update({k: Place(k, b.latitude, b.longitude) for k, b in places.items()})
        shown = type(day)(**{**_fields(day), "routes": tuple(routes)})
        args.geojson.write_text(json.dumps(day_geojson(shown, lookup), ensure_ascii=False))
    if args.print_truck:
        match = [r for r in routes if r.plan.truck_id == args.print_truck]
        if not match:
            raise RoutingError(f"no plan for truck {args.print_truck} on {args.date}")
        print(driver_sheet(match[0], {k: b.name for k, b in places.items()}))
    summary = {
        "service_date": args.date.isoformat(),
        "fill_source": day.fill_source,
        "distance_source": day.distance_source,
        "must_collect": day.must_collect,
        "optional_offered": day.optional_offered,
        "optional_taken": day.optional_taken,
        "repeat_visits": day.repeat_visits,
        "late": list(day.late),
        "missed_must_collect": list(day.missed_must_collect),
        "solve_seconds": day.solve_seconds,
        "iterations": args.iterations,
        "stored": not args.dry_run,
        "published": published,
        "notes": list(day.notes),
        "plans": [
            {
                "plan_id": r.plan.plan_id,
                "truck_id": r.plan.truck_id,
                "waste_stream": r.plan.waste_stream.value,
                "stops": len(r.plan.stops),
                "repeat_visits": len(r.repeat_visits),
                "unloads": len(r.all_unload_after) + (1 if r.plan.stops else 0),
                "total_distance_km": r.plan.total_distance_km,
                "total_duration_s": r.plan.total_duration_s,
                "expected_load_l": r.plan.expected_load_l,
                "expected_load_kg": r.plan.expected_load_kg,
            }
            for r in routes
        ],
    }
    if args.json:
        print_json(summary)
    elif not args.print_truck:
        _print_summary(summary)
    return 0


def _fields(day: Any) -> dict[str, Any]:
    return {name: getattr(day, name) for name in day.__dataclass_fields__}


def _print_summary(s: dict[str, Any]) -> None:
    print(
        f"routes for {s['service_date']}: {s['must_collect']} must-collect bins, "
        f"{s['optional_taken']}/{s['optional_offered']} optional taken "
        f"(fill from {s['fill_source']}; distances {s['distance_source']})"
    )
    for p in s["plans"]:
        print(
            f"  {p['truck_id']:<14} {p['waste_stream']:<10} {p['stops']:>4} stops "
            f"(+{p['repeat_visits']} repeat) {p['unloads']:>2} unloads "
            f"{p['total_distance_km']:>7.1f} km "
            f"{p['total_duration_s'] / 3600:>5.1f} h  {p['plan_id']}"
        )
    for note in s["notes"]:
        print(f"  note: {note}")
    state = "stored" if s["stored"] else "not stored (dry run)"
    print(f"{len(s['plans'])} plans {state}, {s['published']} published")


def _require_feasible(problems: list[str]) -> None:
    """The independent check must pass before anything is stored or published."""
    from wastewatch.processors.routing import SolverError

    if problems:
        raise SolverError(f"the plan failed its feasibility check ({len(problems)}): {problems[0]}")


def run_publish(args: argparse.Namespace) -> int:
    from wastewatch.core import load_settings
    from wastewatch.processors.routing import PlanStoreError, latest_plans_v2, publish_plans

    settings = load_settings()
    plans = latest_plans_v2(settings.db.reader_dsn or settings.db.dsn, args.date)
    n = publish_plans(settings.kafka, plans)
    if not plans:
        raise PlanStoreError(
            f"no stored plans for {args.date}",
            hint=f"run `wastewatch routes plan --date {args.date}`",
        )
    print(f"published {n} plans of {args.date}")
    return 0
