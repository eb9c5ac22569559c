"""Collection routes, on ``waste.routes.v1``, keyed by truck.

A plan is a whole day's tour for one truck and one stream; a re-plan is a new
plan with a new ``plan_id`` that supersedes the older one for the same truck
and date (latest ``created_at`` wins), so consumers never patch stops.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Final, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from wastewatch.schema.common import (
    BinId,
    MessageModel,
    RecordId,
    TruckId,
    UtcDatetime,
    WasteStream,
)

__all__ = ["RoutePlan", "RouteStop", "SolverInfo", "SolverStatus"]


_FIRST_STOP: Final[JsonDict] = {
    "sequence": 1,
    "bin_id": "kls-0001",
    "eta": "2026-01-01T23:40:00Z",
    "expected_load_l": 190.0,
    "expected_load_kg": 38.0,
    "distance_from_previous_km": 2.4,
}
"""The example stop, also the first of the example plan."""
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


class RoutePlan(MessageModel):
    """One truck's tour for one service date and waste stream."""

    model_config = ConfigDict(
        title="RoutePlan",
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "2026-01-02:kls-truck-03:general:1",
                    "service_date": "2026-01-02",
                    "truck_id": "kls-truck-03",
                    "waste_stream": "general",
                    "created_at": "2026-01-01T22:00:00Z",
                    "stops": [
                        _FIRST_STOP,
                        {
                            "sequence": 2,
                            "bin_id": "kls-0007",
                            "eta": "2026-01-01T23:52:00Z",
                            "expected_load_l": 210.0,
                            "expected_load_kg": 42.0,
                            "distance_from_previous_km": 1.1,
                        },
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

    @model_validator(mode="after")
    def _stops_in_order(self) -> Self:
        # Consumers render stops by position; numbering gaps or a later stop
        # with an earlier ETA mean the solver output was mangled.
        for position, stop in enumerate(self.stops, start=1):
            if stop.sequence != position:
                raise ValueError("stop sequences must be 1..n in list order")
        for earlier, later in zip(self.stops, self.stops[1:], strict=False):
            if later.eta < earlier.eta:
                raise ValueError("stop ETAs must not decrease along the route")
        if len({stop.bin_id for stop in self.stops}) != len(self.stops):
            raise ValueError("a bin appears more than once in the route")
        return self
