"""Trucks: who empties which bin when, and the loads they weigh in at the landfill.

Pure. Each service day (Asia/Bangkok) every truck runs either

* the **latest route plan** for that day, when a :class:`PlanSource` returns
  plans (the closed loop with the route planner: the planner writes plans, the
  simulated trucks follow them, the readings show the result), or
* the **fixed schedule** from the registry otherwise: on its service days, from
  ``shift_start``, every bin of its stream in its zones, in nearest-neighbour
  order from the depot (computed once).

A truck drives at its ``speed_kmh`` over straight-line distance times
:data:`ROAD_FACTOR`, spends :func:`service_s` at each bin, never arrives before a
plan's ETA (it waits), unloads at its landfill site whenever it is 90 % full by
volume or mass (a weighbridge ticket), and ends its shift after
:data:`SHIFT_S` (stops not reached are skipped). Bagged waste from streets
without sensored bins (``unmetered_kg_per_day`` in ``trucks.csv``) is picked up
evenly along the route, so the landfill sees the whole town's tonnage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Protocol

from wastewatch.schema import STREAM_DENSITY_KG_PER_L, Truck, WasteStream

__all__ = [
    "FULL_SHARE",
    "ROAD_FACTOR",
    "SHIFT_S",
    "UNLOAD_S",
    "PlanSource",
    "PlannedRoute",
    "StaticPlans",
    "TruckRun",
    "haversine_km",
    "nearest_neighbour_order",
    "service_s",
    "travel_s",
]

ROAD_FACTOR: Final = 1.3
"""Road distance over straight-line distance in a grid-like Thai town (assumption)."""
SHIFT_S: Final = 10 * 3600
UNLOAD_S: Final = 15 * 60
"""Weighbridge, tipping and the way back onto the road."""
FULL_SHARE: Final = 0.9


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12_742.0 * math.asin(min(1.0, math.sqrt(h)))


def travel_s(a: tuple[float, float], b: tuple[float, float], speed_kmh: float) -> int:
    """Driving time between two points, whole seconds."""
    return math.ceil(haversine_km(*a, *b) * ROAD_FACTOR / speed_kmh * 3600)


def service_s(volume_l: float) -> int:
    """Time at one bin: a wheelie bin is tipped by hand, a large one by the lift."""
    return 60 if volume_l <= 240 else 120


def nearest_neighbour_order(
    start: tuple[float, float], points: Sequence[tuple[float, float]]
) -> list[int]:
    """Indexes of ``points`` in greedy nearest-neighbour order from ``start``.

    A stand-in for the city's real rounds: good enough to give plausible
    travel times; the route planner does better.
    """
    left = list(range(len(points)))
    order: list[int] = []
    here = start
    coslat = math.cos(math.radians(start[0]))
    while left:
        best = min(
            left,
            key=lambda i: (points[i][0] - here[0]) ** 2 + ((points[i][1] - here[1]) * coslat) ** 2,
        )
        order.append(best)
        left.remove(best)
        here = points[best]
    return order


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    """The part of a route plan the trucks follow: which bins, in which order, by when."""

    truck_id: str
    waste_stream: WasteStream
    stops: tuple[tuple[str, int], ...]
    """(bin_id, ETA as epoch seconds), in visiting order."""
    plan_id: str = ""


class PlanSource(Protocol):
    """Where the latest route plans come from (the database, or a test's fake)."""

    def plans_for(self, service_date: date) -> Sequence[PlannedRoute] | None:
        """The latest plan per truck for the day, or None to use the fixed schedule."""
        ...


@dataclass(frozen=True, slots=True)
class StaticPlans:
    """Plans given up front, e.g. from a file or a test."""

    plans: dict[date, tuple[PlannedRoute, ...]]

    def plans_for(self, service_date: date) -> Sequence[PlannedRoute] | None:
        return self.plans.get(service_date)


@dataclass(slots=True)
class TruckRun:
    """One truck's shift on one day: the stops left, what it carries, where it is."""

    truck: Truck
    truck_id: str
    service_day: int
    stops: list[tuple[int, int]]
    """(bin index, not before epoch second), in visiting order."""
    depot: tuple[float, float]
    site: tuple[float, float]
    shift_end: int
    source: str
    unmetered_kg_per_stop: float
    here: tuple[float, float] = (0.0, 0.0)
    next_stop: int = 0
    load_l: float = 0.0
    load_kg: float = 0.0
    load_unmetered_kg: float = 0.0
    trips: int = 0
    collected: int = 0

    def pick_up(self, litres: float, kg: float) -> None:
        """Add a bin's content plus this stop's share of the unmetered bags."""
        density = STREAM_DENSITY_KG_PER_L[self.truck.waste_stream]
        extra_kg = self.unmetered_kg_per_stop
        self.load_l += litres + extra_kg / density
        self.load_kg += kg + extra_kg
        self.load_unmetered_kg += extra_kg
        self.collected += 1

    def unload(self) -> None:
        self.load_l = self.load_kg = self.load_unmetered_kg = 0.0
        self.trips += 1

    @property
    def nearly_full(self) -> bool:
        return (
            self.load_l >= FULL_SHARE * self.truck.capacity_l
            or self.load_kg >= FULL_SHARE * self.truck.capacity_kg
        )
