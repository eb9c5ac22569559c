"""Issue 20 in the planner: repeat visits, time windows from the forecast, market access
hours and trucks lent to another stream — each checked by the independent ``check_day``.

Pure (PyVRP in process, a fraction of a second of solver time per plan).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from tests.routes_helpers import AS_OF, DAY, SHIFT
from tests.routes_helpers import bin_input as _bin
from wastewatch.processors.routing.check import check_day
from wastewatch.processors.routing.export import day_geojson, driver_sheet
from wastewatch.processors.routing.planner import DayPlan, _hhmm, _late_stops, plan_day
from wastewatch.processors.routing.problem import (
    BANGKOK,
    MARKET_CLOSED_S,
    BinInput,
    DayInputs,
    PlanOptions,
    access_closed,
    local_to_utc,
    select_candidates,
)
from wastewatch.processors.routing.synthetic import DEPOT, LANDFILL, kalasin_day
from wastewatch.schema.common import WasteStream
from wastewatch.schema.routes import RoutePlan

pytestmark = pytest.mark.timeout(60)

THRESHOLD_RULE = PlanOptions(due_fill=None, early_band=True)
"""Due at the bin's own threshold, on the forecast's early band (what these tests craft)."""


def _inputs(bins: list[BinInput], trucks: int = 1) -> DayInputs:
    base = kalasin_day(bins=1, trucks=trucks, seed=1, service_date=DAY)
    return replace(base, bins=tuple(bins))


def _local(t: datetime) -> int:
    loc = t.astimezone(BANGKOK)
    return loc.hour * 3600 + loc.minute * 60 + loc.second


def test_a_bin_that_refills_within_the_shift_is_visited_twice_and_checked() -> None:
    market = _bin(
        "fast", 16.434, 103.506, fill_level=0.9, rate_per_h=0.1, urgency="urgent", refill_h=8.0
    )
    slow = _bin("slow", 16.440, 103.500, fill_level=0.9, urgency="urgent")
    inputs = _inputs([market, slow])
    options = replace(THRESHOLD_RULE, seconds=0.5)
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    (route,) = [r for r in day.routes if r.plan.stops]
    etas = [s.eta for s in route.all_stops if s.bin_id == "fast"]
    assert len(etas) == 2, route.all_stops
    assert [s.bin_id for s in route.all_stops].count("slow") == 1
    # The second visit comes late in the shift, after the refill has begun.
    assert etas[1] - etas[0] >= timedelta(hours=1)
    assert etas[1] >= SHIFT + timedelta(hours=options.second_visit_after_h)
    assert [s.bin_id for s in route.repeat_visits] == ["fast"]
    # The published model names each bin once; the repeat is in the full route.
    assert sorted(s.bin_id for s in route.plan.stops) == ["fast", "slow"]
    RoutePlan.model_validate(route.plan.model_dump())
    assert any("visited twice" in n for n in day.notes)
    # The GeoJSON and the driver sheet show both visits.
    places = {b.bin_id: b for b in inputs.bins}
    geo = day_geojson(
        day,
        {
            **{k: _place(v) for k, v in places.items()},
            DEPOT.place_id: DEPOT,
            LANDFILL.place_id: LANDFILL,
        },
    )
    stops = [f for f in geo["features"] if f["properties"]["kind"] == "stop"]
    assert [f["properties"]["bin_id"] for f in stops].count("fast") == 2
    assert sum(f["properties"]["repeat_visit"] for f in stops) == 1
    assert "2nd visit" in driver_sheet(route)


def _place(b: BinInput):  # type: ignore[no-untyped-def]
    from wastewatch.processors.routing.distances import Place

    return Place(b.bin_id, b.latitude, b.longitude)


def test_the_check_refuses_a_repeat_the_forecast_does_not_justify() -> None:
    fast = _bin("fast", 16.434, 103.506, fill_level=0.9, urgency="urgent", refill_h=8.0)
    inputs = _inputs([fast])
    options = replace(THRESHOLD_RULE, seconds=0.3)
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    slow_inputs = replace(inputs, bins=(replace(fast, refill_h=30.0),))
    assert any("refills in 30.0 h" in p for p in check_day(day, slow_inputs, options))
    # Three visits are never a repeat visit.
    (route,) = [r for r in day.routes if r.plan.stops]
    third = route.all_stops[-1].model_copy(
        update={
            "sequence": len(route.all_stops) + 1,
            "eta": route.all_stops[-1].eta + timedelta(hours=1),
        }
    )
    tripled = replace(route, visits=(*route.all_stops, third))
    bad = replace(day, routes=(tripled,))
    assert any("planned 3 times" in p for p in check_day(bad, inputs, options))


def test_a_deadline_from_the_forecast_is_met() -> None:
    # Crosses its threshold three hours into the shift: reached before then.
    due = _bin("due", 16.45, 103.52, fill_level=0.6, collect_by=SHIFT + timedelta(hours=3))
    others = [
        _bin(f"other-{i}", 16.42 + 0.004 * i, 103.49 + 0.003 * i, fill_level=0.9, urgency="urgent")
        for i in range(8)
    ]
    inputs = _inputs([*others, due])
    options = replace(THRESHOLD_RULE, seconds=0.5)
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    (eta,) = [s.eta for r in day.routes for s in r.all_stops if s.bin_id == "due"]
    assert eta <= SHIFT + timedelta(hours=3)
    assert day.late == ()


def test_a_repeat_on_another_truck_is_not_reported_as_a_late_first_visit() -> None:
    """The late list looks at a bin's earliest visit over all trucks, not per route."""
    fast = _bin("fast", 16.434, 103.506, fill_level=0.9, urgency="urgent", refill_h=8.0)
    inputs = _inputs([fast])
    options = replace(THRESHOLD_RULE, seconds=0.3)
    day = plan_day(inputs, options)
    (route,) = [r for r in day.routes if r.plan.stops]
    early, again = route.all_stops
    cands = select_candidates(
        inputs.bins, shift_start=SHIFT, next_window=SHIFT + timedelta(days=1), options=options
    )
    # A deadline between the two visits: met by the first visit.
    due = early.eta + (again.eta - early.eta) / 2
    cands = [replace(c, deadline=due) if c.visit == 1 else c for c in cands]
    # The repeat on a second truck whose route is listed first: an ordinary stop there.
    second = replace(route, visits=(again.model_copy(update={"sequence": 1}),))
    first = replace(route, visits=(early,))
    assert _late_stops(cands, [second, first]) == []
    # Without the early visit the bin is late, once, at its earliest visit.
    assert _late_stops(cands, [second]) == [
        f"fast {_hhmm(again.eta)} > {_hhmm(due)}",
    ]


