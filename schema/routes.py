"""Collection routes, on ``waste.routes.v2`` (and ``waste.routes.v1``), keyed by truck.

A plan is a whole day's tour for one truck and one stream; a re-plan is a new
plan with a new ``plan_id`` that supersedes the older one for the same truck
and date (latest ``created_at`` wins), so consumers never patch stops.

:class:`RoutePlanV2` (``route_plan.v2``) is the whole route: a bin that refills
within the shift (a market bin) may be visited twice, and each stop says whether
the truck unloads at its landfill after it. :class:`RoutePlan` (``route_plan.v1``)
names each bin once and has no unload points; published models never change in
place, so v1 stays as it was, deprecated, and is still published as the v2 plan's
first visits (:meth:`RoutePlanV2.first_visits`) for its existing consumers.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Final, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict, JsonValue

from wastewatch.schema.common import (
    BinId,
    MessageModel,
    RecordId,
    TruckId,
    UtcDatetime,
    WasteStream,
)

__all__ = [
    "MAX_VISITS",
    "RoutePlan",
    "RoutePlanV2",
    "RouteStop",
    "RouteVisit",
    "SolverInfo",
    "SolverStatus",
]

MAX_VISITS: Final = 2
"""Visits of one bin on one route at most: a first, and a repeat once it refilled."""


_FIRST_STOP: Final[JsonDict] = {
    "sequence": 1,
    "bin_id": "kls-0001",
    "eta": "2026-01-01T23:40:00Z",
    "expected_load_l": 190.0,
    "expected_load_kg": 38.0,
    "distance_from_previous_km": 2.4,
}
"""The example stop, also the first of the example plan."""
_SECOND_STOP: Final[JsonDict] = {
    "sequence": 2,
    "bin_id": "kls-0007",
    "eta": "2026-01-01T23:52:00Z",
    "expected_load_l": 210.0,
    "expected_load_kg": 42.0,
    "distance_from_previous_km": 1.1,
}
"""The example plans' second stop."""
_PLAN_HEADER: Final[JsonDict] = {
    "plan_id": "2026-01-02:kls-truck-03:general:1",
    "service_date": "2026-01-02",
    "truck_id": "kls-truck-03",
    "waste_stream": "general",
    "created_at": "2026-01-01T22:00:00Z",
}
"""Whose tour, which day: the example plans of both versions."""
_PLAN_SOLVER: Final[JsonDict] = {
    "name": "nearest-neighbour+2opt",
    "status": "heuristic",
    "objective": 12.9,
    "runtime_s": 0.41,
}
"""The example plan's solver."""


