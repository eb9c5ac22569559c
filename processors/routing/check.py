"""An independent feasibility check of a day's plans (pure).

It re-derives everything from the plans themselves — stops, expected loads,
unload points, durations — rather than trusting the solver's own accounting,
so a bug in the problem building (a wrong capacity unit, a lost reload) shows
up as a named violation. Used by the tests on every plan and by the planner
CLI before anything is stored.
"""

from __future__ import annotations

from collections import Counter

from wastewatch.processors.routing.planner import DayPlan
from wastewatch.processors.routing.problem import DayInputs, PlanOptions, local_to_utc

__all__ = ["check_day"]

_TOLERANCE = 1.0  # litres / kg of rounding between the model's integers and the plan's decimals


def check_day(day: DayPlan, inputs: DayInputs, options: PlanOptions) -> list[str]:
    """Every violated rule as a sentence; an empty list means the day is feasible."""
    problems: list[str] = []
    bins = {b.bin_id: b for b in inputs.bins}
    seen: Counter[str] = Counter()
    for r in day.routes:
        plan, truck = r.plan, r.truck
        if plan.waste_stream != truck.stream:
            problems.append(f"{plan.truck_id}: plan stream {plan.waste_stream} != truck's")
        cap_l = truck.capacity_l * options.usable_capacity_share + _TOLERANCE
        cap_kg = truck.capacity_kg * options.usable_capacity_share + _TOLERANCE
        trip_l = trip_kg = 0.0
        for s in plan.stops:
            seen[s.bin_id] += 1
            b = bins.get(s.bin_id)
            if b is None:
                problems.append(f"{plan.truck_id}: unknown bin {s.bin_id}")
            elif b.stream != truck.stream:
                problems.append(f"{plan.truck_id}: {s.bin_id} is {b.stream}, truck {truck.stream}")
            trip_l += s.expected_load_l
            trip_kg += s.expected_load_kg
            last = s.sequence == len(plan.stops)
            if s.sequence in r.unload_after or last:
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
        if plan.stops:
            start = local_to_utc(plan.service_date, truck.shift_start)
            end = start.timestamp() + options.shift_s
            if plan.stops[0].eta < start or plan.stops[-1].eta.timestamp() > end:
                problems.append(f"{plan.truck_id}: ETAs outside the shift")
    problems += [f"{b} is planned {n} times" for b, n in seen.items() if n > 1]
    return problems
