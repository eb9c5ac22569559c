"""One service day's plans: select bins, build a problem per stream, solve, assemble.

Pure apart from the distance source (which may call a routing service): the
database reading and writing live in :mod:`wastewatch.processors.routing.store`, so this
module runs the same in tests, the benchmark, the closed-loop evaluation and
``wastewatch routes plan``.

Every truck on duty gets a plan, possibly with no stops ("nothing due" is an
answer the driver should see, not a missing plan); a stream whose
must-collect bins cannot all be served is either an error (``strict``) or a
plan that lists the missed bins in :attr:`DayPlan.missed_must_collect` and in
its notes — never a plan that silently drops them.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pyvrp

from wastewatch.processors.routing.distances import DistanceSource, HaversineMatrix
from wastewatch.processors.routing.errors import NoFleetError, SolverError
from wastewatch.processors.routing.problem import (
    BANGKOK,
    Candidate,
    DayInputs,
    PlanOptions,
    StreamProblem,
    TruckInput,
    build_stream_problem,
    fleet_for,
    is_blind,
    lent_trucks,
    local_to_utc,
    next_window_start,
    select_candidates,
    stream_places,
    trucks_on_duty,
)
from wastewatch.processors.routing.solver import run_solver
from wastewatch.schema import RoutePlan, RouteStop, SolverInfo, SolverStatus, WasteStream

__all__ = ["DayPlan", "PlanOptions", "TruckRoute", "plan_day", "solution_routes"]

_SOLVER_NAME = f"pyvrp-{version('pyvrp')} ils"
_DEADLINE_SHARE = 0.6
"""Of a stream's solver time, the share for the plan that meets every deadline; the rest
is for the plan without deadlines when that one fails."""
_MISSED_PRIZE_M = 10_000_000
"""Prize for a must-collect bin in the fallback run: worth any detour."""


@dataclass(frozen=True, slots=True)
class TruckRoute:
    """A plan plus what the message model does not carry: where the truck unloads."""

    plan: RoutePlan
    truck: TruckInput
    unload_after: tuple[int, ...]
    """Sequences after which the truck goes to the landfill before the next stop."""
    trip_loads: tuple[tuple[float, float], ...]
    """(litres, kg) per trip, for the feasibility check and the driver sheet."""
    site_id: str
    depot_id: str
    visits: tuple[RouteStop, ...] = ()
    """Every stop in driving order when a bin is visited twice (empty otherwise: then
    ``plan.stops`` is the whole route). The published :class:`RoutePlan` names a bin once
    (its model allows no repeat), at its first visit; the repeat visits are here, in the
    GeoJSON, the driver sheet and the stored plan's notes."""
    visit_unload_after: tuple[int, ...] = ()
    """``unload_after`` in the numbering of ``visits``."""

    @property
    def all_stops(self) -> tuple[RouteStop, ...]:
        """The whole route, repeat visits included."""
        return self.visits or self.plan.stops

    @property
    def all_unload_after(self) -> tuple[int, ...]:
        return self.visit_unload_after if self.visits else self.unload_after

    @property
    def repeat_visits(self) -> tuple[RouteStop, ...]:
        """The stops at a bin already visited earlier on the route."""
        seen: set[str] = set()
        out: list[RouteStop] = []
        for s in self.all_stops:
            if s.bin_id in seen:
                out.append(s)
            seen.add(s.bin_id)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The day's plans for every truck on duty, with what the operator must know."""

    service_date: object
    routes: tuple[TruckRoute, ...]
    must_collect: int
    optional_offered: int
    optional_taken: int
    missed_must_collect: tuple[str, ...]
    fill_source: str
    distance_source: str
    solve_seconds: float
    notes: tuple[str, ...]
    late: tuple[str, ...] = ()
    """Stops planned after the bin's predicted threshold crossing ("bin HH:MM > HH:MM")."""

    @property
    def plans(self) -> tuple[RoutePlan, ...]:
        return tuple(r.plan for r in self.routes)

    @property
    def repeat_visits(self) -> int:
        """Second visits of a bin in the day, on the same truck's route or another's."""
        stops = [s.bin_id for r in self.routes for s in r.all_stops]
        return len(stops) - len(set(stops))


