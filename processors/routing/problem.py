"""Which bins to collect on a service day, and the PyVRP problem for one stream (pure).

The day's question is not "visit every bin" but "which bins must be emptied
before the trucks come round again, and which others are worth taking while a
truck passes by":

* **must collect**: the bin is overflowing or urgent, or its predicted
  threshold crossing (``collect_by`` from ``bin_state``, else a linear
  extrapolation) falls before the start of the stream's *next* service window
  (the next day a truck of its stream is on duty). These are required stops.
* **optional** (prize-collecting): the bin would cross before the window after
  that and is already at least ``optional_min_fill`` full at shift start. Its
  prize, in metres of detour, grows with how full it will be by the next
  window, so the solver takes it only when it is nearly on the way.
* **blind** bins are must-collect every service day: the alerts processor has an
  open ``sensor_fault`` (e.g. a stuck transducer) or ``tipped_over`` alert for
  the device, or its newest reading is older than ``stale_after_h`` at shift
  start. Their level is unknown, so they are served as a fixed round would serve
  them rather than trusted to a frozen or missing reading.

Streams never mix: each stream is its own problem with only that stream's
trucks. A truck leaves its depot at shift start, empties bins, unloads at its
landfill whenever the next bin would overfill it (PyVRP reload depots, so any
number of trips), unloads a last time at the end, and drives home; the whole
shift, the drive home included, must fit ``shift_s``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pyvrp

from wastewatch.processors.routing.distances import IntMatrix, Matrix, Place
from wastewatch.processors.routing.errors import InstanceError
from wastewatch.schema import STREAM_DENSITY_KG_PER_L, WasteStream

__all__ = [
    "BANGKOK",
    "LENDS",
    "BinInput",
    "Candidate",
    "DayInputs",
    "PlanOptions",
    "StreamProblem",
    "TruckInput",
    "access_closed",
    "build_stream_problem",
    "due_crossing",
    "fleet_for",
    "is_blind",
    "kg_per_litre",
    "lent_trucks",
    "local_to_utc",
    "next_window_start",
    "predicted_crossing",
    "refill_hours",
    "select_candidates",
    "service_s",
    "stream_places",
    "trucks_on_duty",
]

BANGKOK: Final = ZoneInfo("Asia/Bangkok")
URGENT: Final = frozenset({"overflowing", "urgent"})


MARKET_CLOSED_S: Final = (7 * 3600, 10 * 3600)
"""Assumed access hours of a market: trucks may not stop in its lanes from 07:00 to
10:00 local time (morning trading, when stalls and shoppers fill the lanes). The city
registry has no access-hours column; a bin is at a market when its name says so
(``ตลาด`` / "market", as the Kalasin registry names them)."""
_MARKET_WORDS: Final = ("ตลาด", "market")


def access_closed(name: str) -> tuple[int, int] | None:
    """Local seconds [from, to) in which a truck may not stop at the bin named ``name``."""
    low = name.lower()
    return MARKET_CLOSED_S if any(w in low for w in _MARKET_WORDS) else None


_NO_LATE: Final = int(np.iinfo(np.int64).max)

MIN_LEARNED_L: Final = 20_000.0
"""Litres of detected emptyings a stream needs before its weighbridge ratio is trusted
(about a truckload: fewer, and one odd ticket would move the estimate too far)."""
LEARNED_BOUNDS: Final = (0.5, 2.0)
"""A learned ratio is kept within these multiples of the loose bulk density."""


def kg_per_litre(
    net_kg: Mapping[WasteStream, float], emptied_l: Mapping[WasteStream, float]
) -> dict[WasteStream, float]:
    """Kilograms per litre of bin level, per stream: weighbridge net kg over the litres
    the collection detector saw emptied in the same period.

    Why not the loose bulk density: a bin's level is of settled waste, so a litre of
    level holds more than a loose litre (the simulator's compaction makes it 10-15 %
    more), and a truck planned at the loose density reaches its weight limit before
    the planned unload and drives an extra landfill trip. Bagged street waste on the
    same tickets raises the ratio too, which is right for the truck's capacity. A
    stream with fewer than :data:`MIN_LEARNED_L` litres is left out (default density).
    """
    out: dict[WasteStream, float] = {}
    lo, hi = LEARNED_BOUNDS
    for stream, litres in emptied_l.items():
        kg = net_kg.get(stream, 0.0)
        if litres < MIN_LEARNED_L or kg <= 0:
            continue
        loose = STREAM_DENSITY_KG_PER_L[stream]
        out[stream] = round(min(hi * loose, max(lo * loose, kg / litres)), 4)
    return out


def service_s(volume_l: float) -> int:
    """Time at one bin: a wheelie bin is tipped by hand, a larger one by the lift."""
    return 60 if volume_l <= 240 else 120


def local_to_utc(day: date, at: time) -> datetime:
    """A Bangkok wall-clock time on ``day`` as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=BANGKOK).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Knobs of one planning run; defaults match how Kalasin runs its trucks."""

    seconds: float = 8.0
    """Solver wall time for the whole day, shared among streams by their size."""
    seed: int = 1
    iterations: int | None = None
    """Search iterations per stream (None: ``seconds`` alone decides). With a budget the
    plan depends only on the inputs and ``seed``, not on how busy the machine is, as long
    as the budget runs out before the stream's share of ``seconds`` (the day's notes say
    when it does not). With deadlines, 60 % of it goes to the plan that meets them all."""
    shift_s: int = 10 * 3600
    unload_s: int = 15 * 60
    """Weighbridge, tipping and back on the road, per landfill visit."""
    usable_capacity_share: float = 0.9
    """Crews unload at 90 % full (room for bagged street waste and estimate error)."""
    optional_min_fill: float = 0.5
    """Never propose an optional bin below this fill at shift start: emptying
    half-empty bins is what a fixed schedule wastes trips on."""
    optional_prize_m: int = 2_000
    """Detour (metres) worth taking for an optional bin that will be at its
    threshold by the next window; scaled down for emptier bins."""
    load_horizon_h: float = 3.0
    """Loads are estimated at shift start plus this, a mid-shift guess."""
    strict: bool = False
    """True: a day whose must-collect bins cannot all fit is an error. False:
    plan as many as fit and list the missed ones loudly."""
    stale_after_h: float = 12.0
    """A bin whose newest reading is older than this at shift start is blind (its
    device is silent: offline, dead battery) and collected every service day."""
    repeat_refill_h: float = 18.0
    """A must-collect bin that refills from empty to its threshold in less than this
    (market bins) is visited twice in the shift: early, and again late."""
    first_visit_h: float = 4.0
    """A twice-visited bin's first visit is within this of shift start (the night's
    waste is waiting)."""
    second_visit_after_h: float = 8.0
    """... and its second visit no earlier than this after shift start."""
    min_lead_s: int = 3600
    """A latest service time from the forecast is never earlier than shift start plus
    this (a bin due sooner cannot be reached in time by every truck; the plan says which
    bins it reaches after their predicted crossing)."""
    access_windows: bool = True
    """Honour the access hours of bins at markets (:data:`MARKET_CLOSED_S`)."""
    early_band: bool = False
    """Plan on the forecast's early band (``collect_by``); False: on its central crossing
    where known (the deadlines then guard the bins that cross during the shift)."""
    due_fill: float | None = 1.0
    """The fill at which a bin is due (None: its own threshold). Above the threshold, the
    crossing of this level is extrapolated from the threshold crossing at the bin's
    refill rate, and only an overflowing (not merely urgent) bin is due regardless."""
    wait_h: float = 0.0
    """A bin due less than this after the next window's start is still collected today
    (0: due before the next window starts); later ones wait for a deadline tomorrow."""
    lend_trucks: bool = True
    """On a day a stream's own trucks do not work, lend it trucks another stream's plan
    leaves at the depot (:data:`LENDS`)."""
    reserve_lent: bool = True
    """Lend a truck before the lending stream is planned (it keeps at least one), rather
    than only a truck its plan leaves at the depot."""


@dataclass(frozen=True, slots=True)
class BinInput:
    """What the planner knows about one bin on the planning morning."""

    bin_id: str
    latitude: float
    longitude: float
    stream: WasteStream
    volume_l: float
    fill_level: float
    rate_per_h: float
    """Rise of the fill level, fraction per hour (0 when unknown)."""
    threshold: float
    as_of: datetime
    collect_by: datetime | None = None
    """From bin_state; None: extrapolate from fill_level and rate_per_h."""
    urgency: str | None = None
    name: str = ""
    sensor_ok: bool = True
    """False while the device has an open ``sensor_fault`` or ``tipped_over`` alert:
    its level cannot be trusted (a stuck sensor reports the same level forever)."""
    central_at: datetime | None = None
    """The forecast's central threshold crossing (``threshold_at``) beside ``collect_by``,
    its early band; used with ``PlanOptions.early_band`` False."""
    refill_h: float | None = None
    """Hours from empty to the threshold at the forecast's usual rate (None: threshold
    over ``rate_per_h``)."""
    closed: tuple[int, int] | None = None
    """Local seconds of the day [from, to) in which trucks may not stop at the bin (a
    market's trading hours, :func:`access_closed`)."""


@dataclass(frozen=True, slots=True)
class TruckInput:
    """A truck as the planner sees it (from the ``trucks`` registry table)."""

    truck_id: str
    name: str
    stream: WasteStream
    capacity_l: float
    capacity_kg: float
    depot_id: str
    site_id: str
    shift_start: time
    service_days: frozenset[int]
    """Monday = 0."""
    speed_kmh: float = 18.0


@dataclass(frozen=True, slots=True)
class DayInputs:
    """Everything one day's plan is made from; built by the store or a test."""

    service_date: date
    bins: tuple[BinInput, ...]
    trucks: tuple[TruckInput, ...]
    depots: dict[str, Place]
    sites: dict[str, Place]
    fill_source: str = "bin_state"
    notes: tuple[str, ...] = ()
    kg_per_l: Mapping[WasteStream, float] = field(default_factory=dict)
    """Kilograms per litre of bin level per stream, learned from the weighbridge
    (:func:`kg_per_litre`); a stream missing here uses the loose bulk density."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A bin selected for the day, with its expected load and prize."""

    bin: BinInput
    required: bool
    load_l: float
    load_kg: float
    prize_m: int
    crossing: datetime | None
    visit: int = 1
    """1, or 2 for the second visit of a bin that refills within the shift."""
    tw_early_s: int = 0
    """Earliest service start, seconds from local midnight of the service day."""
    tw_late_s: int | None = None
    """Latest service start (None: the truck's shift)."""
    deadline: datetime | None = None
    """The predicted threshold crossing when it falls in the shift: the stop should
    come before it (the plan lists the stops that do not)."""
    loose_window: tuple[int, int | None] = (0, None)
    """(early, late) without the deadline: what the planner falls back to when the
    deadlines cannot all be met (the late stops are then listed)."""


LENDS: Final[dict[WasteStream, frozenset[WasteStream]]] = {
    WasteStream.GENERAL: frozenset({WasteStream.RECYCLABLE}),
}
"""Which other stream a truck of a stream may serve, on a day that stream's own trucks do
not work. Assumption (the registry has no column for it): a general-waste compactor that
has been tipped empty can carry recyclables for a day without spoiling them for the
landfill's sorting line; organic and hazardous trucks serve only their own stream."""


def lent_trucks(trucks: Sequence[TruckInput], stream: WasteStream) -> list[TruckInput]:
    """``trucks`` that may serve ``stream`` for a day, relabelled with that stream."""
    return [
        replace(t, stream=stream)
        for t in trucks
        if t.stream != stream and stream in LENDS.get(t.stream, frozenset())
    ]


def fleet_for(
    trucks: Sequence[TruckInput], stream: WasteStream, options: PlanOptions
) -> list[TruckInput]:
    """The trucks that can serve ``stream`` on some day: its own, and lent ones on the
    days its own do not work (for :func:`next_window_start`)."""
    own = [t for t in trucks if t.stream == stream]
    if not options.lend_trucks:
        return own
    own_days = frozenset(d for t in own for d in t.service_days)
    lent = [
        replace(t, service_days=t.service_days - own_days)
        for t in lent_trucks(trucks, stream)
        if t.service_days - own_days
    ]
    return own + lent


def trucks_on_duty(trucks: Sequence[TruckInput], day: date) -> list[TruckInput]:
    """Trucks whose crew works on ``day`` (Bangkok weekday)."""
    return [t for t in trucks if day.weekday() in t.service_days]


def next_window_start(trucks: Sequence[TruckInput], day: date, stream: WasteStream) -> datetime:
    """Shift start of the next day after ``day`` on which a truck of ``stream`` works.

    With no such day in the coming week the stream is not served at all; the
    window is then a week away, which makes everything due within a week a
    must-collect today.
    """
    own = [t for t in trucks if t.stream == stream]
    for ahead in range(1, 8):
        d = day + timedelta(days=ahead)
        working = [t for t in own if d.weekday() in t.service_days]
        if working:
            return local_to_utc(d, min(t.shift_start for t in working))
    return local_to_utc(day + timedelta(days=7), time(0, 0))


def predicted_crossing(b: BinInput) -> datetime | None:
    """When ``b`` reaches its threshold: ``collect_by`` if known, else a straight line."""
    if b.collect_by is not None:
        return b.collect_by
    if b.fill_level >= b.threshold:
        return b.as_of
    if b.rate_per_h <= 0:
        return None
    return b.as_of + timedelta(hours=(b.threshold - b.fill_level) / b.rate_per_h)


def due_crossing(b: BinInput, level: float | None, early_band: bool = True) -> datetime | None:
    """When ``b`` reaches ``level`` (None or at most its threshold: the threshold crossing).

    Above the threshold: from the threshold crossing (or now, when past it) at the rate
    that fills the bin from empty to its threshold in :func:`refill_hours` (settling makes
    the real rise near the top slower, so this errs early)."""
    at = predicted_crossing(b)
    if not early_band and b.central_at is not None:
        at = b.central_at
    if level is None or level <= b.threshold or at is None:
        return at
    if b.fill_level >= level:
        return b.as_of
    refill = refill_hours(b)
    if math.isinf(refill):
        return None
    start, base = (b.as_of, b.fill_level) if b.fill_level >= b.threshold else (at, b.threshold)
    return max(start, b.as_of) + timedelta(hours=(level - base) / b.threshold * refill)


def is_blind(b: BinInput, shift_start: datetime, options: PlanOptions) -> bool:
    """True when the bin's level is unknown: an untrusted sensor, or a silent one."""
    return not b.sensor_ok or shift_start - b.as_of > timedelta(hours=options.stale_after_h)


def _fill_at(b: BinInput, at: datetime) -> float:
    hours = max(0.0, (at - b.as_of).total_seconds() / 3600)
    return min(1.0, max(0.0, b.fill_level + b.rate_per_h * hours))


def refill_hours(b: BinInput) -> float:
    """Hours from empty to the threshold (inf when the bin does not fill)."""
    if b.refill_h is not None:
        return b.refill_h
    return b.threshold / b.rate_per_h if b.rate_per_h > 0 else math.inf


def _open_piece(
    lo: int, hi: int, closed: tuple[int, int] | None, late: bool, min_len: int = 1800
) -> tuple[int, int]:
    """The part of [lo, hi] outside ``closed``: the earlier piece, or the later one when
    ``late`` (or when the preferred one is shorter than ``min_len``)."""
    if closed is None or hi <= closed[0] or lo >= closed[1]:
        return lo, hi
    before = (lo, min(hi, closed[0]))
    after = (max(lo, closed[1]), hi)
    pieces = [after, before] if late else [before, after]
    for a, b in pieces:
        if b - a >= min_len:
            return a, b
    # Nothing long enough: the access hours win, the deadline is missed (and reported).
    return closed[1], max(hi, closed[1] + min_len)


def select_candidates(
    bins: Sequence[BinInput],
    *,
    shift_start: datetime,
    next_window: datetime,
    options: PlanOptions,
    shift_end: datetime | None = None,
    kg_per_l: Mapping[WasteStream, float] | None = None,
) -> list[Candidate]:
    """Must-collect and optional bins of one stream, with loads at mid-shift.

    A must-collect bin predicted to cross its threshold during the shift gets a latest
    service time (its ``deadline``); one that refills within ``repeat_refill_h`` gets a
    second candidate, visited late in the shift; market bins are not served in the
    market's trading hours. Times are seconds from local midnight (the solver's clock).
    Loads in kg use ``kg_per_l`` (learned, :func:`kg_per_litre`), else the loose density.
    """
    density = {**STREAM_DENSITY_KG_PER_L, **(kg_per_l or {})}
    shift_end = shift_end or shift_start + timedelta(seconds=options.shift_s)
    midnight = datetime.combine(shift_start.astimezone(BANGKOK).date(), time(0, 0), BANGKOK)

    def secs(t: datetime) -> int:
        return int((t - midnight).total_seconds())

    s0, s1 = secs(shift_start), secs(shift_end)
    after_next = next_window + (next_window - shift_start)
    load_at = shift_start + timedelta(hours=options.load_horizon_h)
    out: list[Candidate] = []
    for b in bins:
        crossing = due_crossing(b, options.due_fill, options.early_band)
        blind = is_blind(b, shift_start, options)
        alarm = URGENT if options.due_fill is None else frozenset({"overflowing"})
        urgent = b.urgency in alarm or blind
        wait = timedelta(hours=options.wait_h)
        required = urgent or (crossing is not None and crossing <= next_window + wait)
        if not required:
            if crossing is None or crossing > after_next:
                continue
            if _fill_at(b, shift_start) < options.optional_min_fill:
                continue
        fill = max(_fill_at(b, load_at), b.threshold if urgent else 0.0)
        litres = b.volume_l * fill
        prize = 0
        if not required:
            share = min(1.0, _fill_at(b, next_window) / b.threshold)
            prize = max(1, round(options.optional_prize_m * share))
        closed = b.closed if options.access_windows else None
        deadline = None
        late = s1
        due_level = max(b.threshold, options.due_fill or 0.0)
        ahead = not urgent and b.fill_level < due_level  # the crossing is still to come
        if required and ahead and crossing is not None and shift_start < crossing < shift_end:
            deadline = crossing
            late = max(secs(crossing), s0 + options.min_lead_s)
        refill = refill_hours(b)
        repeat = required and not blind and refill <= options.repeat_refill_h
        firm = s1
        if repeat:
            firm = s0 + round(options.first_visit_h * 3600)
            late = min(late, firm)
        early, late = _open_piece(s0, late, closed, late=False)
        early = 0 if early <= s0 else early
        late = min(late, s1)
        loose = (early, late)
        if deadline is not None:
            lo, hi = _open_piece(s0, firm, closed, late=False)
            loose = (0 if lo <= s0 else lo, min(hi, s1))
        second: tuple[int, int] | None = None
        if repeat:
            early2 = max(s0 + round(options.second_visit_after_h * 3600), late + 3600)
            if early2 <= s1 - 3600:
                second = _open_piece(early2, s1, closed, late=True)
        first = Candidate(
            bin=b,
            required=required,
            load_l=round(litres, 1),
            load_kg=round(litres * density[b.stream], 1),
            prize_m=prize,
            crossing=crossing,
            tw_early_s=early,
            tw_late_s=None if late >= s1 else late,
            deadline=deadline,
            loose_window=(loose[0], None if loose[1] >= s1 else loose[1]),
        )
        out.append(first)
        if second is not None:
            # What refills between the two visits (midpoints of their windows).
            gap_h = max(0.0, ((second[0] + second[1]) - (max(early, s0) + late)) / 2 / 3600)
            litres2 = b.volume_l * min(1.0, b.threshold * gap_h / refill)
            out.append(
                replace(
                    first,
                    visit=2,
                    load_l=round(litres2, 1),
                    load_kg=round(litres2 * density[b.stream], 1),
                    tw_early_s=second[0],
                    tw_late_s=None if second[1] >= s1 else second[1],
                    deadline=None,
                    loose_window=(second[0], None if second[1] >= s1 else second[1]),
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class StreamProblem:
    """One stream's PyVRP instance and the maps back to bins, trucks and places."""

    stream: WasteStream
    service_date: date
    day_start: datetime
    """UTC instant of local midnight: solver time 0."""
    data: pyvrp.ProblemData
    candidates: tuple[Candidate, ...]
    """Client i of ``data`` is ``candidates[i]``."""
    trucks: tuple[TruckInput, ...]
    """Vehicle type i of ``data`` is ``trucks[i]``."""
    places: tuple[Place, ...]
    """Location i of ``data``; depots first, then landfill sites, then bins."""
    distance_m: IntMatrix
    durations_s: tuple[IntMatrix, ...]
    """Per vehicle type (its profile)."""
    home_leg: tuple[tuple[int, int], ...]
    """Per vehicle type: (metres, seconds) from its landfill back to its depot."""
    unload_s: int
    service_s: tuple[int, ...] = field(default=())


def _durations(matrix: Matrix, speed_kmh: float) -> IntMatrix:
    if matrix.duration_s is not None:
        return matrix.duration_s
    seconds: IntMatrix = np.ceil(matrix.distance_m * (3.6 / speed_kmh)).astype(np.int64)
    return seconds


def build_stream_problem(
    stream: WasteStream,
    inputs: DayInputs,
    trucks: Sequence[TruckInput],
    candidates: Sequence[Candidate],
    places: Sequence[Place],
    matrix_for: Matrix,
    options: PlanOptions,
) -> StreamProblem:
    """The PyVRP model: depots = home depots then landfills (reload points), one
    vehicle type per truck (own capacity, speed profile, shift), one client per bin.

    ``places`` must be :func:`stream_places` of the same trucks and candidates
    and ``matrix_for`` the distance source's matrix over them (the planner does
    that I/O between the two pure calls).
    """
    if not trucks:
        raise InstanceError(f"no {stream} truck on duty on {inputs.service_date}")
    dist = matrix_for.distance_m
    if dist.shape != (len(places), len(places)):
        raise InstanceError("the distance matrix does not match the places")
    depot_ids = sorted({t.depot_id for t in trucks})
    site_ids = sorted({t.site_id for t in trucks})
    n_depots = len(depot_ids) + len(site_ids)
    depot_idx = {d: i for i, d in enumerate(depot_ids)}
    site_idx = {s: len(depot_ids) + i for i, s in enumerate(site_ids)}

    speeds = sorted({t.speed_kmh for t in trucks}) if matrix_for.duration_s is None else [0.0]
    profile_of = {s: i for i, s in enumerate(speeds)}
    dur_by_profile = [_durations(matrix_for, s if s else 1.0) for s in speeds]

    day_start = local_to_utc(inputs.service_date, time(0, 0))
    vehicle_types: list[pyvrp.VehicleType] = []
    per_truck_dur: list[IntMatrix] = []
    home_leg: list[tuple[int, int]] = []
    for t in trucks:
        prof = profile_of[t.speed_kmh] if matrix_for.duration_s is None else 0
        dur = dur_by_profile[prof]
        per_truck_dur.append(dur)
        back_m = int(dist[site_idx[t.site_id], depot_idx[t.depot_id]])
        back_s = int(dur[site_idx[t.site_id], depot_idx[t.depot_id]])
        home_leg.append((back_m, back_s))
        start = t.shift_start.hour * 3600 + t.shift_start.minute * 60 + t.shift_start.second
        usable = options.shift_s - back_s
        if usable <= 0:
            raise InstanceError(f"truck {t.truck_id}: the drive home alone exceeds the shift")
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=1,
                capacity=[
                    math.floor(t.capacity_l * options.usable_capacity_share),
                    math.floor(t.capacity_kg * options.usable_capacity_share),
                ],
                start_depot=depot_idx[t.depot_id],
                end_depot=site_idx[t.site_id],
                # The drive home is not part of the route the solver sees; as the
                # truck's fixed cost it still counts, so the objective is the whole
                # distance and a lighter day is done with fewer trucks.
                fixed_cost=back_m,
                tw_early=start,
                tw_late=start + usable,
                start_late=start,
                shift_duration=usable,
                reload_depots=[site_idx[t.site_id]],
                profile=prof,
                name=t.truck_id,
            )
        )
    depots = [pyvrp.Depot(location=i, name=d) for i, d in enumerate(depot_ids)] + [
        pyvrp.Depot(location=len(depot_ids) + i, service_duration=options.unload_s, name=s)
        for i, s in enumerate(site_ids)
    ]
    clients = []
    services = []
    for k, c in enumerate(candidates):
        svc = service_s(c.bin.volume_l)
        services.append(svc)
        if all(c.load_l > vt.capacity[0] or c.load_kg > vt.capacity[1] for vt in vehicle_types):
            raise InstanceError(f"bin {c.bin.bin_id} holds more than any truck takes")
        clients.append(
            pyvrp.Client(
                location=n_depots + k,
                pickup=[math.ceil(c.load_l), math.ceil(c.load_kg)],
                service_duration=svc,
                tw_early=c.tw_early_s,
                tw_late=c.tw_late_s if c.tw_late_s is not None else _NO_LATE,
                prize=c.prize_m,
                required=c.required,
                name=c.bin.bin_id if c.visit == 1 else f"{c.bin.bin_id}#{c.visit}",
            )
        )
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(p.longitude, p.latitude, name=p.place_id) for p in places],
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=[dist] * len(dur_by_profile),  # type: ignore[list-item]
        duration_matrices=dur_by_profile,  # type: ignore[arg-type]
    )
    return StreamProblem(
        stream=stream,
        service_date=inputs.service_date,
        day_start=day_start,
        data=data,
        candidates=tuple(candidates),
        trucks=tuple(trucks),
        places=tuple(places),
        distance_m=dist,
        durations_s=tuple(per_truck_dur),
        home_leg=tuple(home_leg),
        unload_s=options.unload_s,
        service_s=tuple(services),
    )


def stream_places(
    inputs: DayInputs, trucks: Sequence[TruckInput], candidates: Sequence[Candidate]
) -> list[Place]:
    """Location order of a stream problem: home depots, landfill sites, bins."""
    try:
        depots = [inputs.depots[d] for d in sorted({t.depot_id for t in trucks})]
        sites = [inputs.sites[s] for s in sorted({t.site_id for t in trucks})]
    except KeyError as exc:
        raise InstanceError(f"a truck refers to unknown depot or site {exc}") from exc
    bins = [Place(c.bin.bin_id, c.bin.latitude, c.bin.longitude) for c in candidates]
    return [*depots, *sites, *bins]
