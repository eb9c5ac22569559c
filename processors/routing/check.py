"""An independent feasibility check of a day's plans (pure).

It re-derives everything from the plans themselves — stops, expected loads,
unload points, durations — rather than trusting the solver's own accounting,
so a bug in the problem building (a wrong capacity unit, a lost reload) shows
up as a named violation. A bin may appear twice in a day (a repeat visit) only
when its own forecast says it refills within ``repeat_refill_h`` and the visits
are an hour apart or more; no stop may fall in a bin's access-closed hours.
Used by the tests on every plan and by the planner CLI before anything is stored.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from wastewatch.processors.routing.planner import DayPlan
from wastewatch.processors.routing.problem import (
    BANGKOK,
    LENDS,
    BinInput,
    DayInputs,
    PlanOptions,
    local_to_utc,
    refill_hours,
    trucks_on_duty,
)

__all__ = ["check_day"]

_TOLERANCE = 1.0  # litres / kg of rounding between the model's integers and the plan's decimals
_MIN_GAP_MIN = 60
"""Two visits of one bin closer than this are a mistake, not a repeat visit."""


def check_day(day: DayPlan, inputs: DayInputs, options: PlanOptions) -> list[str]:
    """Every violated rule as a sentence; an empty list means the day is feasible."""
    problems: list[str] = []
    bins = {b.bin_id: b for b in inputs.bins}
    visits: defaultdict[str, list[datetime]] = defaultdict(list)
    registry = {t.truck_id: t for t in inputs.trucks}
    own_duty = {t.stream for t in trucks_on_duty(inputs.trucks, inputs.service_date)}
    plans_of = Counter(r.plan.truck_id for r in day.routes)
    problems += [f"{t} has {n} plans for the day" for t, n in plans_of.items() if n > 1]
    for r in day.routes:
        plan, truck = r.plan, r.truck
        stops = r.all_stops
        if plan.waste_stream != truck.stream:
            problems.append(f"{plan.truck_id}: plan stream {plan.waste_stream} != truck's")
        own = registry.get(plan.truck_id)
        if own is None:
            problems.append(f"{plan.truck_id}: not in the registry")
        elif own.stream != plan.waste_stream and (
            plan.waste_stream not in LENDS.get(own.stream, frozenset())
            or plan.waste_stream in own_duty
        ):
            problems.append(
                f"{plan.truck_id}: a {own.stream} truck may not serve {plan.waste_stream} today"
            )
        firsts: dict[str, datetime] = {}
        for s in stops:
            firsts.setdefault(s.bin_id, s.eta)
        if [(s.bin_id, s.eta) for s in plan.stops] != list(firsts.items()):
            problems.append(f"{plan.truck_id}: the plan's stops are not the route's first visits")
        cap_l = truck.capacity_l * options.usable_capacity_share + _TOLERANCE
        cap_kg = truck.capacity_kg * options.usable_capacity_share + _TOLERANCE
        unloads = set(r.all_unload_after)
        trip_l = trip_kg = 0.0
        for s in stops:
            visits[s.bin_id].append(s.eta)
            b = bins.get(s.bin_id)
            if b is None:
                problems.append(f"{plan.truck_id}: unknown bin {s.bin_id}")
            else:
                if b.stream != truck.stream:
                    problems.append(
                        f"{plan.truck_id}: {s.bin_id} is {b.stream}, truck {truck.stream}"
                    )
                if options.access_windows and b.closed is not None:
                    local = s.eta.astimezone(BANGKOK)
                    sec = local.hour * 3600 + local.minute * 60 + local.second
                    if b.closed[0] <= sec < b.closed[1]:
                        problems.append(
                            f"{plan.truck_id}: {s.bin_id} at {local:%H:%M}, inside its "
                            "access-closed hours"
                        )
            trip_l += s.expected_load_l
            trip_kg += s.expected_load_kg
            last = s.sequence == len(stops)
            if s.sequence in unloads or last:
                if trip_l > cap_l or trip_kg > cap_kg:
                    problems.append(
                        f"{plan.truck_id}: trip ending at stop {s.sequence} carries "
                        f"{trip_l:.0f} L / {trip_kg:.0f} kg > {cap_l:.0f} L / {cap_kg:.0f} kg"
                    )
                trip_l = trip_kg = 0.0
        if plan.total_duration_s > options.shift_s:
            problems.append(
                f"{plan.truck_id}: {plan.total_duration_s} s exceeds the {options.shift_s} s shift"
            )
        if stops:
            start = local_to_utc(plan.service_date, truck.shift_start)
            end = start.timestamp() + options.shift_s
            if stops[0].eta < start or stops[-1].eta.timestamp() > end:
                problems.append(f"{plan.truck_id}: ETAs outside the shift")
    for bin_id, etas in visits.items():
        problems += _repeat_problems(bin_id, sorted(etas), bins.get(bin_id), options)
    return problems


def _repeat_problems(
    bin_id: str, etas: list[datetime], b: BinInput | None, options: PlanOptions
) -> list[str]:
    """A bin may be visited twice only when it refills within ``repeat_refill_h`` (re-derived
    from its own forecast here), and the second visit must leave it time to refill."""
    if len(etas) == 1:
        return []
    if len(etas) > 2:
        return [f"{bin_id} is planned {len(etas)} times"]
    refill = refill_hours(b) if b is not None else math.inf
    if refill > options.repeat_refill_h:
        return [f"{bin_id} is planned 2 times but refills in {refill:.1f} h"]
    if etas[1] - etas[0] < timedelta(minutes=_MIN_GAP_MIN):
        return [f"{bin_id} is visited twice within {_MIN_GAP_MIN} min"]
    return []