def _split_time(total: float, sizes: dict[WasteStream, int]) -> dict[WasteStream, float]:
    """Solver seconds per stream, by size, at least 0.2 s each."""
    n = sum(sizes.values())
    return {s: max(0.2, total * k / n) if n else 0.0 for s, k in sizes.items()}


def solution_routes(
    problem: StreamProblem,
    solution: pyvrp.Solution,
    created_at: datetime,
    runtime_s: float,
    revision: int = 1,
) -> list[TruckRoute]:
    """Turn a PyVRP solution into one :class:`TruckRoute` per truck (empty if unused)."""
    by_type: dict[int, pyvrp.Route] = {r.vehicle_type(): r for r in solution.routes()}
    out: list[TruckRoute] = []
    for vt, truck in enumerate(problem.trucks):
        route = by_type.get(vt)
        visits: list[RouteStop] = []
        unload_after: list[int] = []
        trip_loads: list[tuple[float, float]] = []
        total_m = 0
        duration = 0
        if route is not None:
            prev = problem.data.vehicle_type(vt).start_depot
            trip_l = trip_kg = 0.0
            acts = list(route)
            for pos, act in enumerate(acts):
                if act.is_client():
                    cand: Candidate = problem.candidates[act.idx]
                    loc = problem.data.client(act.idx).location
                    visits.append(
                        RouteStop(
                            sequence=len(visits) + 1,
                            bin_id=cand.bin.bin_id,
                            eta=problem.day_start + timedelta(seconds=act.start_time),
                            expected_load_l=cand.load_l,
                            expected_load_kg=cand.load_kg,
                            distance_from_previous_km=round(
                                float(problem.distance_m[prev, loc]) / 1000, 3
                            ),
                        )
                    )
                    trip_l += cand.load_l
                    trip_kg += cand.load_kg
                    prev = loc
                elif act.is_depot() and pos > 0:
                    prev = problem.data.depot(act.idx).location
                    if trip_l or trip_kg:
                        trip_loads.append((round(trip_l, 1), round(trip_kg, 1)))
                    if pos < len(acts) - 1 and visits and (trip_l or trip_kg):
                        unload_after.append(len(visits))
                    trip_l = trip_kg = 0.0
            back_m, back_s = problem.home_leg[vt]
            total_m = route.distance() + back_m
            duration = route.duration() + back_s
        stops, stop_unloads = _first_visits(visits, unload_after)
        plan = RoutePlan(
            plan_id=f"{problem.service_date.isoformat()}:{truck.truck_id}:{problem.stream.value}"
            f":{revision}",
            service_date=problem.service_date,
            truck_id=truck.truck_id,
            waste_stream=problem.stream,
            created_at=created_at,
            stops=stops,
            total_distance_km=round(total_m / 1000, 3),
            total_duration_s=int(duration),
            expected_load_l=round(sum(s.expected_load_l for s in visits), 1),
            expected_load_kg=round(sum(s.expected_load_kg for s in visits), 1),
            solver=SolverInfo(
                name=_SOLVER_NAME,
                status=SolverStatus.HEURISTIC,
                objective=round(total_m / 1000, 3),
                runtime_s=round(runtime_s, 3),
            ),
        )
        repeated = len(stops) != len(visits)
        out.append(
            TruckRoute(
                plan=plan,
                truck=truck,
                unload_after=stop_unloads,
                trip_loads=tuple(trip_loads),
                site_id=truck.site_id,
                depot_id=truck.depot_id,
                visits=tuple(visits) if repeated else (),
                visit_unload_after=tuple(unload_after) if repeated else (),
            )
        )
    return out


def _first_visits(
    visits: list[RouteStop], unload_after: list[int]
) -> tuple[tuple[RouteStop, ...], tuple[int, ...]]:
    """The stops of the message model (each bin once, at its first visit, renumbered) and
    the unload points moved onto them (after the last kept stop before each unload)."""
    seen: set[str] = set()
    kept: list[RouteStop] = []
    new_seq: dict[int, int] = {}
    for s in visits:
        if s.bin_id not in seen:
            seen.add(s.bin_id)
            kept.append(s.model_copy(update={"sequence": len(kept) + 1}))
        new_seq[s.sequence] = len(kept)
    unloads = sorted({new_seq[u] for u in unload_after if new_seq[u] < len(kept)})
    return tuple(kept), tuple(unloads)


