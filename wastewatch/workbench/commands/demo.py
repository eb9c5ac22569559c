"""`wastewatch demo`: what `make demo` runs; the work is in :mod:`wastewatch.workbench.demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from wastewatch.cli import (
    Subparsers,
    add_action,
    add_json,
    add_seed,
    options_from,
    positive_float,
    positive_int,
)
from wastewatch.workbench.commands import require

require("wastewatch.workbench.demo", "wastewatch.workbench.stack")


def register(sub: Subparsers) -> None:
    p = add_action(
        sub,
        "demo",
        run,
        "the whole Kalasin pipeline on the local stack, with a live summary",
        description="Starts the local stack, migrates, imports the Kalasin city data, replays "
        "history, then runs the simulated fleet live through the bridge, the sink and the "
        "processors, plans today's routes and shows a live summary; writes the routes as "
        "GeoJSON and the monthly report. Ctrl-C stops everything it started. A second run "
        "continues where the first stopped (see README, make demo).",
    )
    p.add_argument(
        "--minutes",
        type=positive_float,
        default=None,
        metavar="M",
        help="run live for M minutes, then stop and print the final summary (default: until "
        "Ctrl-C)",
    )
    p.add_argument(
        "--history-days",
        type=positive_float,
        default=7.0,
        metavar="D",
        help="days of history the first run replays (default 7)",
    )
    p.add_argument(
        "--bins",
        type=positive_int,
        default=None,
        metavar="N",
        help="simulated bins (default: the Kalasin registry, 600; more clones it)",
    )
    add_seed(p, "simulator and solver seed (default 1)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path(".wastewatch/demo"),
        metavar="DIR",
        help="routes GeoJSON, report and the fleet's state (default .wastewatch/demo)",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=60.0,
        metavar="X",
        help="live event seconds per wall second until the fleet meets the clock (default 60)",
    )
    p.add_argument(
        "--route-seconds",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="solver time for a day's routes (default 5)",
    )
    p.add_argument(
        "--real-clients",
        type=int,
        default=20,
        metavar="N",
        help="devices with an MQTT connection of their own (client id = device id; default 20)",
    )
    p.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="component logs (default .wastewatch/logs/demo)",
    )
    add_json(p, "last stdout line: the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from wastewatch.workbench.demo import DemoError, DemoOptions, run_demo

    if args.real_clients < 0:
        raise DemoError("--real-clients must be 0 or more")
    return run_demo(options_from(DemoOptions, args))
