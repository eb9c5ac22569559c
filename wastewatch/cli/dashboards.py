"""`wastewatch dashboards build [--check]`: the Grafana boards as code (grafana/)."""

from __future__ import annotations

import argparse

from wastewatch.cli.options import Subparsers, add_action, command_group


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "dashboards", "Grafana dashboards and alert rules (grafana/)")
    b = add_action(
        actions,
        "build",
        build,
        "regenerate grafana/provisioning/{dashboards/json,alerting} from the Python",
    )
    b.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the committed files differ from the generated ones",
    )


def build(args: argparse.Namespace) -> int:
    from wastewatch.grafana import main

    return main(["--check"] if args.check else [])