def _late_stops(candidates: Sequence[Candidate], routes: Sequence[TruckRoute]) -> list[str]:
    """Bins whose first visit of the day comes after their predicted crossing.

    The first visit is the earliest over the whole stream: a bin visited twice may have
    its repeat on another truck, whose route may come first in ``routes`` and which
    names it as an ordinary stop, so a route's own first stop at a bin is not enough."""
    deadline = {c.bin.bin_id: c.deadline for c in candidates if c.visit == 1 and c.deadline}
    first: dict[str, datetime] = {}
    for r in routes:
        for s in r.all_stops:
            if s.bin_id in deadline and (s.bin_id not in first or s.eta < first[s.bin_id]):
                first[s.bin_id] = s.eta
    return [
        f"{b} {_hhmm(eta)} > {_hhmm(deadline[b])}"
        for b, eta in sorted(first.items(), key=lambda item: item[1])
        if eta > deadline[b]
    ]


def _hhmm(t: datetime) -> str:
    return t.astimezone(BANGKOK).strftime("%H:%M")


def plan_day(
    inputs: DayInputs,
    options: PlanOptions | None = None,
    distances: DistanceSource | None = None,
    created_at: datetime | None = None,
) -> DayPlan:
    """Plans for every truck on duty on ``inputs.service_date``.

    Streams with their own trucks on duty are planned first; a stream whose trucks do
    not work today is then served by trucks lent from another stream (:data:`LENDS`)
    that its own plan left at the depot, the whole day on the borrowed stream.
    """
    options = options or PlanOptions()
    distances = distances or HaversineMatrix()
    created_at = created_at or datetime.now(UTC)
    day = inputs.service_date
    on_duty = trucks_on_duty(inputs.trucks, day)
    notes = list(inputs.notes)
    per_stream: dict[WasteStream, tuple[list[TruckInput], list[Candidate]]] = {}
    borrowed: set[WasteStream] = set()
    must = offered = 0
    for stream in WasteStream:
        trucks = [t for t in on_duty if t.stream == stream]
        bins = [b for b in inputs.bins if b.stream == stream]
        if not trucks and options.lend_trucks and bins:
            trucks = lent_trucks(on_duty, stream)
            if trucks:
                borrowed.add(stream)
        if not trucks:
            continue
        shift_start = local_to_utc(day, min(t.shift_start for t in trucks))
        window = next_window_start(fleet_for(inputs.trucks, stream, options), day, stream)
        # A lent truck goes out only for bins that would otherwise be full by tomorrow.
        chosen = replace(options, due_fill=1.0) if stream in borrowed else options
        cands = select_candidates(
            bins,
            shift_start=shift_start,
            next_window=window,
            options=chosen,
            kg_per_l=inputs.kg_per_l,
        )
        if stream in borrowed and not any(c.required for c in cands):
            borrowed.discard(stream)
            continue  # nothing that cannot wait: no truck is lent
        per_stream[stream] = (trucks, cands)
        blind = sum(1 for c in cands if is_blind(c.bin, shift_start, options))
        if blind:
            notes.append(
                f"{stream}: {blind} bin(s) with an untrusted or silent sensor collected "
                "without waiting for their level"
            )
        must += sum(c.required for c in cands)
        offered += sum(not c.required for c in cands)
    reserved = _reserve_lent_trucks(per_stream, borrowed, options)
    idle = {b.stream for b in inputs.bins} - set(per_stream)
    for stream in sorted(idle):
        notes.append(f"no {stream} truck on duty today; its bins wait for the next service day")
    if not per_stream and inputs.bins:
        raise NoFleetError(f"no truck is on duty on {day} ({day:%A})")

    budget = _split_time(options.seconds, {s: len(c) for s, (_, c) in per_stream.items() if c})
    routes: list[TruckRoute] = []
    missed: list[str] = []
    late: list[str] = []
    started = _time.perf_counter()
    order = [s for s in per_stream if s not in borrowed] + [s for s in per_stream if s in borrowed]
    for stream in order:
        trucks, cands = per_stream[stream]
        lent = stream in borrowed
        if lent:
            busy = {r.truck.truck_id for r in routes if r.plan.stops}
            trucks = reserved.get(stream) or [t for t in trucks if t.truck_id not in busy]
            if not trucks:
                lost = [c.bin.bin_id for c in cands if c.required and c.visit == 1]
                missed.extend(lost)
                notes.append(
                    f"WARNING {stream}: no truck to lend today; {len(lost)} must-collect "
                    "bin(s) wait"
                )
                continue
        elif not cands:
            notes.append(f"{stream}: nothing due; {len(trucks)} truck(s) without stops")
            routes.extend(_empty_routes(stream, inputs, trucks, created_at))
            continue
        stream_routes = _solve_stream(
            stream,
            inputs,
            trucks,
            cands,
            options,
            distances,
            budget[stream],
            created_at,
            notes,
            missed,
            late,
        )
        if not lent:
            routes.extend(stream_routes)
            continue
        # A lent truck's plan replaces its own stream's (empty) plan for the day.
        used = {r.truck.truck_id for r in stream_routes if r.plan.stops}
        if used:
            lenders = ", ".join(sorted(used))
            notes.append(f"{stream}: served by lent truck(s) {lenders}, one stream all day")
        routes = [r for r in routes if r.truck.truck_id not in used]
        routes.extend(r for r in stream_routes if r.plan.stops)
    required = _required_lookup(per_stream)
    taken = sum(1 for r in routes for s in r.plan.stops if not required.get(s.bin_id, True))
    return DayPlan(
        service_date=day,
        routes=tuple(routes),
        must_collect=must,
        optional_offered=offered,
        optional_taken=taken,
        missed_must_collect=tuple(missed),
        fill_source=inputs.fill_source,
        distance_source=distances.name,
        solve_seconds=round(_time.perf_counter() - started, 3),
        notes=tuple(notes),
        late=tuple(late),
    )


