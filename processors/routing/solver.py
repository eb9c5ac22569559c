"""PyVRP behind one function, and the plain-CVRP check against CVRPLIB.

:func:`run_solver` is the only place that calls PyVRP: a wall-clock limit and
a seed (so a re-plan with the same inputs gives the same plan), and a result
that is either feasible or a :class:`SolverError` — the caller never gets a
silently infeasible or empty solution. The planner and ``routes solve-vrplib``
share it, so the benchmark figures describe the solver the city actually runs.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvrp
import vrplib  # no stubs (pyproject ignores its missing types); used at one boundary
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from wastewatch.processors.routing.errors import InstanceError, SolverError

__all__ = [
    "CvrpInstance",
    "CvrpSolution",
    "SolverRun",
    "read_cvrp",
    "route_load",
    "run_solver",
    "solve_cvrp",
]


@dataclass(frozen=True, slots=True)
class SolverRun:
    """The best solution found and how long it took."""

    solution: pyvrp.Solution
    runtime_s: float
    iterations: int
    budget: int | None = None
    """The iteration budget asked for (None: time only)."""

    @property
    def cut_by_time(self) -> bool:
        """True when an iteration budget was asked for and the time limit ended the search
        first: the result then depends on the machine's speed, not only on the inputs."""
        return self.budget is not None and self.iterations < self.budget


def run_solver(
    data: pyvrp.ProblemData,
    *,
    seconds: float,
    seed: int,
    initial: pyvrp.Solution | None = None,
    iterations: int | None = None,
) -> SolverRun:
    """Solve ``data`` for ``seconds`` with ``seed``; raise unless the best is feasible.

    ``iterations``: stop after this many iterations of the search, or at ``seconds``,
    whichever comes first (:attr:`SolverRun.cut_by_time` tells which).

    ``initial``: a feasible start (e.g. the empty solution when every stop is
    optional) guarantees a feasible answer, because the search only ever
    replaces its best with a cheaper *feasible* solution.

    PyVRP's iterated local search (0.14) keeps the best feasible solution it
    has seen; an infeasible best after the time limit means the instance
    cannot be served as stated (capacity, shift), which the caller must hear
    about rather than receive a partial plan.
    """
    if seconds <= 0:
        raise SolverError("the solver needs a positive time limit")
    if iterations is not None and iterations < 1:
        raise SolverError("the solver needs a positive iteration budget")
    stop: StoppingCriterion = MaxRuntime(seconds)
    if iterations is not None:
        stop = MultipleCriteria([MaxIterations(iterations), MaxRuntime(seconds)])
    started = time.perf_counter()
    try:
        result = pyvrp.solve(
            data,
            stop=stop,
            seed=seed,
            display=False,
            collect_stats=False,
            initial_solution=initial,
        )
    except (ValueError, RuntimeError) as exc:
        raise SolverError(f"PyVRP rejected the problem: {exc}") from exc
    elapsed = time.perf_counter() - started
    best = result.best
    if not best.is_feasible():
        reasons = []
        if best.has_excess_load():
            reasons.append(f"excess load {best.excess_load()}")
        if best.has_time_warp():
            reasons.append(f"{best.time_warp()} s over shift or time windows")
        if not best.is_complete():
            reasons.append(f"{best.num_missing_clients()} required stops left out")
        cut = iterations is not None and result.num_iterations < iterations
        within = (
            f"{seconds:g} s"
            if iterations is None
            else f"{result.num_iterations} iterations" + (f" (cut at {seconds:g} s)" if cut else "")
        )
        raise SolverError(
            f"no feasible plan within {within} ({'; '.join(reasons) or 'constraints violated'})",
            cut_by_time=cut,
        )
    return SolverRun(
        solution=best, runtime_s=elapsed, iterations=result.num_iterations, budget=iterations
    )


def route_load(route: pyvrp.Route, data: pyvrp.ProblemData) -> list[int]:
    """Largest load per dimension carried on any trip of ``route`` (pickup + delivery)."""
    dims = data.num_load_dimensions
    worst = [0] * dims
    trip = [0] * dims
    for act in route:
        if act.is_depot():
            worst = [max(w, t) for w, t in zip(worst, trip, strict=True)]
            trip = [0] * dims
        elif act.is_client():
            client = data.client(act.idx)
            for d in range(dims):
                trip[d] += (client.delivery[d] if client.delivery else 0) + (
                    client.pickup[d] if client.pickup else 0
                )
    return [max(w, t) for w, t in zip(worst, trip, strict=True)]


