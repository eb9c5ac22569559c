"""Route-planner benchmarks: CVRPLIB gaps and the Kalasin-size daily plan time.

``python -m wastewatch.workbench.bench.routes vrplib [DIR] --seconds 10 [--json]`` solves every
``*.vrp`` in DIR that has a ``.sol`` beside it (last line ``Cost N``) with the
planner's solver settings and prints the gap to the best-known cost per
instance and on average. ``python -m wastewatch.workbench.bench.routes kalasin --bins 500
--trucks 6 [--json]`` times a whole daily plan (problem building, distances,
solving, plan assembly and the feasibility check) for a synthetic day where
every bin is due, so the trucks must reload at the landfill. Figures, not
tests: the test suite only runs the small cases.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_CVRP_DIR = Path("/work/shared/data/cvrp")


def best_known(sol: Path) -> int:
    """The ``Cost N`` line of a CVRPLIB solution file."""
    for line in reversed(sol.read_text(encoding="utf-8").splitlines()):
        if line.strip().lower().startswith("cost"):
            return round(float(line.split()[1]))
    raise ValueError(f"{sol}: no Cost line")


def bench_vrplib(folder: Path, seconds: float, seed: int) -> dict[str, Any]:
    """Gap per instance at ``seconds`` each; routes are re-checked against capacity."""
    from wastewatch.processors.routing import read_cvrp, solve_cvrp

    rows: list[dict[str, Any]] = []
    for vrp in sorted(folder.glob("*.vrp")):
        sol = vrp.with_suffix(".sol")
        if not sol.is_file():
            continue
        inst = read_cvrp(vrp)
        got = solve_cvrp(inst, seconds=seconds, seed=seed)
        bks = best_known(sol)
        gap = 100.0 * (got.cost - bks) / bks
        row = {
            "instance": vrp.stem,
            "cost": got.cost,
            "best_known": bks,
            "gap_pct": round(gap, 3),
            "routes": len(got.routes),
            "max_load": max(got.loads),
            "capacity": inst.capacity,
            "within_capacity": max(got.loads) <= inst.capacity,
        }
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    mean = sum(r["gap_pct"] for r in rows) / len(rows) if rows else float("nan")
    return {
        "seconds": seconds,
        "seed": seed,
        "instances": rows,
        "mean_gap_pct": round(mean, 3),
        "all_within_capacity": all(bool(r["within_capacity"]) for r in rows),
    }


def bench_kalasin(bins: int, trucks: int, seconds: float, seed: int) -> dict[str, Any]:
    """Time one daily plan over ``bins`` general-waste bins and ``trucks`` trucks (a tenth
    of the bins at markets: access hours, repeat visits)."""
    from wastewatch.processors.routing import kalasin_day
    from wastewatch.processors.routing.planner import PlanOptions, plan_day

    # A tenth of the bins at markets: access hours and repeat visits are in the timing.
    inputs = kalasin_day(bins=bins, trucks=trucks, seed=seed, market_share=0.1)
    started = time.perf_counter()
    day = plan_day(inputs, PlanOptions(seconds=seconds, seed=seed))
    elapsed = time.perf_counter() - started
    return {
        "bins": bins,
        "trucks": trucks,
        "solver_seconds": seconds,
        "plan_seconds": round(elapsed, 2),
        "stops": sum(len(r.all_stops) for r in day.routes),
        "repeat_visits": day.repeat_visits,
        "late_stops": len(day.late),
        "missed_must_collect": len(day.missed_must_collect),
        "must_collect": day.must_collect,
        "unloads": sum(len(r.all_unload_after) for r in day.routes),
        "total_km": round(sum(p.total_distance_km for p in day.plans), 1),
        "max_shift_h": round(max(p.total_duration_s for p in day.plans) / 3600, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wastewatch.workbench.bench.routes")
    sub = parser.add_subparsers(dest="what", required=True)
    v = sub.add_parser("vrplib")
    v.add_argument("folder", type=Path, nargs="?", default=DEFAULT_CVRP_DIR)
    v.add_argument("--seconds", type=float, default=10.0)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--json", action="store_true")
    k = sub.add_parser("kalasin")
    k.add_argument("--bins", type=int, default=500)
    k.add_argument("--trucks", type=int, default=6)
    k.add_argument("--seconds", type=float, default=8.0)
    k.add_argument("--seed", type=int, default=1)
    k.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "vrplib":
        out = bench_vrplib(args.folder, args.seconds, args.seed)
    else:
        out = bench_kalasin(args.bins, args.trucks, args.seconds, args.seed)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
