"""Collection route planning with PyVRP: which bins, in what order, by which truck.

Pure planning (``problem``, ``planner``, ``check``, ``export``) is kept apart
from the edges (``store`` for the database and Kafka, ``distances`` for an
optional routing service); see README.md in this folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.processors.routing.check import check_day
    from wastewatch.processors.routing.distances import (
        DEFAULT_ROAD_FACTOR,
        HaversineMatrix,
        Place,
        haversine_km,
        source_from_spec,
    )
    from wastewatch.processors.routing.errors import PlanStoreError, RoutingError, SolverError
    from wastewatch.processors.routing.export import day_geojson, driver_sheet, route_plan_v2
    from wastewatch.processors.routing.planner import TruckRoute, plan_day, solution_routes
    from wastewatch.processors.routing.problem import (
        BinInput,
        Candidate,
        DayInputs,
        TruckInput,
        access_closed,
        build_stream_problem,
        local_to_utc,
        stream_places,
    )
    from wastewatch.processors.routing.solver import read_cvrp, run_solver, solve_cvrp
    from wastewatch.processors.routing.store import (
        latest_plans,
        latest_plans_v2,
        load_day_inputs,
        publish_plans,
        read_plan,
        read_plan_v2,
        save_day,
    )
    from wastewatch.processors.routing.synthetic import kalasin_day

__all__ = [
    "DEFAULT_ROAD_FACTOR",
    "BinInput",
    "Candidate",
    "DayInputs",
    "HaversineMatrix",
    "Place",
    "PlanStoreError",
    "RoutingError",
    "SolverError",
    "TruckInput",
    "TruckRoute",
    "access_closed",
    "build_stream_problem",
    "check_day",
    "day_geojson",
    "driver_sheet",
    "haversine_km",
    "kalasin_day",
    "latest_plans",
    "latest_plans_v2",
    "load_day_inputs",
    "local_to_utc",
    "plan_day",
    "publish_plans",
    "read_cvrp",
    "read_plan",
    "read_plan_v2",
    "route_plan_v2",
    "run_solver",
    "save_day",
    "solution_routes",
    "solve_cvrp",
    "source_from_spec",
    "stream_places",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