def test_deadlines_that_cannot_be_met_are_said_loudly() -> None:
    # Forty bins all due 20 minutes into the shift, all over town, one truck: most come late.
    base = kalasin_day(bins=40, trucks=1, seed=4, service_date=DAY, due_share=0.0)
    bins = [
        replace(b, fill_level=0.6, collect_by=SHIFT + timedelta(minutes=20), urgency=None)
        for b in base.bins
    ]
    inputs = replace(base, bins=tuple(bins))
    options = replace(THRESHOLD_RULE, seconds=0.5)
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    assert day.missed_must_collect == ()  # every bin is still planned ...
    assert day.late  # ... and the ones that come late are named,
    late_ids = {entry.split()[0] for entry in day.late}
    planned = {s.bin_id: s.eta for r in day.routes for s in r.all_stops}
    assert all(planned[b] > SHIFT + timedelta(minutes=20) for b in late_ids)
    warning = next(n for n in day.notes if n.startswith("WARNING") and "after their" in n)
    assert sorted(late_ids)[0] in warning or len(late_ids) > 10


def test_market_bins_are_not_served_in_trading_hours() -> None:
    assert access_closed("ตลาดสด จุดที่ 3 (เขต 2)") == MARKET_CLOSED_S
    assert access_closed("Night Market 2") == MARKET_CLOSED_S
    assert access_closed("ชุมชน จุดที่ 1") is None
    # Many urgent bins keep the truck busy through the morning; the market bins,
    # due by 08:00, are served before 07:00 or after 10:00, never in between.
    base = kalasin_day(bins=60, trucks=1, seed=6, service_date=DAY, due_share=1.0)
    bins = list(base.bins)
    for i in range(0, 60, 6):
        bins[i] = replace(
            bins[i],
            name=f"ตลาด จุดที่ {i}",
            closed=access_closed("ตลาด"),
            urgency=None,
            fill_level=0.5,
            collect_by=SHIFT + timedelta(hours=3),
        )
    inputs = replace(base, bins=tuple(bins))
    options = replace(THRESHOLD_RULE, seconds=1.0)
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    market = {b.bin_id for b in bins if b.closed}
    times = [_local(s.eta) for r in day.routes for s in r.all_stops if s.bin_id in market]
    assert len(times) == len(market)
    assert all(not (MARKET_CLOSED_S[0] <= t < MARKET_CLOSED_S[1]) for t in times)
    # The check sees a stop moved into the closed hours.
    r = next(r for r in day.routes if any(s.bin_id in market for s in r.all_stops))
    s = next(s for s in r.plan.stops if s.bin_id in market)
    moved = s.model_copy(update={"eta": local_to_utc(DAY, time(8, 0))})
    bad_route = replace(
        r,
        plan=r.plan.model_construct(
            **{
                **r.plan.__dict__,
                "stops": tuple(moved if x is s else x for x in r.plan.stops),
            }
        ),
        visits=(),
    )
    bad = replace(day, routes=(bad_route,))
    assert any("access-closed" in p for p in check_day(bad, inputs, options))