class SolverStatus(StrEnum):
    """How good the solver claims the plan is; shown beside the route."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    HEURISTIC = "heuristic"
    FALLBACK = "fallback"


class RouteStop(MessageModel):
    """One bin to empty, in visiting order."""

    model_config = ConfigDict(
        title="RouteStop",
        json_schema_extra={"examples": [_FIRST_STOP]},
    )

    sequence: int = Field(ge=1, le=10_000, description="1-based visiting order.", examples=[1])
    bin_id: BinId = Field(description="Bin to empty.", examples=["kls-0001"])
    eta: UtcDatetime = Field(
        description="Planned arrival time, UTC.", examples=["2026-01-01T23:40:00Z"]
    )
    expected_load_l: float = Field(
        ge=0.0, description="Forecast volume to pick up at this stop, litres.", examples=[190.0]
    )
    expected_load_kg: float = Field(
        ge=0.0, description="Forecast mass to pick up at this stop, kilograms.", examples=[38.0]
    )
    distance_from_previous_km: float = Field(
        ge=0.0,
        description="Road distance from the previous stop (or the depot), kilometres.",
        examples=[2.4],
    )


class SolverInfo(MessageModel):
    """Which solver made the plan and how hard it worked, for auditing re-plans."""

    model_config = ConfigDict(
        title="SolverInfo",
        json_schema_extra={
            "examples": [
                {
                    "name": "nearest-neighbour+2opt",
                    "status": "heuristic",
                    "objective": 38.2,
                    "runtime_s": 0.41,
                }
            ]
        },
    )

    name: str = Field(
        min_length=1,
        max_length=64,
        description="Solver name and variant.",
        examples=["nearest-neighbour+2opt"],
    )
    status: SolverStatus = Field(description="Quality claim.", examples=["heuristic"])
    objective: float = Field(
        ge=0.0, description="Objective value reached (total km unless noted).", examples=[38.2]
    )
    runtime_s: float = Field(
        ge=0.0, description="Wall time the solver used, seconds.", examples=[0.41]
    )


class _Tour(MessageModel):
    """What every version of a route plan says: whose tour, on which day, its stops and
    totals (each version declares its own stops and checks them)."""

    plan_id: RecordId = Field(
        description="Unique plan id; by convention '<date>:<truck>:<stream>:<revision>'.",
        examples=["2026-01-02:kls-truck-03:general:1"],
    )
    service_date: date = Field(
        description="Local (Asia/Bangkok) date the route is driven.", examples=["2026-01-02"]
    )
    truck_id: TruckId = Field(description="Truck that drives it.", examples=["kls-truck-03"])
    waste_stream: WasteStream = Field(
        description="Stream collected on this tour.", examples=["general"]
    )
    created_at: UtcDatetime = Field(
        description="When the plan was made, UTC; the latest plan per truck and date wins.",
        examples=["2026-01-01T22:00:00Z"],
    )
    stops: tuple[RouteStop, ...] = Field(
        description="Stops in visiting order; may be empty when nothing is due.",
        examples=[[]],
    )
    total_distance_km: float = Field(
        ge=0.0, description="Depot to depot via landfill, kilometres.", examples=[12.9]
    )
    total_duration_s: int = Field(
        ge=0, description="Planned driving plus service time, seconds.", examples=[5400]
    )
    expected_load_l: float = Field(
        ge=0.0, description="Sum of the stops' expected litres.", examples=[400.0]
    )
    expected_load_kg: float = Field(
        ge=0.0, description="Sum of the stops' expected kilograms.", examples=[80.0]
    )
    solver: SolverInfo = Field(
        description="Solver that made the plan.",
        examples=[_PLAN_SOLVER],
    )

    def _check_order(self) -> None:
        # Consumers render stops by position; numbering gaps or a later stop
        # with an earlier ETA mean the solver output was mangled.
        for position, stop in enumerate(self.stops, start=1):
            if stop.sequence != position:
                raise ValueError("stop sequences must be 1..n in list order")
        for earlier, later in zip(self.stops, self.stops[1:], strict=False):
            if later.eta < earlier.eta:
                raise ValueError("stop ETAs must not decrease along the route")


class RoutePlan(_Tour):
    """One truck's tour for one service date and waste stream."""

    model_config = ConfigDict(
        title="RoutePlan",
        json_schema_extra={
            "examples": [
                {
                    **_PLAN_HEADER,
                    "stops": [
                        _FIRST_STOP,
                        _SECOND_STOP,
                    ],
                    "total_distance_km": 12.9,
                    "total_duration_s": 5400,
                    "expected_load_l": 400.0,
                    "expected_load_kg": 80.0,
                    "solver": _PLAN_SOLVER,
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _stops_in_order(self) -> Self:
        self._check_order()
        if len({stop.bin_id for stop in self.stops}) != len(self.stops):
            raise ValueError("a bin appears more than once in the route")
        return self


_REPEAT_STOPS: Final[list[JsonValue]] = [
    {**_FIRST_STOP, "bin_id": "kls-0012", "visit": 1, "unload_after": False},
    {**_SECOND_STOP, "visit": 1, "unload_after": True},
    {
        "sequence": 3,
        "bin_id": "kls-0012",
        "eta": "2026-01-02T08:10:00Z",
        "expected_load_l": 150.0,
        "expected_load_kg": 30.0,
        "distance_from_previous_km": 9.6,
        "visit": 2,
        "unload_after": False,
    },
]
"""The v2 example: a market bin (kls-0012) emptied early and again in the afternoon, an
unload at the landfill between the trips."""


class RouteVisit(RouteStop):
    """One stop of a ``route_plan.v2``: a bin to empty, which visit of it, and whether the
    truck unloads afterwards."""

    model_config = ConfigDict(
        title="RouteVisit",
        json_schema_extra={"examples": [_REPEAT_STOPS[2]]},
    )

    visit: int = Field(
        default=1,
        ge=1,
        le=MAX_VISITS,
        description="1 for the bin's first visit on this route, 2 for the repeat visit the "
        "same truck makes after the bin refilled (market bins). Numbered per route: a bin "
        "another truck also visits that day is visit 1 on each route.",
        examples=[2],
    )
    unload_after: bool = Field(
        default=False,
        description="The truck drives to its landfill and unloads after this stop, before "
        "the next one (multi-trip routes). The unload after the last stop, which ends "
        "every route, is not flagged.",
        examples=[False],
    )


class RoutePlanV2(_Tour):
    """One truck's whole tour for one service date and waste stream, repeat visits and
    unload points included (``route_plan.v2`` on ``waste.routes.v2``)."""

    model_config = ConfigDict(
        title="RoutePlanV2",
        json_schema_extra={
            "examples": [
                {
                    **_PLAN_HEADER,
                    "stops": _REPEAT_STOPS,
                    "total_distance_km": 31.4,
                    "total_duration_s": 32400,
                    "expected_load_l": 550.0,
                    "expected_load_kg": 110.0,
                    "solver": {**_PLAN_SOLVER, "objective": 31.4},
                }
            ]
        },
    )

    plan_id: RecordId = Field(
        description="Unique plan id; by convention '<date>:<truck>:<stream>:<revision>'. "
        "The same id as the plan's first-visits copy on waste.routes.v1.",
        examples=["2026-01-02:kls-truck-03:general:1"],
    )
    stops: tuple[RouteVisit, ...] = Field(
        description="Every stop in visiting order, repeat visits included; may be empty "
        "when nothing is due. A bin appears at most twice, its visits numbered 1 then 2.",
        examples=[[]],
    )

    @model_validator(mode="after")
    def _stops_in_order(self) -> Self:
        # As v1 (positions, ETAs), and a bin's k-th appearance must say visit k: a
        # duplicate that does not number its visits is a mangled route, not a repeat.
        self._check_order()
        seen: dict[str, int] = {}
        for stop in self.stops:
            n = seen[stop.bin_id] = seen.get(stop.bin_id, 0) + 1
            if n > MAX_VISITS:
                raise ValueError(
                    f"bin {stop.bin_id} appears {n} times in the route (at most {MAX_VISITS})"
                )
            if stop.visit != n:
                raise ValueError(
                    f"bin {stop.bin_id}: stop {stop.sequence} is its appearance {n} in the "
                    f"route but says visit {stop.visit} (visits are numbered 1, 2 in order)"
                )
        return self

    def first_visits(self) -> RoutePlan:
        """The ``route_plan.v1`` form: each bin once, at its first visit, renumbered 1..n;
        no unload points (v1 has no field for them). Totals are the whole route's."""
        firsts = [s for s in self.stops if s.visit == 1]
        return RoutePlan(
            **self.model_dump(exclude={"stops"}),
            stops=tuple(
                RouteStop(**{**s.model_dump(exclude={"visit", "unload_after"}), "sequence": n})
                for n, s in enumerate(firsts, start=1)
            ),
        )
