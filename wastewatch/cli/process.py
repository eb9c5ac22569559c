"""`wastewatch process [--only collections,forecast,alerts,landfill,rollups]`."""

from __future__ import annotations

import argparse
import asyncio

from wastewatch.cli.options import Subparsers, add_action


def register(sub: Subparsers) -> None:
    p = add_action(
        sub,
        "process",
        process,
        "run the stream processors (collections, forecast, alerts, landfill, rollups)",
        description="Runs the selected processors until SIGTERM/SIGINT, each a Kafka consumer "
        "group of its own, on event time. Metrics and health on WW_PROCESSORS_METRICS_PORT. "
        "See processors/README.md.",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help="comma-separated subset: collections,forecast,alerts,landfill,rollups (default all)",
    )


def process(args: argparse.Namespace) -> int:
    from wastewatch.core import load_settings
    from wastewatch.processors import parse_only, serve

    only = parse_only(args.only)
    asyncio.run(serve(load_settings(), only))
    return 0