def _recyclable_day(weekday_offset: int) -> tuple[DayInputs, PlanOptions]:
    day = DAY + timedelta(days=weekday_offset)
    base = kalasin_day(bins=30, trucks=2, seed=8, service_date=day, due_share=0.0)
    as_of = local_to_utc(day, time(4, 0))
    bins = [
        replace(b, stream=WasteStream.RECYCLABLE, fill_level=0.85, urgency="urgent", as_of=as_of)
        if i < 6
        else replace(b, rate_per_h=0.0, as_of=as_of)
        for i, b in enumerate(base.bins)
    ]
    recycler = replace(
        base.trucks[0],
        truck_id="syn-truck-rec-01",
        stream=WasteStream.RECYCLABLE,
        shift_start=time(8, 0),
        service_days=frozenset({0, 3}),  # Monday and Thursday, as in Kalasin
    )
    return replace(base, bins=tuple(bins), trucks=(*base.trucks, recycler)), replace(
        THRESHOLD_RULE, seconds=0.5
    )


def test_an_idle_general_truck_serves_recyclables_on_a_day_without_their_truck() -> None:
    inputs, options = _recyclable_day(1)  # Tuesday: the recycling truck is off
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    served = [r for r in day.routes if r.plan.waste_stream is WasteStream.RECYCLABLE]
    assert len(served) == 1
    assert served[0].plan.truck_id.startswith("syn-truck-gen")
    assert len(served[0].plan.stops) == 6
    # One plan per truck for the day: the lent truck's empty general plan is gone.
    ids = [r.plan.truck_id for r in day.routes]
    assert len(ids) == len(set(ids))
    assert any("lent truck" in n for n in day.notes)
    # Without lending, the bins wait (and the plan says the stream has no truck today).
    day = plan_day(inputs, replace(options, lend_trucks=False))
    assert all(r.plan.waste_stream is WasteStream.GENERAL for r in day.routes)
    assert any("no recyclable truck on duty" in n for n in day.notes)


def test_the_check_refuses_lending_on_the_streams_own_day() -> None:
    inputs, options = _recyclable_day(0)  # Monday: the recycling truck works
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    rec = next(r for r in day.routes if r.plan.waste_stream is WasteStream.RECYCLABLE)
    assert rec.plan.truck_id == "syn-truck-rec-01"
    general = next(t for t in inputs.trucks if t.stream is WasteStream.GENERAL)
    lent = replace(
        rec,
        truck=replace(general, stream=WasteStream.RECYCLABLE),
        plan=rec.plan.model_copy(update={"truck_id": general.truck_id}),
    )
    bad = DayPlan(**{**{f: getattr(day, f) for f in DayPlan.__dataclass_fields__}})
    bad = replace(bad, routes=(*[r for r in day.routes if r is not rec], lent))
    problems = check_day(bad, inputs, options)
    assert any("may not serve recyclable today" in p for p in problems)


def test_shift_start_is_local_time() -> None:
    assert datetime(2026, 3, 1, 22, 0, tzinfo=UTC) == SHIFT


def test_due_at_full_lets_a_bin_pass_its_threshold_but_not_overflow() -> None:
    # Over its threshold (0.85 of 0.8) and filling 0.8 in 16 h: full in about 3 h.
    filling = _bin("filling", 16.434, 103.506, fill_level=0.85, urgency="urgent", refill_h=16.0)
    # Over its threshold too but slow: full in some 37 h, so it waits for tomorrow.
    slow = _bin("slow-one", 16.44, 103.50, fill_level=0.85, urgency="urgent", refill_h=200.0)
    overflowing = _bin("over", 16.43, 103.51, fill_level=1.0, urgency="overflowing")
    options = PlanOptions(seconds=0.5, due_fill=1.0, repeat_refill_h=0.0)
    inputs = _inputs([filling, slow, overflowing])
    day = plan_day(inputs, options)
    assert check_day(day, inputs, options) == []
    planned = {s.bin_id: s.eta for r in day.routes for s in r.all_stops}
    assert {"filling", "over"} <= set(planned)
    assert day.must_collect == 2  # "slow-one" is at most an optional stop on the way
    # ... and "filling" is reached before it is predicted full (about 3 h after as_of).
    assert planned["filling"] <= AS_OF + timedelta(hours=3) or day.late