@dataclass(frozen=True, slots=True)
class CvrpInstance:
    """A CVRPLIB instance as read: the file's nodes 1..n are indices 0..n-1 here."""

    name: str
    capacity: int
    demands: list[int]
    distance: np.ndarray[Any, np.dtype[np.int64]]
    coords: list[tuple[float, float]]

    @property
    def num_nodes(self) -> int:
        return len(self.demands)

    def to_problem(self) -> pyvrp.ProblemData:
        """One depot (node 0), a client per other node, as many vehicles as clients."""
        n = self.num_nodes
        return pyvrp.ProblemData(
            locations=[pyvrp.Location(x, y) for x, y in self.coords],
            clients=[pyvrp.Client(location=i, delivery=[self.demands[i]]) for i in range(1, n)],
            depots=[pyvrp.Depot(location=0)],
            vehicle_types=[pyvrp.VehicleType(num_available=n - 1, capacity=[self.capacity])],
            distance_matrices=[self.distance],
            duration_matrices=[self.distance],
        )


@dataclass(frozen=True, slots=True)
class CvrpSolution:
    """Cost as CVRPLIB counts it and routes numbered as in its ``.sol`` files."""

    cost: int
    routes: list[list[int]]
    loads: list[int]
    runtime_s: float


def read_cvrp(path: Path) -> CvrpInstance:
    """Read a CVRPLIB (VRPLIB format) file; distances rounded to the nearest integer per edge."""
    if not path.is_file():
        raise InstanceError(f"{path}: no such file")
    try:
        raw = vrplib.read_instance(str(path))
    except Exception as exc:  # vrplib raises bare ValueError/KeyError/IndexError on bad text
        raise InstanceError(f"{path}: not a VRPLIB instance ({type(exc).__name__}: {exc})") from exc
    missing = [k for k in ("dimension", "capacity", "demand", "edge_weight") if k not in raw]
    if missing:
        raise InstanceError(f"{path}: not a CVRP instance, it lacks {', '.join(missing)}")
    depots = np.atleast_1d(raw.get("depot", np.array([0])))
    if depots.size != 1 or int(depots[0]) != 0:
        raise InstanceError(f"{path}: only single-depot instances with the depot as node 1")
    weights = np.asarray(raw["edge_weight"], dtype=np.float64)
    n = int(raw["dimension"])
    demands = [int(d) for d in np.asarray(raw["demand"]).reshape(-1)]
    if weights.shape != (n, n) or len(demands) != n or n < 2:
        raise InstanceError(f"{path}: DIMENSION {n} disagrees with the data sections")
    capacity = int(raw["capacity"])
    if capacity <= 0 or max(demands) > capacity:
        raise InstanceError(f"{path}: a demand exceeds the vehicle capacity {capacity}")
    # CVRPLIB's nint(): floor(x + 0.5), edge by edge, before any summing.
    distance = np.floor(weights + 0.5).astype(np.int64)
    coords_raw = raw.get("node_coord")
    coords = (
        [(float(x), float(y)) for x, y in np.asarray(coords_raw)]
        if coords_raw is not None
        else [(0.0, 0.0)] * n
    )
    return CvrpInstance(
        name=str(raw.get("name", path.stem)),
        capacity=capacity,
        demands=demands,
        distance=distance,
        coords=coords,
    )


def solve_cvrp(instance: CvrpInstance, *, seconds: float, seed: int = 1) -> CvrpSolution:
    """Solve as a plain CVRP with the planner's solver settings; re-check cost and loads."""
    data = instance.to_problem()
    run = run_solver(data, seconds=seconds, seed=seed)
    routes: list[list[int]] = []
    loads: list[int] = []
    cost = 0
    for route in run.solution.routes():
        nodes = [data.client(a.idx).location for a in route if a.is_client()]
        if not nodes:
            continue
        path = [0, *nodes, 0]
        cost += int(sum(instance.distance[a, b] for a, b in itertools.pairwise(path)))
        load = sum(instance.demands[k] for k in nodes)
        if load > instance.capacity:
            raise SolverError(f"route {len(routes) + 1} carries {load} > {instance.capacity}")
        routes.append(nodes)
        loads.append(load)
    visited = sorted(k for r in routes for k in r)
    if visited != list(range(1, instance.num_nodes)):
        raise SolverError("the solution does not visit every customer exactly once")
    if not math.isclose(cost, run.solution.distance()):
        raise SolverError(f"cost check failed: {cost} != solver's {run.solution.distance()}")
    return CvrpSolution(cost=cost, routes=routes, loads=loads, runtime_s=run.runtime_s)
