"""`wastewatch eval processors --days 28 --bins 500 --seed S [--json]`.

Replays the simulator into a fresh database through the real bridge, sink and
processors and scores the processors against the ground truth (see
``bench/eval_processors.py`` and processors/README.md).  Progress goes to
stderr; with ``--json`` the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="score derived data against the simulator's ground truth")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser(
        "processors",
        help="collections, forecasts, alerts, landfill and lag against the ground truth",
        description="Replays --days of --bins simulated bins through Mosquitto, the ingest "
        "bridge and sink and the processors (own database, topics and city, removed "
        "afterwards), then scores the tables against the simulator's ground truth and "
        "measures processor lag at --rate readings/s.",
    )
    e.add_argument("--days", type=float, default=28.0, metavar="D", help="days (default 28)")
    e.add_argument("--bins", type=int, default=500, metavar="B", help="bins (default 500)")
    e.add_argument("--seed", type=int, default=1, metavar="S", help="simulator seed (default 1)")
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
        "--keep-truth",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the ground truth here and keep it",
    )
    e.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    e.set_defaults(handler=run_processors, eval_parser=e)


def run_processors(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.eval_parser
    if not 0 < args.days <= 400 or not 1 <= args.bins <= 100_000:
        parser.error("--days must be within 0..400 and --bins within 1..100000")
    from bench.errors import BenchError
    from bench.eval_processors import EvalOptions, run_eval

    opts = EvalOptions(
        days=args.days,
        bins=args.bins,
        seed=args.seed,
        publishers=args.publishers,
        rate=args.rate,
        lag_seconds=args.lag_seconds,
        keep_truth=args.keep_truth,
    )
    try:
        result = run_eval(opts, lambda line: print(line, file=sys.stderr, flush=True))
    except BenchError as exc:
        print(f"wastewatch eval processors: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, separators=(",", ":"), default=str))
    else:
        print(_table(result))
    return 0


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
    return "\n".join(f"{k:<34} {r.get(k)}" for k in keys)
