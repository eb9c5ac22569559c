"""`wastewatch eval routes`: closed-loop route plans against a fixed schedule, in simulation.

The question of issue 7: on a month of simulated Kalasin, do trucks that
follow the planner drive fewer kilometres than a fixed schedule without
letting more bins overflow? One run, in process, no services:

1. **Warm-up** (``warmup_days``, default 7): the simulator runs the city's own
   fixed rounds (``trucks.csv``) while the real forecaster learns. Every
   schedule below starts the evaluated window from this same state (same seed,
   and bins fill the same whatever the trucks do until they empty them).
2. **Closed loop** (``days``): at each local midnight the planner sees only
   what the real system would: ``bin_state`` rows made by the real collection
   detector and :class:`~wastewatch.processors.forecast.FillForecaster`, fed with the
   simulated devices' own readings (payload bytes decoded as the processors
   decode Kafka records, in the order the devices sent them: faults, buffered
   re-sends and duplicates included), the open sensor alerts of the real
   :class:`~wastewatch.processors.alerts.DeviceAlerts`, and the registry. :func:`plan_day`
   (the settings of ``wastewatch routes plan``, solver time ``seconds``) makes
   the day's plans; the simulated trucks follow them (ETAs, shift cut-off,
   unloading when 90 % full by their *actual* load) and empty the bins.
3. **Fixed schedules** ``k`` = 1..7: every bin every ``k`` service days of its
   stream. Bins are split into ``k`` compact groups (sectors around the depot,
   equal counts, per stream); each group's route is solved once with the
   planner's own model and solver (same trucks, reloads, shift, solver time per
   day) and then driven every cycle — a fixed round. Loads for that solve come
   from the forecaster's learned mean rates at the start of the window.
4. **Figures**, over the window only: km driven (haversine × 1.3, the planner's
   distance model, over the *executed* paths: depot, bins in the order emptied,
   every landfill visit the simulated truck made, home to the depot), overflow
   bin-hours (time bins spent at true fill 1.0, exact from the fill model),
   collections and the share of them made below 50 % true fill. The fixed
   schedule compared against is the largest ``k`` whose overflow is no more than
   the plan's (``k`` = 1 and ``fixed_overflow_within_plan`` false when none is).

5. **The literature's measures** (issue 20), for the plan and every ``k``: km/day,
   lifts/day, service level (share of bin-days on which the bin was never full, from the
   fill model's overflow counter at every local midnight), mean true fill when emptied,
   overflow bin-hours and landfill trips; per waste stream too (a leg's km belong to the
   stream of the bin it ends at; a leg to the landfill or home, and that unload, to the
   bin before it), printed as tables on stderr; ``vs_daily_round`` holds issue 20's
   targets against ``k`` = 1.

Bagged street waste (``unmetered_kg_per_day`` in ``trucks.csv``) is left out:
neither schedule decides about it, and the simulator spreads it over a run's
stops, so a truck left at home by a plan would make it vanish — a saving that
is not one. The km here are those of collecting the sensored bins.

The fixed runs leave the devices asleep (their fill, faults and the trucks are
simulated exactly as with them: the truth does not depend on the sensors,
``tests/test_eval_routes.py`` checks it), which makes seven of them cheap; they
run in a forked second process while the closed loop runs.

PyVRP is stopped by wall-clock time, as in production, so two runs can differ
slightly in the solver's answers and therefore in the figures.
"""

from __future__ import annotations

import heapq
import itertools
import math
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Final

from wastewatch.city import CityData, load_city
from wastewatch.processors import (
    CollectionDetector,
    DeviceAlerts,
    FillForecaster,
    decode_reading,
    from_u,
)
from wastewatch.processors.routing import (
    DEFAULT_ROAD_FACTOR,
    HaversineMatrix,
    Place,
    RoutingError,
    SolverError,
    TruckRoute,
    haversine_km,
    plan_day,
    run_solver,
    solution_routes,
)
from wastewatch.processors.routing.problem import (
    BinInput,
    Candidate,
    DayInputs,
    PlanOptions,
    TruckInput,
    access_closed,
    build_stream_problem,
    kg_per_litre,
    local_to_utc,
    stream_places,
)
from wastewatch.schema import STREAM_DENSITY_KG_PER_L, AlertKind, BinRegistration, WasteStream
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.simulators import (
    _WAKE,
    DEFAULT_CITY_DIR,
    Calendar,
    Emission,
    GroundTruth,
    PlannedRoute,
    Simulation,
    build_simulation,
    load_calendar,
)

__all__ = [
    "BinVisit",
    "Driven",
    "EvalRoutesOptions",
    "FeedState",
    "Learned",
    "ScheduleFigures",
    "ScheduleRun",
    "choose_k",
    "executed_km",
    "overflow_bin_hours",
    "run_eval_routes",
    "run_legs_km",
    "sector_slots",
    "service_day_index",
]

Progress = Callable[[str], None]
DAY_S: Final = 86_400
BANGKOK_S: Final = 7 * 3600
BELOW: Final = 0.5
"""A collection below this true fill is one a fixed schedule wastes a stop on."""
UNTRUSTED: Final = frozenset({AlertKind.SENSOR_FAULT.value, AlertKind.TIPPED_OVER.value})
"""Open alerts under which the store tells the planner a bin's level is unknown."""
GOAL_SAVING: Final = 0.30
"""Issue 7's goal: at least 30 % fewer km than the fixed schedule, at no more overflow."""
DEFAULT_START: Final = date(2026, 2, 9)
"""First evaluated day (a Monday), so that a default run is reproducible."""


