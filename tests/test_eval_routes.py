"""`wastewatch eval routes`: the closed loop's invariants and the figures' arithmetic.

Pure, no services: the simulator, the real forecaster and the real planner run
in process on a small town (40 bins, a day of warm-up, two evaluated days, a
fraction of a second of solver time). What is checked is that the figures are
made honestly — every emptying was a planned stop, km is the sum of the legs
the trucks drove, overflow is the time bins spent full within the window, the
fixed schedule compared against follows the stated rule — not how good the
planner is (that is the 28-day benchmark's job).
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from tests.conftest import run_wastewatch
from wastewatch.schema.common import WasteStream
from wastewatch.workbench.bench.eval_routes import (
    BinVisit,
    EvalRoutesOptions,
    ScheduleRun,
    _advance_days,
    _Capture,
    _DayPlans,
    _drop_device_wakes,
    _world,
    choose_k,
    executed_km,
    local_date,
    overflow_bin_hours,
    run_eval_routes,
    sector_slots,
    service_day_index,
)
from wastewatch.workbench.simulators.calendar import load_calendar
from wastewatch.workbench.simulators.dynamics import FillModel
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.trucks import ROAD_FACTOR, haversine_km

pytestmark = pytest.mark.timeout(120)

SMALL = EvalRoutesOptions(days=2, bins=40, seconds=0.3, warmup_days=1, ks=(1, 2), parallel=False)


@pytest.fixture(scope="module")
def small() -> tuple[dict[str, Any], dict[str, ScheduleRun]]:
    return run_eval_routes(SMALL, lambda _line: None)


# --- the closed loop ------------------------------------------------------------------


def test_every_emptying_is_a_planned_stop_and_empties_the_bin(
    small: tuple[dict[str, Any], dict[str, ScheduleRun]],
) -> None:
    _, runs = small
    assert set(runs) == {"plan", "fixed-k1", "fixed-k2"}
    for name, run in runs.items():
        planned = {
            (day, r.truck_id, b)
            for day, routes in run.planned.items()
            for r in routes
            for b, _ in r.stops
        }
        times_planned = Counter(
            (day, b) for day, routes in run.planned.items() for r in routes for b, _ in r.stops
        )
        assert run.collections, name
        seen: Counter[tuple[date, str]] = Counter()
        for c in run.collections:
            day = local_date(c["ts"])
            assert (day, c["truck"], c["bin"]) in planned, (name, c)
            assert c["source"].startswith("plan:"), c  # the trucks followed our routes
            assert c["fill_after"] <= 0.03 + 1e-9, c
            assert c["fill_after"] <= c["fill_before"], c
            seen[(day, c["bin"])] += 1
            assert seen[(day, c["bin"])] <= times_planned[(day, c["bin"])], (
                f"{name}: {c['bin']} emptied more often than planned on {day}"
            )
        f = run.figures
        assert f.collections == len(run.collections)
        assert f.planned_stops - f.skipped_stops == f.collections
        below = sum(1 for c in run.collections if c["fill_before"] < 0.5)
        assert f.share_below_50pct == pytest.approx(below / len(run.collections))
    # The plan ran on the forecaster's bin state, made from the devices' readings.
    assert small[0]["plan"]["readings"] > 40 * 24


def test_km_is_the_sum_of_the_legs_the_trucks_drove(
    small: tuple[dict[str, Any], dict[str, ScheduleRun]],
) -> None:
    _, runs = small
    for name, run in runs.items():
        by_run: dict[tuple[str, date], list[BinVisit]] = defaultdict(list)
        for v in run.visits:
            by_run[(v.truck_id, local_date(v.ts))].append(v)
        legs: list[float] = []
        haul: list[float] = []
        for (truck, _), visits in by_run.items():
            visits.sort(key=lambda v: v.ts)
            assert visits[-1].unload, f"{name}: {truck} ended its shift without unloading"
            home = run.homes[truck]
            path = [(home, False), *(((v.latitude, v.longitude), v.unload) for v in visits)]
            path.append((home, False))
            for (a, a_site), (b, b_site) in itertools.pairwise(path):
                leg = haversine_km(*a, *b) * ROAD_FACTOR
                legs.append(leg)
                if a_site or b_site:
                    haul.append(leg)
        f = run.figures
        assert f.km > 0
        assert f.km == pytest.approx(sum(legs), rel=1e-9)
        assert 0 < f.haul_km < f.km
        assert f.haul_km == pytest.approx(sum(haul), rel=1e-9)
        assert f.truck_days == len(by_run)
        assert f.landfill_unloads == sum(1 for v in run.visits if v.unload)
        assert sorted(v.ref for v in run.visits if not v.unload) == sorted(
            c["bin"] for c in run.collections
        )
        # The planner's distance model describes what the trucks then drove.
        assert f.km == pytest.approx(f.planned_km, rel=0.25), name


def _full_intervals(run: ScheduleRun, end: int) -> dict[str, list[tuple[int, int]]]:
    """When each bin was full, from the true crossings of 1.0 and the emptyings: from a
    crossing to the next emptying of the bin (or the window's end)."""
    emptied: dict[str, list[int]] = defaultdict(list)
    for t, b in run.all_collections:
        emptied[b].append(t)
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for t, b in run.full_crossings:
        after = [e for e in emptied[b] if e >= t]
        out[b].append((t, min(after) if after else end))
    return out


def test_the_literatures_measures_recomputed(
    small: tuple[dict[str, Any], dict[str, ScheduleRun]],
) -> None:
    """Service level, fill when emptied, lifts, km and trips per day, per stream, from the
    raw material (crossings of 1.0, emptyings, visits), not from the fill model's counters."""
    result, runs = small
    days = SMALL.days
    for name, run in runs.items():
        f = run.figures
        lo = _world(SMALL).window_start
        hi = lo + days * 86_400
        full = _full_intervals(run, hi)
        bins = sorted(run.streams)
        overflow_days = 0
        full_s = 0
        for b in bins:
            for d in range(days):
                a, z = lo + d * 86_400, lo + (d + 1) * 86_400
                overlap = sum(max(0, min(e, z) - max(s, a)) for s, e in full.get(b, []))
                overflow_days += overlap > 0
                full_s += overlap
        assert f.bins == len(bins)
        assert f.days == days
        assert f.service_level == pytest.approx(1 - overflow_days / (len(bins) * days)), name
        assert f.overflow_bin_hours == pytest.approx(full_s / 3600, abs=0.01 * len(bins)), name
        fills = [c["fill_before"] for c in run.collections]
        m = f.measures()
        assert m["mean_fill_emptied"] == pytest.approx(sum(fills) / len(fills), abs=5e-4)
        assert m["lifts_per_day"] == pytest.approx(len(fills) / days, abs=0.05)
        assert m["km_per_day"] == pytest.approx(f.km / days, abs=0.05)
        assert m["landfill_trips"] == sum(1 for v in run.visits if v.unload)
        # The per-stream split adds up to the whole.
        split = f.by_stream
        assert sum(x["bins"] for x in split.values()) == len(bins)
        assert sum(x["km_per_day"] for x in split.values()) == pytest.approx(
            f.km / days, abs=0.05 * len(split)
        )
        assert sum(x["landfill_trips"] for x in split.values()) == f.landfill_unloads
        assert sum(x["lifts_per_day"] * days for x in split.values()) == pytest.approx(
            f.collections, abs=0.05 * days * len(split)
        )
        assert sum(x["overflow_bin_hours"] for x in split.values()) == pytest.approx(
            f.overflow_bin_hours, abs=0.05 * len(split)
        )
        for stream, x in split.items():
            mine = [c["fill_before"] for c in run.collections if run.streams[c["bin"]] == stream]
            assert x["mean_fill_emptied"] == pytest.approx(
                sum(mine) / len(mine) if mine else 0.0, abs=5e-4
            )
    assert result["plan"]["service_level"] == runs["plan"].figures.measures()["service_level"]
    daily = runs["fixed-k1"].figures
    ratio = result["vs_daily_round"]
    assert ratio["km_ratio"] == pytest.approx(runs["plan"].figures.km / daily.km, abs=1e-4)
    assert set(result["fixed_by_k"]["1"]) >= {"km_per_day", "service_level", "by_stream"}


def test_result_follows_the_k_rule(small: tuple[dict[str, Any], dict[str, ScheduleRun]]) -> None:
    result, runs = small
    plan = runs["plan"].figures.overflow_bin_hours
    by_k = {k: runs[f"fixed-k{k}"].figures.overflow_bin_hours for k in (1, 2)}
    k, within = choose_k(plan, by_k)
    assert result["fixed"]["k"] == k
    assert result["fixed_overflow_within_plan"] is within
    fixed_km = runs[f"fixed-k{k}"].figures.km
    assert result["km_saving"] == pytest.approx(1 - runs["plan"].figures.km / fixed_km, abs=1e-4)
    assert result["goal_met"] == (
        result["km_saving"] >= 0.30 and plan <= runs[f"fixed-k{k}"].figures.overflow_bin_hours
    )
    assert set(result["fixed_by_k"]) == {"1", "2"}


def test_sleeping_devices_change_nothing_the_trucks_see() -> None:
    """The fixed schedules run without sensors: the truth must not depend on them."""
    world = _world(EvalRoutesOptions(days=1, bins=30, warmup_days=1))
    outcomes = []
    for asleep in (False, True):
        truth = _Capture()
        sim = world.new_sim(_DayPlans(), truth)  # the city's own rounds
        if asleep:
            _drop_device_wakes(sim)
        counters = _advance_days(world, sim, lambda _day, _midnight: None)
        outcomes.append((truth.collections, truth.deliveries, counters))
        assert (sim.counts["messages"] > len(truth.deliveries)) is not asleep
    assert outcomes[0][0], "no collection happened: nothing was compared"
    assert outcomes[0] == outcomes[1]


# --- the arithmetic -------------------------------------------------------------------


def test_overflow_counts_only_the_window() -> None:
    # a: full 30 min before the window, emptied after 2.5 h in all; full again its last hour.
    assert overflow_bin_hours({"a": 1800, "b": 0}, {"a": 3600, "b": 0}, [("a", 9000)]) == (
        pytest.approx(3.0)
    )
    assert overflow_bin_hours({"a": 0}, {"a": 0}, []) == 0.0


def test_overflow_agrees_with_the_fill_model() -> None:
    """Counters taken as the evaluation takes them give the time spent at fill 1.0."""
    model = FillModel(
        capacity_l=240,
        stream=WasteStream.GENERAL,
        place="market",
        zone="kls-z01",
        calendar=load_calendar(DEFAULT_CITY_DIR / "calendar.json"),
        rng=random.Random(7),
        start=0,
        initial_fill=0.9,
        rate_factor=4.0,
        thresholds=(1.0,),
    )
    t0, t1, t2 = 6 * 3600, 30 * 3600, 60 * 3600
    model.advance(t0)
    assert model.fill == 1.0, "the crafted bin should be full before the window"
    first_full = model.crossings[0][0]
    at_start = model.overflow_s
    model.advance(t1)
    got = model.empty(residual_fill=0.0)
    model.advance(t2)
    assert len(model.crossings) == 2, "full again before the end"
    second_full = model.crossings[1][0]
    expected_s = (t1 - t0) + (t2 - second_full)
    assert at_start == t0 - first_full
    hours = overflow_bin_hours({"x": at_start}, {"x": model.overflow_s}, [("x", got.overflow_s)])
    assert hours == pytest.approx(expected_s / 3600)


def test_k_is_the_largest_within_the_plans_overflow() -> None:
    assert choose_k(60.0, {1: 10.0, 2: 50.0, 3: 200.0}) == (2, True)
    assert choose_k(50.0, {1: 10.0, 2: 50.0, 3: 200.0}) == (2, True)  # equal is no more
    assert choose_k(50.0, {1: 10.0, 2: 80.0, 3: 40.0}) == (3, True)  # not assumed monotone
    assert choose_k(5.0, {1: 10.0, 2: 50.0}) == (1, False)  # none: k=1, and said so
    with pytest.raises(ValueError, match="no fixed schedule"):
        choose_k(1.0, {})


def test_sector_slots_are_balanced_and_compact() -> None:
    centre = (16.0, 103.0)
    pts = [(f"b{i}", 16.0 + 0.01 * (i % 5 - 2), 103.0 + 0.01 * (i // 5 - 2)) for i in range(25)]
    pts = [p for p in pts if (p[1], p[2]) != centre]
    for k in (1, 2, 3, 7):
        slots = sector_slots(pts, centre, k)
        sizes = [sum(1 for s in slots.values() if s == j) for j in range(k)]
        assert set(slots) == {p[0] for p in pts}
        assert max(sizes) - min(sizes) <= 1, (k, sizes)
    north_south = [("n", 16.01, 103.0), ("s", 15.99, 103.0), ("n2", 16.02, 103.001)]
    two = sector_slots([*north_south, ("s2", 15.98, 102.999)], centre, 2)
    assert two["n"] == two["n2"] != two["s"] == two["s2"]
    with pytest.raises(ValueError, match="at least 1"):
        sector_slots(pts, centre, 0)


def test_service_days_are_counted_per_stream() -> None:
    mon_thu = frozenset({0, 3})
    first = date(2026, 2, 9)  # a Monday
    assert service_day_index(date(2026, 2, 9), first, mon_thu) == 0
    assert service_day_index(date(2026, 2, 10), first, mon_thu) is None
    assert service_day_index(date(2026, 2, 12), first, mon_thu) == 1
    assert service_day_index(date(2026, 2, 16), first, mon_thu) == 2
    assert service_day_index(date(2026, 3, 5), first, mon_thu) == 7
    daily = frozenset(range(7))
    assert service_day_index(date(2026, 2, 20), first, daily) == 11
    assert service_day_index(date(2026, 2, 8), first, daily) is None


def test_executed_km_goes_home_after_each_days_run() -> None:
    home = (16.0, 103.0)
    a, b = (16.01, 103.0), (16.0, 103.01)
    day1, day2 = 1_770_570_000, 1_770_570_000 + 86_400  # 2026-02-09 ~00:00 +07, next day
    visits = [
        BinVisit(day1 + 7200, "t1", *a, "bin-a"),
        BinVisit(day1 + 3600, "t1", *b, "bin-b"),  # out of order: sorted by time
        BinVisit(day2 + 3600, "t1", *a, "bin-a"),
    ]
    driven = executed_km(visits, {"t1": home}, road_factor=1.0)
    leg = haversine_km(*home, *a)
    expected = haversine_km(*home, *b) + haversine_km(*b, *a) + leg + 2 * leg
    assert driven.runs == 2
    assert driven.km == pytest.approx(expected)
    assert driven.haul_km == 0.0
    site = (16.05, 103.0)
    with_unload = [*visits, BinVisit(day1 + 9000, "t1", *site, "landfill", unload=True)]
    driven = executed_km(with_unload, {"t1": home}, road_factor=1.0)
    haul = haversine_km(*a, *site) + haversine_km(*site, *home)
    assert driven.haul_km == pytest.approx(haul)
    assert driven.km == pytest.approx(expected - leg + haul)  # a -> site -> home, not a -> home


def test_an_iteration_budget_makes_the_evaluation_repeat_to_the_digit() -> None:
    """Under a time limit two runs differ; with a budget the figures are the inputs'."""
    opts = replace(SMALL, ks=(1,), seconds=60.0, iterations=150)
    first, _ = run_eval_routes(opts, lambda _line: None)
    again, _ = run_eval_routes(opts, lambda _line: None)
    assert first["iterations"] == 150
    assert first["plan"]["collections"] > 0
    for result in (first, again):
        result.pop("elapsed_s")
        result["plan"].pop("planner_seconds", None)
    assert again == first
    assert not [n for n in first["notes"] if "iterations" in n]


# --- the command ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--days", "0"], "--days"),
        (["--bins", "0"], "--bins"),
        (["--seconds", "0"], "--seconds"),
        (["--iterations", "0"], "--iterations"),
        (["--warmup-days", "0"], "--warmup-days"),
        (["--start", "2026-02-30"], "--start"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = run_wastewatch("eval", "routes", *args, "--json", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert done.stdout == ""


def test_command_prints_the_figures_as_its_last_line() -> None:
    done = run_wastewatch(
        "eval",
        "routes",
        *("--days", "1", "--bins", "20", "--seconds", "0.2", "--warmup-days", "1"),
        "--json",
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["days"], out["bins"], out["seed"]) == (1, 20, 1)
    for side in ("plan", "fixed"):
        assert {"km", "overflow_bin_hours", "collections", "share_below_50pct"} <= set(out[side])
    assert 1 <= out["fixed"]["k"] <= 7
    assert set(out["fixed_by_k"]) == {str(k) for k in range(1, 8)}
    assert isinstance(out["goal_met"], bool)
    assert out["elapsed_s"] > 0
    assert "plan 1/1" in done.stderr  # progress goes to stderr