def _reserve_lent_trucks(
    per_stream: dict[WasteStream, tuple[list[TruckInput], list[Candidate]]],
    borrowed: set[WasteStream],
    options: PlanOptions,
) -> dict[WasteStream, list[TruckInput]]:
    """With ``options.reserve_lent``: one truck per borrowing stream taken from a lending
    stream that keeps at least one truck of its own (the last by id), before either is
    solved; the lender's plan is then made without it."""
    out: dict[WasteStream, list[TruckInput]] = {}
    if not options.reserve_lent:
        return out
    for stream in sorted(borrowed):
        lent_ids = {t.truck_id for t in per_stream[stream][0]}
        for lender, (own, cands) in per_stream.items():
            if lender in borrowed or len(own) < 2:
                continue
            pick = next((t for t in reversed(own) if t.truck_id in lent_ids), None)
            if pick is None:
                continue
            per_stream[lender] = ([t for t in own if t is not pick], cands)
            out[stream] = [replace(pick, stream=stream)]
            break
    return out


def _solve_stream(
    stream: WasteStream,
    inputs: DayInputs,
    trucks: list[TruckInput],
    cands: list[Candidate],
    options: PlanOptions,
    distances: DistanceSource,
    seconds: float,
    created_at: datetime,
    notes: list[str],
    missed: list[str],
    late: list[str],
) -> list[TruckRoute]:
    """One stream's routes; what could not be planned goes to ``notes``/``missed``/``late``."""
    places = stream_places(inputs, trucks, cands)
    matrix = distances.matrix(places)
    problem = build_stream_problem(stream, inputs, trucks, cands, places, matrix, options)
    # With deadlines, part of the time is kept for a second try without them.
    share = _DEADLINE_SHARE if any(c.deadline for c in cands) else 1.0
    first = seconds * share
    budget = options.iterations
    first_budget = None if budget is None else max(1, round(budget * share))
    cut = False  # a failed try that the clock, not the budget, ended
    try:
        try:
            run = run_solver(
                problem.data, seconds=first, seed=options.seed, iterations=first_budget
            )
        except SolverError as failed:
            cut = failed.cut_by_time
            if not any(c.deadline for c in cands):
                raise
            # The deadlines cannot all be met: plan without them (access hours and repeat
            # visits kept); the stops that come late are listed as a warning.
            loose = [
                replace(c, tw_early_s=c.loose_window[0], tw_late_s=c.loose_window[1]) for c in cands
            ]
            problem = build_stream_problem(stream, inputs, trucks, loose, places, matrix, options)
            run = run_solver(
                problem.data,
                seconds=seconds - first,
                seed=options.seed,
                iterations=None if budget is None else max(1, budget - (first_budget or 0)),
            )
            notes.append(f"{stream}: the forecast's deadlines cannot all be met")
    except SolverError as exc:
        cut = cut or exc.cut_by_time
        if options.strict:
            raise SolverError(
                f"{stream}: {sum(c.required for c in cands)} must-collect bins do not fit "
                f"{len(trucks)} truck(s): {exc}"
            ) from exc
        relaxed = [
            replace(
                c,
                required=False,
                prize_m=_MISSED_PRIZE_M if c.required else c.prize_m,
                tw_early_s=c.loose_window[0],
                tw_late_s=c.loose_window[1],
            )
            for c in cands
        ]
        problem = build_stream_problem(stream, inputs, trucks, relaxed, places, matrix, options)
        run = run_solver(
            problem.data,
            seconds=seconds,
            seed=options.seed,
            initial=pyvrp.Solution(problem.data, []),
            iterations=budget,
        )
        problem = replace(problem, candidates=tuple(cands))
        notes.append(f"{stream}: must-collect bins exceed the fleet's capacity or shift")
    if cut or run.cut_by_time:  # the run kept, or a try that failed before it
        notes.append(
            f"{stream}: the solver's time limit ({seconds:.1f} s) ended a search before its "
            f"{budget} iterations; a re-plan of the same inputs may differ"
        )
    stream_routes = solution_routes(problem, run.solution, created_at, run.runtime_s)
    served = Counter(s.bin_id for r in stream_routes for s in r.all_stops)
    lost = [
        c.bin.bin_id if c.visit == 1 else f"{c.bin.bin_id} (visit {c.visit})"
        for c in cands
        if c.required and served[c.bin.bin_id] < c.visit
    ]
    repeats = sum(n - 1 for n in served.values() if n > 1)
    if repeats:
        notes.append(f"{stream}: {repeats} bin(s) that refill within the shift visited twice")
    stream_late = _late_stops(problem.candidates, stream_routes)
    if stream_late:
        late.extend(stream_late)
        notes.append(
            f"WARNING {stream}: {len(stream_late)} bin(s) reached after their predicted "
            f"threshold crossing ({', '.join(stream_late[:10])}"
            f"{', ...' if len(stream_late) > 10 else ''})"
        )
    if lost:
        missed.extend(lost)
        notes.append(
            f"WARNING {stream}: {len(lost)} must-collect bin(s) not planned "
            f"({', '.join(lost[:10])}{', ...' if len(lost) > 10 else ''})"
        )
    return stream_routes


def _required_lookup(
    per_stream: dict[WasteStream, tuple[list[TruckInput], list[Candidate]]],
) -> dict[str, bool]:
    return {c.bin.bin_id: c.required for _, cands in per_stream.values() for c in cands}


def _empty_routes(
    stream: WasteStream, inputs: DayInputs, trucks: list[TruckInput], created_at: datetime
) -> list[TruckRoute]:
    return [
        TruckRoute(
            plan=RoutePlan(
                plan_id=f"{inputs.service_date.isoformat()}:{t.truck_id}:{stream.value}:1",
                service_date=inputs.service_date,
                truck_id=t.truck_id,
                waste_stream=stream,
                created_at=created_at,
                stops=(),
                total_distance_km=0.0,
                total_duration_s=0,
                expected_load_l=0.0,
                expected_load_kg=0.0,
                solver=SolverInfo(
                    name=_SOLVER_NAME, status=SolverStatus.OPTIMAL, objective=0.0, runtime_s=0.0
                ),
            ),
            truck=t,
            unload_after=(),
            trip_loads=(),
            site_id=t.site_id,
            depot_id=t.depot_id,
        )
        for t in trucks
    ]