@dataclass(frozen=True, slots=True)
class EvalRoutesOptions:
    """One evaluation: the window, the city size, the solver time per planned day."""

    days: int = 28
    bins: int = 500
    seed: int = 1
    seconds: float = 3.0
    """Solver wall time per planned day (``routes plan --seconds``), shared by streams."""
    iterations: int | None = None
    """Solver iterations per stream and planned day (``routes plan --iterations``), for the
    plan and the fixed rounds alike: with a budget that runs out before ``seconds``, a
    run repeats to the digit (None: ``seconds`` alone, and two runs differ)."""
    warmup_days: int = 7
    start: date = DEFAULT_START
    """First evaluated local day; the warm-up comes before it."""
    ks: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    parallel: bool = True
    planner: PlanOptions | None = None
    """The planner's settings (``seconds`` and ``seed`` from above); None: its defaults."""
    """Simulate the fixed schedules in a second process (fork) while the closed loop
    runs: the two halves take about as long as each other."""


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True, slots=True)
class BinVisit:
    """One stop of an executed run: a bin emptied or a landfill unload, in time order."""

    ts: int
    truck_id: str
    latitude: float
    longitude: float
    ref: str
    """Bin id, or the landfill site id of an unload."""
    unload: bool = False


def _leg_km(a: tuple[float, float], b: tuple[float, float], road_factor: float) -> float:
    # The planner's distance model (HaversineMatrix): great circle x road factor.
    return haversine_km(a[0], a[1], b[0], b[1]) * road_factor


def run_legs_km(
    home: tuple[float, float],
    stops: Sequence[tuple[float, float]],
    road_factor: float = DEFAULT_ROAD_FACTOR,
) -> list[float]:
    """Leg lengths of one run: home, every stop in order, home again (none for no stops)."""
    if not stops:
        return []
    path = [home, *stops, home]
    return [_leg_km(a, b, road_factor) for a, b in itertools.pairwise(path)]


