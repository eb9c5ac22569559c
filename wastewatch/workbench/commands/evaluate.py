"""`wastewatch eval processors|routes ...`: score derived data and plans in simulation.

``processors`` replays the simulator into a fresh database through the real
bridge, sink and processors and scores the processors against the ground truth
(see ``bench/eval_processors.py`` and processors/README.md).  ``routes`` runs
the planner in a closed loop with the simulated trucks and compares it with
fixed schedules (``bench/eval_routes.py``, processors/routing/README.md).
Progress goes to stderr; with ``--json`` the last line of stdout is one JSON
object.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from wastewatch.cli import (
    Subparsers,
    add_action,
    add_iterations,
    add_json,
    add_seed,
    aligned,
    command_group,
    options_from,
    print_result,
)
from wastewatch.workbench.commands import require

require("wastewatch.workbench.bench")


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "eval", "score derived data against the simulator's ground truth")
    e = add_action(
        actions,
        "processors",
        run_processors,
        "collections, forecasts, alerts, landfill and lag against the ground truth",
        description="Replays --days of --bins simulated bins through Mosquitto, the ingest "
        "bridge and sink and the processors (own database, topics and city, removed "
        "afterwards), then scores the tables against the simulator's ground truth and "
        "measures processor lag at --rate readings/s.",
    )
    _days_bins_seed(e, float, "simulator seed (default 1)")
    e.add_argument("--publishers", type=int, default=2, metavar="P", help="replay publishers")
    e.add_argument(
        "--rate",
        type=float,
        default=3000.0,
        metavar="R",
        help="readings/s offered while lag is measured (default 3000, the ingest bench's "
        "half-rate leg)",
    )
    e.add_argument("--lag-seconds", type=float, default=20.0, metavar="S")
    e.add_argument(
        "--processes",
        default="collections,alerts,landfill;forecast;rollups",
        metavar="GROUPS",
        help="processor stages per OS process, ';' between processes (default "
        "'collections,alerts,landfill;forecast;rollups'; 'all' for one process)",
    )
    e.add_argument(
        "--keep-truth",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the ground truth here and keep it",
    )
    add_json(e)

    r = add_action(
        actions,
        "routes",
        run_routes,
        "closed-loop route plans against fixed schedules: km, overflow, early collections",
        description="Simulates --days of --bins bins in process (after a warm-up on the "
        "city's own rounds) twice over: trucks following the planner's daily plans, made "
        "from the real forecaster's bin state, and fixed rounds emptying every bin every k "
        "service days (k = 1..7). Reports km driven, overflow bin-hours and the share of "
        "collections below half full, against the largest k that overflows no more than "
        "the plan.",
    )
    _days_bins_seed(r, int, "simulator and solver seed")
    r.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        metavar="T",
        help="solver seconds per planned day (default 3; `routes plan` uses 8)",
    )
    add_iterations(r)
    r.add_argument(
        "--warmup-days",
        type=int,
        default=7,
        metavar="W",
        help="days on the city's own rounds first, while the forecaster learns (default 7)",
    )
    r.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="first evaluated day, Asia/Bangkok (default 2026-02-09)",
    )
    add_json(r)


def _days_bins_seed(p: argparse.ArgumentParser, days: type[float], seed_help: str) -> None:
    """What both evaluations simulate: D days of B bins from seed S."""
    p.add_argument("--days", type=days, default=days(28), metavar="D", help="days (default 28)")
    p.add_argument("--bins", type=int, default=500, metavar="B", help="bins (default 500)")
    add_seed(p, seed_help, metavar="S")


def _process_groups(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """``a,b;c`` -> ("a,b", "c"), each stage known and run exactly once."""
    from wastewatch.processors import STAGES, ConfigError, parse_only

    if text.strip() == "all":
        return (",".join(STAGES),)
    groups: list[str] = []
    seen: list[str] = []
    for part in text.split(";"):
        try:
            names = parse_only(part)
        except ConfigError as exc:
            parser.error(f"--processes: {exc}")
        groups.append(",".join(names))
        seen += names
    if sorted(seen) != sorted(STAGES):
        parser.error(f"--processes must name each of {', '.join(STAGES)} exactly once")
    return tuple(groups)


def run_processors(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if not 0 < args.days <= 400 or not 1 <= args.bins <= 100_000:
        parser.error("--days must be within 0..400 and --bins within 1..100000")
    from wastewatch.workbench.bench import EvalOptions, run_eval

    opts = options_from(EvalOptions, args, processes=_process_groups(parser, args.processes))
    result = run_eval(opts, _progress)
    print_result(result, as_json=args.json, table=_table)
    return 0


def run_routes(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if not 1 <= args.days <= 120:
        parser.error("--days must be within 1..120")
    if not 1 <= args.bins <= 10_000:
        parser.error("--bins must be within 1..10000")
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be within 0..600 (solver seconds per day)")
    if not 1 <= args.warmup_days <= 60:
        parser.error("--warmup-days must be within 1..60 (the forecaster needs readings)")
    from wastewatch.workbench.bench import (
        DEFAULT_START,
        EvalRoutesOptions,
        run_eval_routes,
    )

    opts = options_from(EvalRoutesOptions, args, start=args.start or DEFAULT_START)
    result, _ = run_eval_routes(opts, _progress)
    print_result(result, as_json=args.json, table=_routes_table)
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _routes_table(r: dict[str, Any]) -> str:
    p, f = r["plan"], r["fixed"]
    rows = [f"{'':<22} {'plan':>10} {'fixed k=' + str(f['k']):>10}"]
    for key in ("km", "overflow_bin_hours", "collections", "share_below_50pct", "skipped_stops"):
        rows.append(f"{key:<22} {p[key]:>10} {f[key]:>10}")
    rows.append(f"km_saving {r['km_saving']:.1%}  goal_met {r['goal_met']}")
    return "\n".join(rows)


def _table(r: dict[str, Any]) -> str:
    keys = (
        "forecast_mae_h",
        "baseline_mae_h",
        "collection_precision",
        "collection_recall",
        "alert_recall",
        "false_alerts_per_1000_bin_days",
        "landfill_full_date_error_days",
        "lag_s_p99",
    )
    return aligned(((k, r.get(k)) for k in keys), width=34, gap=" ")