def local_date(ts: int) -> date:
    """The Asia/Bangkok calendar day of an epoch second."""
    return date(1970, 1, 1) + timedelta(days=(ts + BANGKOK_S) // DAY_S)


@dataclass(frozen=True, slots=True)
class Driven:
    """Kilometres driven by a schedule's runs."""

    km: float
    haul_km: float
    """The part on legs to or from the landfill: fixed by the tonnage, not by the schedule."""
    runs: int
    """Truck-days with at least one visit."""


def executed_km(
    visits: Iterable[BinVisit],
    homes: Mapping[str, tuple[float, float]],
    road_factor: float = DEFAULT_ROAD_FACTOR,
) -> Driven:
    """Kilometres of every run: from its depot through the visits in time order, home.

    A run is a truck's visits on one local day (shifts start after 04:00 and
    last at most 10 h, so they never cross midnight); ``homes`` = each truck's depot.
    """
    runs: dict[tuple[str, date], list[BinVisit]] = defaultdict(list)
    for v in visits:
        runs[(v.truck_id, local_date(v.ts))].append(v)
    km = haul = 0.0
    for (truck, _), vs in runs.items():
        vs.sort(key=lambda v: v.ts)
        legs = run_legs_km(homes[truck], [(v.latitude, v.longitude) for v in vs], road_factor)
        km += sum(legs)
        # Leg i ends at visit i (the last leg at home) and starts at visit i - 1.
        ends = [v.unload for v in vs] + [False]
        starts = [False] + [v.unload for v in vs]
        haul += sum(leg for leg, a, b in zip(legs, starts, ends, strict=True) if a or b)
    return Driven(km=km, haul_km=haul, runs=len(runs))


def overflow_bin_hours(
    at_start: Mapping[str, int],
    at_end: Mapping[str, int],
    collected: Iterable[tuple[str, int]],
) -> float:
    """Hours bins spent full within a window, from the fill model's counters.

    Each bin's counter (``overflow_s``) counts seconds at fill 1.0 since its last
    emptying; an emptying reports it (``collections.jsonl``) and resets it. So
    the window's total is what the emptyings in the window reported, plus what
    the counters hold at its end, minus what they already held at its start
    (counted before the window, reported by the first emptying in it).
    """
    total = sum(s for _, s in collected) + sum(at_end.values()) - sum(at_start.values())
    return total / 3600.0


def choose_k(plan_overflow: float, fixed_overflow: Mapping[int, float]) -> tuple[int, bool]:
    """The largest k whose overflow is no more than the plan's; (smallest k, False) if none."""
    if not fixed_overflow:
        raise ValueError("no fixed schedule was simulated")
    within = [k for k, h in fixed_overflow.items() if h <= plan_overflow + 1e-9]
    if within:
        return max(within), True
    return min(fixed_overflow), False


def bin_day_full_s(
    daily: Sequence[Mapping[str, int]], collections: Iterable[Mapping[str, Any]], start: int
) -> dict[str, list[int]]:
    """Seconds each bin spent full on each day of the window, from the fill model's counters.

    ``daily`` holds the counters at every local midnight of the window and its end. A
    bin's counter grows while it is full and is reported and reset by an emptying, so a
    day's time full is the counter's rise over the day plus what the day's emptyings
    reported.
    """
    days = len(daily) - 1
    out = {b: [daily[i + 1][b] - daily[i][b] for i in range(days)] for b in daily[0]}
    for c in collections:
        i = (int(c["ts"]) - start) // DAY_S
        if 0 <= i < days:
            out[c["bin"]][i] += int(c["overflow_s"])
    return out


def service_level(full_s: Mapping[str, Sequence[int]]) -> float:
    """Share of bin-days with no time full (1.0 for no bin-days)."""
    cells = [s for days in full_s.values() for s in days]
    return sum(1 for s in cells if s <= 0) / len(cells) if cells else 1.0


def mean_fill(collections: Sequence[Mapping[str, Any]]) -> float:
    """Mean true fill before emptying."""
    return sum(c["fill_before"] for c in collections) / len(collections) if collections else 0.0


def leg_streams(
    visits: Iterable[BinVisit],
    homes: Mapping[str, tuple[float, float]],
    streams: Mapping[str, WasteStream],
    road_factor: float = DEFAULT_ROAD_FACTOR,
) -> tuple[dict[str, float], dict[str, int]]:
    """Kilometres and landfill unloads per stream: a leg belongs to the stream of the bin
    it ends at, a leg to the landfill or home (and that unload) to the bin before it."""
    runs: dict[tuple[str, date], list[BinVisit]] = defaultdict(list)
    for v in visits:
        runs[(v.truck_id, local_date(v.ts))].append(v)
    km: dict[str, float] = defaultdict(float)
    unloads: dict[str, int] = defaultdict(int)
    for (truck, _), vs in runs.items():
        vs.sort(key=lambda v: v.ts)
        legs = run_legs_km(homes[truck], [(v.latitude, v.longitude) for v in vs], road_factor)
        labels: list[str] = []
        first = next((streams[v.ref].value for v in vs if not v.unload), "")
        label = first
        for v in vs:
            if not v.unload:
                label = streams[v.ref].value
            else:
                unloads[label] += 1
            labels.append(label)
        labels.append(label)  # the way home
        for leg, lab in zip(legs, labels, strict=True):
            km[lab] += leg
    return dict(km), dict(unloads)


def stream_split(
    visits: Sequence[BinVisit],
    homes: Mapping[str, tuple[float, float]],
    collections: Sequence[Mapping[str, Any]],
    full_s: Mapping[str, Sequence[int]],
    streams: Mapping[str, WasteStream],
    days: int,
) -> dict[str, dict[str, float]]:
    """The measures per waste stream (km and unloads split as in :func:`leg_streams`)."""
    km, unloads = leg_streams(visits, homes, streams)
    days = max(days, 1)
    out: dict[str, dict[str, float]] = {}
    for stream in sorted({s.value for s in streams.values()}):
        mine = {b for b, s in streams.items() if s.value == stream}
        cols = [c for c in collections if c["bin"] in mine]
        full = {b: d for b, d in full_s.items() if b in mine}
        out[stream] = {
            "bins": len(mine),
            "km_per_day": round(km.get(stream, 0.0) / days, 1),
            "lifts_per_day": round(len(cols) / days, 1),
            "service_level": round(service_level(full), 4),
            "mean_fill_emptied": round(mean_fill(cols), 3),
            "overflow_bin_hours": round(sum(sum(d) for d in full.values()) / 3600, 1),
            "landfill_trips": unloads.get(stream, 0),
        }
    return out


def sector_slots(
    points: Sequence[tuple[str, float, float]], centre: tuple[float, float], k: int
) -> dict[str, int]:
    """Split points into ``k`` groups of (nearly) equal size by bearing from ``centre``.

    A fixed round covers a compact part of town each day: sectors around the
    depot, cut so that each day has the same number of bins.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    coslat = math.cos(math.radians(centre[0]))

    def bearing(p: tuple[str, float, float]) -> tuple[float, float, str]:
        dy, dx = p[1] - centre[0], (p[2] - centre[1]) * coslat
        return (math.atan2(dy, dx), dx * dx + dy * dy, p[0])

    ordered = sorted(points, key=bearing)
    n = len(ordered)
    return {p[0]: i * k // n for i, p in enumerate(ordered)} if n else {}


def service_day_index(day: date, first: date, weekdays: frozenset[int]) -> int | None:
    """How many of the stream's service days lie in ``[first, day)``; None if ``day`` is not one."""
    if day.weekday() not in weekdays or day < first:
        return None
    span = (day - first).days
    full, rest = divmod(span, 7)
    count = full * len(weekdays)
    count += sum(1 for i in range(rest) if (first + timedelta(days=i)).weekday() in weekdays)
    return count


@dataclass(frozen=True, slots=True)
class ScheduleFigures:
    """What one schedule did over the window (the JSON keys)."""

    km: float
    haul_km: float
    """Of ``km``, driven to or from the landfill (the same tonnage goes there whatever
    the schedule, so this part hardly changes)."""
    overflow_bin_hours: float
    collections: int
    share_below_50pct: float
    planned_stops: int
    skipped_stops: int
    """Planned stops the trucks did not reach before the end of their shift."""
    truck_days: int
    landfill_unloads: int
    planned_km: float
    """The plans' own distance (what the solver expected), for comparison with ``km``."""
    days: int = 0
    bins: int = 0
    service_level: float = 0.0
    """Share of bin-days on which the bin was never full (Wouda et al.'s measure)."""
    mean_fill_emptied: float = 0.0
    """Mean true fill of the bins when emptied."""
    by_stream: dict[str, dict[str, float]] = field(default_factory=dict)
    """The literature's measures per waste stream (:func:`stream_split`)."""

    def measures(self) -> dict[str, float]:
        """The measures as the literature reports them (per day over the window)."""
        days = max(self.days, 1)
        return {
            "km_per_day": round(self.km / days, 1),
            "lifts_per_day": round(self.collections / days, 1),
            "service_level": round(self.service_level, 4),
            "mean_fill_emptied": round(self.mean_fill_emptied, 3),
            "overflow_bin_hours": round(self.overflow_bin_hours, 1),
            "landfill_trips": self.landfill_unloads,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.measures(),
            "by_stream": self.by_stream,
            "km": round(self.km, 1),
            "haul_km": round(self.haul_km, 1),
            "overflow_bin_hours": round(self.overflow_bin_hours, 1),
            "collections": self.collections,
            "share_below_50pct": round(self.share_below_50pct, 4),
            "planned_stops": self.planned_stops,
            "skipped_stops": self.skipped_stops,
            "truck_days": self.truck_days,
            "landfill_unloads": self.landfill_unloads,
            "planned_km": round(self.planned_km, 1),
        }


# --------------------------------------------------------------------------- the feed


@dataclass(slots=True)
class FeedState:
    """The forecast and alert processors' per-device state, kept in memory.

    The same loop as :class:`wastewatch.processors.forecast_stage.ForecastStage` runs per
    record: the collection detector first (a detected emptying restarts the
    model's level), then the forecaster; ``bin_state`` is the model's forecast
    as of its newest reading. :class:`wastewatch.processors.alerts.DeviceAlerts` sees the
    same readings, for the open ``sensor_fault`` / ``tipped_over`` alerts the
    planner reads (offline alerts need the stage's fleet watermark; the planner
    instead treats a bin whose newest reading is stale as silent).
    """

    registry: Mapping[str, BinRegistration]
    """device id -> its bin's registry row (threshold, stream, volume)."""
    emptied_l: dict[WasteStream, float] = field(default_factory=lambda: defaultdict(float))
    """Litres of level the detector saw emptied, per stream (the ``collections`` table's
    ``volume_l``): with the weighbridge tickets, the planner's kg per litre."""
    models: dict[str, FillForecaster] = field(default_factory=dict)
    detectors: dict[str, CollectionDetector] = field(default_factory=dict)
    alerts: dict[str, DeviceAlerts] = field(default_factory=dict)
    readings: int = 0
    detected: int = 0

    def mean_rate(self, device: str) -> float:
        """The device's learned mean rate, u per hour (0 until its model is ready)."""
        model = self.models.get(device)
        return model.mean_rate if model is not None and model.ready() else 0.0

    def sensor_ok(self, device: str) -> bool:
        """No open alert that makes the device's level untrustworthy."""
        det = self.alerts.get(device)
        return det is None or not (UNTRUSTED & det.open.keys())

    def consume(self, emissions: Iterable[Emission], topics: Mapping[str, str]) -> None:
        """Feed every telemetry message (``topics``: telemetry topic -> device id)."""
        for _, topic, payload, _, _ in emissions:
            device = topics.get(topic)
            if device is None:
                continue  # status, tickets
            r = decode_reading(payload)
            if r is None or r.device_id != device:
                continue
            self.readings += 1
            model = self.models.get(device)
            if model is None:
                threshold = self.registry[device].collection_threshold
                model = self.models[device] = FillForecaster(threshold=threshold)
                self.detectors[device] = CollectionDetector(device_id=device)
                self.alerts[device] = DeviceAlerts(device_id=device)
            self.alerts[device].update(r)
            found = self.detectors[device].update(r)
            if found is not None:
                model.collected(found.ts, found.fill_after)
                self.detected += 1
                reg = self.registry[device]
                self.emptied_l[reg.waste_stream] += found.litres(float(reg.volume_l))
            model.update(r)


def bin_state_inputs(feed: FeedState, devices: Sequence[Any]) -> list[BinInput]:
    """What ``store.load_day_inputs`` would read from ``bin_state`` and ``bins``."""
    out: list[BinInput] = []
    for dev in devices:
        model = feed.models.get(dev.device_id)
        if model is None or model.last_ts == 0:
            continue  # no row in bin_state yet
        f = model.forecast()
        reg = dev.spec.reg
        by = f.collect_by if f.collect_by is not None else f.threshold_at
        out.append(
            BinInput(
                bin_id=reg.bin_id,
                latitude=reg.latitude,
                longitude=reg.longitude,
                stream=reg.waste_stream,
                volume_l=float(reg.volume_l),
                fill_level=round(f.fill, 4),
                rate_per_h=max(0.0, f.rate_per_h),
                threshold=f.threshold,
                as_of=_utc(f.as_of),
                collect_by=None if by is None else _utc(by),
                central_at=None if f.threshold_at is None else _utc(f.threshold_at),
                urgency=f.urgency,
                name=reg.name or "",
                sensor_ok=feed.sensor_ok(dev.device_id),
                refill_h=f.refill_h,
                closed=access_closed(reg.name or ""),
            )
        )
    return out


def ticket_kg(tickets: Iterable[Mapping[str, Any]]) -> dict[WasteStream, float]:
    """Weighbridge net kg per stream (a lent truck's ticket names the stream it carried)."""
    out: dict[WasteStream, float] = defaultdict(float)
    for t in tickets:
        out[WasteStream(t["stream"])] += float(t["net_kg"])
    return dict(out)


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


# --------------------------------------------------------------------------- simulation


class _Capture(GroundTruth):
    """Ground truth kept in memory: the collections and the landfill tickets."""

    def __init__(self) -> None:
        super().__init__(None)
        self.collections: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.full: list[tuple[int, str]] = []
        """(time, bin) of every true crossing of fill 1.0 (for the tests' cross-check)."""

    def crossing(self, ts: int, bin_id: str, device_id: str, threshold: float) -> None:
        if threshold >= 1.0:
            self.full.append((ts, bin_id))

    def event(self, name: str, obj: dict[str, Any]) -> None:
        if name == "collections.jsonl":
            self.collections.append(obj)
        elif name == "deliveries.jsonl":
            self.deliveries.append(obj)


@dataclass(slots=True)
class _DayPlans:
    """Plan source of the simulated trucks: routes per day; None = the city's fixed rounds."""

    by_day: dict[date, list[PlannedRoute]] = field(default_factory=dict)

    def plans_for(self, service_date: date) -> Sequence[PlannedRoute] | None:
        return self.by_day.get(service_date)


@dataclass(slots=True)
class ScheduleRun:
    """One simulated schedule: its figures and the raw material they came from."""

    name: str
    figures: ScheduleFigures
    visits: list[BinVisit]
    """Bins emptied and landfill unloads in the window (what ``km`` is driven through)."""
    collections: list[dict[str, Any]]
    """``collections.jsonl`` lines of the window."""
    planned: dict[date, list[PlannedRoute]]
    homes: dict[str, tuple[float, float]]
    overflow_at_start: dict[str, int]
    overflow_at_end: dict[str, int]
    streams: dict[str, WasteStream]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    daily_overflow: list[dict[str, int]] = field(default_factory=list)
    """Each bin's overflow counter at every local midnight of the window and at its end."""
    full_crossings: list[tuple[int, str]] = field(default_factory=list)
    """(time, bin) of every true crossing of fill 1.0 before the window's end."""
    all_collections: list[tuple[int, str]] = field(default_factory=list)
    """(time, bin) of every emptying of the run, warm-up included."""


@dataclass(frozen=True, slots=True)
class Learned:
    """What the system has learned by the window's start, for the fixed rounds' loads."""

    rates: dict[str, float]
    """Each bin's learned mean rate, u per hour (0 when not ready)."""
    kg_per_l: dict[WasteStream, float]
    """Per stream, weighbridge kg per litre of level emptied (:func:`kg_per_litre`)."""


@dataclass(slots=True)
class _World:
    """City, calendar and the window, shared by every schedule."""

    opts: EvalRoutesOptions
    city: CityData
    calendar: Calendar
    warm_start: int
    window_start: int
    window_end: int

    def new_sim(self, plans: _DayPlans, truth: _Capture) -> Simulation:
        return build_simulation(
            "eval",
            seed=self.opts.seed,
            start=self.warm_start,
            end=self.window_end,
            bins=self.opts.bins,
            data=self.city,
            calendar=self.calendar,
            plans=plans,
            truth=truth,
        )


def _world(opts: EvalRoutesOptions, city: CityData | None = None) -> _World:
    city = city or load_city([DEFAULT_CITY_DIR])
    city.check_references()
    calendar = load_calendar(DEFAULT_CITY_DIR / "calendar.json")
    # Bagged street waste is not the planner's business (see the module docstring).
    city = replace(city, unmetered_kg_per_day={})
    window_start = int(local_to_utc(opts.start, datetime.min.time()).timestamp())
    return _World(
        opts=opts,
        city=city,
        calendar=calendar,
        warm_start=window_start - opts.warmup_days * DAY_S,
        window_start=window_start,
        window_end=window_start + opts.days * DAY_S,
    )


def truck_inputs(sim: Simulation) -> tuple[TruckInput, ...]:
    """The simulated trucks (clones included) as the planner's registry rows."""
    return tuple(
        TruckInput(
            truck_id=truck_id,
            name=truck.name,
            stream=truck.waste_stream,
            capacity_l=float(truck.capacity_l),
            capacity_kg=float(truck.capacity_kg),
            depot_id=truck.depot_id,
            site_id=truck.site_id,
            shift_start=truck.shift_start,
            service_days=frozenset(d.number for d in truck.service_days),
            speed_kmh=float(truck.speed_kmh),
        )
        for truck_id, (truck, _) in sorted(sim.trucks.items())
    )


def _places(city: CityData) -> tuple[dict[str, Place], dict[str, Place]]:
    depots = {d.depot_id: Place(d.depot_id, d.latitude, d.longitude) for d in city.depots}
    sites = {s.site_id: Place(s.site_id, s.latitude, s.longitude) for s in city.sites}
    return depots, sites


def _as_planned(routes: Iterable[TruckRoute]) -> list[PlannedRoute]:
    """What the trucks follow: every stop, repeat visits included."""
    return [
        PlannedRoute(
            truck_id=r.plan.truck_id,
            waste_stream=r.plan.waste_stream,
            stops=tuple((s.bin_id, int(s.eta.timestamp())) for s in r.all_stops),
            plan_id=r.plan.plan_id,
        )
        for r in routes
        if r.plan.stops
    ]


def _drop_device_wakes(sim: Simulation) -> None:
    """Leave the sensors asleep: the true fill, faults and trucks are simulated all the same.

    Reaches into the engine's event heap (the one place this module does): the
    guard is the test that compares a run with and without the devices.
    """
    heap = sim._heap
    heap[:] = [e for e in heap if e[1] != _WAKE]
    heapq.heapify(heap)


def _advance_days(
    world: _World,
    sim: Simulation,
    before_day: Callable[[date, int], None],
    on_emissions: Callable[[list[Emission]], None] | None = None,
) -> list[dict[str, int]]:
    """Run warm-up and window; ``before_day(day, midnight)`` just before each evaluated day.

    Returns each bin's overflow counter at every local midnight of the window, its start
    and its end included (``days + 1`` snapshots).
    """
    daily: list[dict[str, int]] = []
    midnight = world.warm_start
    while midnight < world.window_end:
        midnight += DAY_S
        out = sim.advance(midnight - 1)
        if on_emissions is not None:
            on_emissions(out)
        if world.window_start <= midnight < world.window_end:
            daily.append(_overflow_counters(sim, midnight))
            before_day(local_date(midnight), midnight)
    sim.advance(world.window_end)
    daily.append(_overflow_counters(sim, world.window_end))
    return daily


def _overflow_counters(sim: Simulation, t: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for dev in sim.devices:
        dev.bring_to(t)
        out[dev.bin_id] = dev.fill.overflow_s
    return out


def _schedule_run(
    name: str,
    world: _World,
    sim: Simulation,
    truth: _Capture,
    counters: list[dict[str, int]],
    planned: dict[date, list[PlannedRoute]],
    planned_km: float,
    notes: list[str],
) -> ScheduleRun:
    """The window's figures of one simulated schedule, and what they were made from."""
    lo, hi = world.window_start, world.window_end
    cols = [c for c in truth.collections if lo <= c["ts"] < hi]
    tickets = [d for d in truth.deliveries if lo <= d["ts"] < hi]
    where = {d.bin_id: (d.spec.reg.latitude, d.spec.reg.longitude) for d in sim.devices}
    sites = {s.site_id: (s.latitude, s.longitude) for s in world.city.sites}
    depots = {d.depot_id: (d.latitude, d.longitude) for d in world.city.depots}
    homes = {tid: depots[truck.depot_id] for tid, (truck, _) in sim.trucks.items()}
    visits = [BinVisit(c["ts"], c["truck"], *where[c["bin"]], c["bin"]) for c in cols] + [
        BinVisit(d["ts"], d["truck"], *sites[d["site"]], d["site"], unload=True) for d in tickets
    ]
    driven = executed_km(visits, homes)
    stops = sum(len(r.stops) for routes in planned.values() for r in routes)
    streams = {d.bin_id: d.spec.reg.waste_stream for d in sim.devices}
    full_s = bin_day_full_s(counters, cols, lo)
    figures = ScheduleFigures(
        km=driven.km,
        haul_km=driven.haul_km,
        overflow_bin_hours=overflow_bin_hours(
            counters[0], counters[-1], ((c["bin"], int(c["overflow_s"])) for c in cols)
        ),
        collections=len(cols),
        share_below_50pct=sum(1 for c in cols if c["fill_before"] < BELOW) / len(cols)
        if cols
        else 0.0,
        planned_stops=stops,
        skipped_stops=stops - len(cols),
        truck_days=driven.runs,
        landfill_unloads=len(tickets),
        planned_km=planned_km,
        days=world.opts.days,
        bins=len(streams),
        service_level=service_level(full_s),
        mean_fill_emptied=mean_fill(cols),
        by_stream=stream_split(visits, homes, cols, full_s, streams, world.opts.days),
    )
    return ScheduleRun(
        name=name,
        figures=figures,
        visits=visits,
        collections=cols,
        planned=planned,
        homes=homes,
        overflow_at_start=counters[0],
        overflow_at_end=counters[-1],
        streams=streams,
        notes=notes,
        daily_overflow=counters,
        full_crossings=sorted(
            [(t, b) for t, b in truth.full if t < hi]
            + [
                (t, d.bin_id)
                for d in sim.devices
                for t, th in d.fill.crossings  # not yet drained (sleeping devices)
                if th >= 1.0 and t < hi
            ]
        ),
        all_collections=[(c["ts"], c["bin"]) for c in truth.collections],
    )


# --------------------------------------------------------------------------- the schedules


def run_closed_loop(
    world: _World,
    progress: Progress,
    on_window: Callable[[Learned], None] | None = None,
) -> tuple[ScheduleRun, FeedState, Learned]:
    """The planner's schedule; also returns the feed and what was learned by the start of
    the window (each bin's mean rate, kg per litre), for the fixed schedules' load
    estimates (also given to ``on_window`` as soon as they are known)."""
    opts = world.opts
    plans = _DayPlans()
    truth = _Capture()
    sim = world.new_sim(plans, truth)
    topics = {d.topic: d.device_id for d in sim.devices}
    feed = FeedState(registry={d.device_id: d.spec.reg for d in sim.devices})
    trucks = truck_inputs(sim)
    depots, sites = _places(world.city)
    options = replace(
        opts.planner or PlanOptions(),
        seconds=opts.seconds,
        seed=opts.seed,
        iterations=opts.iterations,
    )
    learned: list[Learned] = []
    stats: dict[str, float] = defaultdict(float)
    notes: list[str] = []
    started = time.monotonic()

    def before_day(day: date, midnight: int) -> None:
        kg_per_l = kg_per_litre(ticket_kg(truth.deliveries), feed.emptied_l)
        if not learned:
            rates = {d.bin_id: feed.mean_rate(d.device_id) for d in sim.devices}
            learned.append(Learned(rates=rates, kg_per_l=dict(kg_per_l)))
            if on_window is not None:
                on_window(learned[0])
        inputs = DayInputs(
            service_date=day,
            bins=tuple(bin_state_inputs(feed, sim.devices)),
            trucks=trucks,
            depots=depots,
            sites=sites,
            kg_per_l=kg_per_l,
        )
        plan = plan_day(inputs, options, created_at=_utc(midnight))
        plans.by_day[day] = _as_planned(plan.routes)
        km = sum(p.total_distance_km for p in plan.plans)
        n = sum(len(p.stops) for p in plan.plans)
        stats["planned_km"] += km
        stats["must_collect"] += plan.must_collect
        stats["optional_offered"] += plan.optional_offered
        stats["optional_taken"] += plan.optional_taken
        stats["missed_must_collect"] += len(plan.missed_must_collect)
        stats["repeat_visits"] += plan.repeat_visits
        stats["late_stops"] += len(plan.late)
        notes.extend(f"{day}: {n}" for n in plan.notes if n.startswith("WARNING"))
        i = (day - opts.start).days + 1
        progress(
            f"plan {i}/{opts.days} {day}: {n} stops ({plan.must_collect} must, "
            f"{plan.optional_taken}/{plan.optional_offered} optional), planned {km:.1f} km, "
            f"solver {plan.solve_seconds:.1f} s; {time.monotonic() - started:.0f} s"
        )

    counters = _advance_days(world, sim, before_day, lambda out: feed.consume(out, topics))
    run = _schedule_run(
        "plan", world, sim, truth, counters, plans.by_day, stats["planned_km"], notes
    )
    run.extra = {
        "must_collect": int(stats["must_collect"]),
        "optional_offered": int(stats["optional_offered"]),
        "optional_taken": int(stats["optional_taken"]),
        "missed_must_collect": int(stats["missed_must_collect"]),
        "repeat_visits": int(stats["repeat_visits"]),
        "late_stops": int(stats["late_stops"]),
        "readings": feed.readings,
    }
    return run, feed, learned[0] if learned else Learned(rates={}, kg_per_l={})


@dataclass(frozen=True, slots=True)
class _Round:
    """One truck's fixed round for one group of bins: stops with ETAs from local midnight."""

    truck_id: str
    stream: WasteStream
    stops: tuple[tuple[str, int], ...]
    planned_km: float


def _expected_fill(rate_u_per_h: float, hours: float, threshold: float) -> float:
    """Fill after ``hours`` from empty at the learned mean rate (threshold if unknown)."""
    if rate_u_per_h <= 0:
        return threshold
    return min(1.0, from_u(rate_u_per_h * hours))


def _solve_round(
    world: _World,
    trucks: Sequence[TruckInput],
    duty: Sequence[TruckInput],
    group: Sequence[BinInput],
    loads_fill: Mapping[str, float],
    day: date,
    seconds: float,
    notes: list[str],
    label: str,
    kg_per_l: Mapping[WasteStream, float],
) -> list[_Round]:
    """Route one group of bins (all required) with the planner's model and solver."""
    stream = duty[0].stream
    depots, sites = _places(world.city)
    inputs = DayInputs(service_date=day, bins=(), trucks=tuple(trucks), depots=depots, sites=sites)
    density = kg_per_l.get(stream, STREAM_DENSITY_KG_PER_L[stream])
    cands = [
        Candidate(
            bin=b,
            required=True,
            load_l=round(b.volume_l * loads_fill[b.bin_id], 1),
            load_kg=round(b.volume_l * loads_fill[b.bin_id] * density, 1),
            prize_m=0,
            crossing=None,
        )
        for b in group
    ]
    places = stream_places(inputs, duty, cands)
    matrix = HaversineMatrix().matrix(places)
    options = PlanOptions(seconds=seconds, seed=world.opts.seed)
    budget = world.opts.iterations
    problem = build_stream_problem(stream, inputs, duty, cands, places, matrix, options)
    cut = False
    try:
        run = run_solver(problem.data, seconds=seconds, seed=world.opts.seed, iterations=budget)
    except SolverError as failed:
        cut = failed.cut_by_time
        # The round does not fit a shift: keep it (a fixed round visits every bin) and
        # let the simulated trucks stop at the end of their shift, as crews would.
        notes.append(f"{label}: the round does not fit one shift; trucks stop after 10 h")
        options = replace(options, shift_s=24 * 3600 - 1)
        problem = build_stream_problem(stream, inputs, duty, cands, places, matrix, options)
        run = run_solver(problem.data, seconds=seconds, seed=world.opts.seed, iterations=budget)
    if cut or run.cut_by_time:
        notes.append(f"{label}: the time limit ended the search before {budget} iterations")
    day_start = problem.day_start
    out: list[_Round] = []
    for r in solution_routes(problem, run.solution, day_start, run.runtime_s):
        if r.plan.stops:
            out.append(
                _Round(
                    truck_id=r.plan.truck_id,
                    stream=stream,
                    stops=tuple(
                        (s.bin_id, int((s.eta - day_start).total_seconds())) for s in r.plan.stops
                    ),
                    planned_km=r.plan.total_distance_km,
                )
            )
    return out


def run_fixed(world: _World, k: int, learned: Learned, progress: Progress) -> ScheduleRun:
    """Every bin every ``k`` service days of its stream, on fixed rounds (loads from what
    the plan had learned by the window's start: the same knowledge, fixed once)."""
    rates = learned.rates
    opts = world.opts
    plans = _DayPlans()
    truth = _Capture()
    sim = world.new_sim(plans, truth)
    _drop_device_wakes(sim)
    trucks = truck_inputs(sim)
    depots, _ = _places(world.city)
    registry = [
        BinInput(
            bin_id=d.bin_id,
            latitude=d.spec.reg.latitude,
            longitude=d.spec.reg.longitude,
            stream=d.spec.reg.waste_stream,
            volume_l=float(d.spec.reg.volume_l),
            fill_level=0.0,
            rate_per_h=0.0,
            threshold=d.spec.reg.collection_threshold,
            as_of=_utc(world.window_start),
            name=d.spec.reg.name or "",
        )
        for d in sim.devices
    ]
    total = len(registry)
    streams = sorted({b.stream for b in registry})
    weekdays = {
        s: frozenset(d for t in trucks if t.stream == s for d in t.service_days) for s in streams
    }
    slots: dict[WasteStream, dict[str, int]] = {}
    loads: dict[str, float] = {}
    budget: dict[WasteStream, float] = {}
    for s in streams:
        mine = [b for b in registry if b.stream == s]
        home = next((t.depot_id for t in trucks if t.stream == s), None)
        if home is None or not weekdays[s]:
            continue
        centre = (depots[home].latitude, depots[home].longitude)
        slots[s] = sector_slots([(b.bin_id, b.latitude, b.longitude) for b in mine], centre, k)
        gap_h = k * 24.0 * 7 / len(weekdays[s])
        for b in mine:
            loads[b.bin_id] = _expected_fill(rates.get(b.bin_id, 0.0), gap_h, b.threshold)
        budget[s] = max(0.2, opts.seconds * len(mine) / total)
    cache: dict[tuple[WasteStream, int, tuple[str, ...]], list[_Round]] = {}
    notes: list[str] = []
    planned_km = 0.0

    def before_day(day: date, midnight: int) -> None:
        nonlocal planned_km
        routes: list[PlannedRoute] = []
        for s, slot_of in slots.items():
            index = service_day_index(day, opts.start, weekdays[s])
            duty = [t for t in trucks if t.stream == s and day.weekday() in t.service_days]
            if index is None or not duty:
                continue
            slot = index % k
            key = (s, slot, tuple(t.truck_id for t in duty))
            if key not in cache:
                group = [b for b in registry if slot_of.get(b.bin_id) == slot]
                label = f"fixed k={k} {s} group {slot + 1}/{k}"
                cache[key] = (
                    _solve_round(
                        world,
                        trucks,
                        duty,
                        group,
                        loads,
                        day,
                        budget[s],
                        notes,
                        label,
                        learned.kg_per_l,
                    )
                    if group
                    else []
                )
            for r in cache[key]:
                planned_km += r.planned_km
                routes.append(
                    PlannedRoute(
                        truck_id=r.truck_id,
                        waste_stream=s,
                        stops=tuple((b, midnight + off) for b, off in r.stops),
                        plan_id=f"fixed-k{k}:{day}:{r.truck_id}",
                    )
                )
        plans.by_day[day] = routes

    started = time.monotonic()
    counters = _advance_days(world, sim, before_day)
    run = _schedule_run(f"fixed-k{k}", world, sim, truth, counters, plans.by_day, planned_km, notes)
    figures = run.figures
    progress(
        f"fixed k={k}: {figures.km:.0f} km, {figures.overflow_bin_hours:.0f} overflow bin-hours, "
        f"{figures.collections} collections ({100 * figures.share_below_50pct:.0f} % below half "
        f"full), {figures.skipped_stops} stops skipped; {time.monotonic() - started:.0f} s"
    )
    return run


# --------------------------------------------------------------------------- the whole run


class _FixedInBackground:
    """The fixed schedules in a forked child, started once the warm-up is done.

    The child needs only the world and the learned rates; it sends its runs back
    through a pipe (or the error it met), and is always reaped by :meth:`stop`.
    """

    def __init__(self, world: _World, progress: Progress) -> None:
        self.world = world
        self.progress = progress
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def start(self, learned: Learned) -> None:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=self._child, args=(child, learned), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    def _child(self, conn: Connection, learned: Learned) -> None:
        try:
            runs = {k: run_fixed(self.world, k, learned, self.progress) for k in self.world.opts.ks}
            conn.send(("ok", runs))
        except Exception as exc:  # any failure is reported to the parent, which raises
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            conn.close()

    def result(self) -> dict[int, ScheduleRun]:
        if self.conn is None:
            raise BenchError("the fixed schedules were never started (no evaluated day)")
        try:
            status, payload = self.conn.recv()
        except EOFError as exc:
            raise BenchError("the process simulating the fixed schedules died") from exc
        if status != "ok":
            raise BenchError(f"simulating the fixed schedules failed: {payload}")
        runs: dict[int, ScheduleRun] = payload
        return runs

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc is not None:
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()


def run_eval_routes(
    opts: EvalRoutesOptions, progress: Progress, city: CityData | None = None
) -> tuple[dict[str, Any], dict[str, ScheduleRun]]:
    """The closed loop and every fixed k; the JSON figures and the runs behind them."""
    started = time.monotonic()
    world = _world(opts, city)
    background = _FixedInBackground(world, progress) if opts.parallel else None
    try:
        plan, _, learned = run_closed_loop(
            world, progress, background.start if background is not None else None
        )
        p = plan.figures
        progress(
            f"plan: {p.km:.0f} km, {p.overflow_bin_hours:.0f} overflow bin-hours, "
            f"{p.collections} collections ({100 * p.share_below_50pct:.0f} % below half full)"
        )
        if background is not None:
            fixed = background.result()
        else:
            fixed = {k: run_fixed(world, k, learned, progress) for k in opts.ks}
    except RoutingError as exc:
        raise BenchError(f"route planning failed: {exc}") from exc
    finally:
        if background is not None:
            background.stop()
    k, within = choose_k(
        p.overflow_bin_hours, {k: r.figures.overflow_bin_hours for k, r in fixed.items()}
    )
    f = fixed[k].figures
    saving = 1.0 - p.km / f.km if f.km > 0 else 0.0
    result: dict[str, Any] = {
        "days": opts.days,
        "bins": opts.bins,
        "seed": opts.seed,
        "seconds": opts.seconds,
        "iterations": opts.iterations,
        "start": opts.start.isoformat(),
        "warmup_days": opts.warmup_days,
        "plan": {**p.to_json(), **plan.extra},
        "fixed": {"k": k, **f.to_json()},
        "fixed_overflow_within_plan": within,
        "fixed_by_k": {
            str(kk): {
                **{
                    key: r.figures.to_json()[key]
                    for key in ("km", "overflow_bin_hours", "collections", "share_below_50pct")
                },
                **r.figures.measures(),
                "by_stream": r.figures.by_stream,
            }
            for kk, r in fixed.items()
        },
        "km_saving": round(saving, 4),
        "goal_met": saving >= GOAL_SAVING and p.overflow_bin_hours <= f.overflow_bin_hours,
        "vs_daily_round": against_daily(p, fixed[min(fixed)].figures),
        "notes": [*plan.notes[:20], *(n for r in fixed.values() for n in r.notes)],
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    if not within:
        result["notes"].append(f"every fixed k overflows more than the plan; compared with k={k}")
    for line in measures_table({"plan": p, **{f"k={kk}": r.figures for kk, r in fixed.items()}}):
        progress(line)
    for line in stream_table(p, fixed[min(fixed)].figures):
        progress(line)
    return result, {"plan": plan, **{r.name: r for r in fixed.values()}}


TARGET_KM: Final = 0.85
TARGET_OVERFLOW: Final = 0.5
TARGET_FILL: Final = 0.7
"""Issue 20's targets against the daily round: km and overflow ratios, fill when emptied."""


def against_daily(plan: ScheduleFigures, daily: ScheduleFigures) -> dict[str, Any]:
    """The plan's km and overflow as shares of the daily round's, and issue 20's targets."""
    km = plan.km / daily.km if daily.km else 0.0
    over = plan.overflow_bin_hours / daily.overflow_bin_hours if daily.overflow_bin_hours else 0.0
    return {
        "km_ratio": round(km, 4),
        "overflow_ratio": round(over, 4),
        "mean_fill_emptied": round(plan.mean_fill_emptied, 3),
        "targets_met": km <= TARGET_KM
        and over <= TARGET_OVERFLOW
        and plan.mean_fill_emptied >= TARGET_FILL,
    }


_MEASURE_ROWS: Final = (
    ("km/day", "km_per_day", "{:,.1f}"),
    ("lifts/day", "lifts_per_day", "{:,.1f}"),
    ("service level", "service_level", "{:.2%}"),
    ("mean fill emptied", "mean_fill_emptied", "{:.2f}"),
    ("overflow bin-hours", "overflow_bin_hours", "{:,.0f}"),
    ("landfill trips", "landfill_trips", "{:,}"),
)


def measures_table(columns: Mapping[str, ScheduleFigures]) -> list[str]:
    """The literature's measures, one column per schedule (plain text lines)."""
    names = list(columns)
    values = {n: f.measures() for n, f in columns.items()}
    lines = [f"{'':20}" + "".join(f"{n:>11}" for n in names)]
    for label, key, fmt in _MEASURE_ROWS:
        lines.append(f"{label:20}" + "".join(f"{fmt.format(values[n][key]):>11}" for n in names))
    return lines


def stream_table(plan: ScheduleFigures, daily: ScheduleFigures) -> list[str]:
    """Per stream, the plan against the daily round: km/day, lifts/day, service level,
    fill when emptied, overflow bin-hours, landfill trips."""
    lines = [
        f"{'stream':11}{'bins':>5}  {'km/day':>13}  {'lifts/day':>13}  {'service':>15}  "
        f"{'fill':>11}  {'overflow h':>13}  {'trips':>9}",
        f"{'':16}  {'plan / k=1':>13}  {'plan / k=1':>13}  {'plan / k=1':>15}  "
        f"{'plan / k=1':>11}  {'plan / k=1':>13}  {'plan / k=1':>9}",
    ]
    for stream, a in plan.by_stream.items():
        b = daily.by_stream.get(stream, {})
        lines.append(
            f"{stream:11}{int(a['bins']):>5}  "
            f"{a['km_per_day']:>6.1f}/{b.get('km_per_day', 0):<6.1f}  "
            f"{a['lifts_per_day']:>6.1f}/{b.get('lifts_per_day', 0):<6.1f}  "
            f"{a['service_level']:>7.2%}/{b.get('service_level', 0):<7.2%}  "
            f"{a['mean_fill_emptied']:>5.2f}/{b.get('mean_fill_emptied', 0):<5.2f}  "
            f"{a['overflow_bin_hours']:>6.0f}/{b.get('overflow_bin_hours', 0):<6.0f}  "
            f"{int(a['landfill_trips']):>4}/{int(b.get('landfill_trips', 0)):<4}"
        )
    return lines
