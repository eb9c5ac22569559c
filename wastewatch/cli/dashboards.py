"""`wastewatch dashboards build [--check]`: the Grafana boards as code (grafana/)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboards", help="Grafana dashboards and alert rules (grafana/)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser(
        "build",
        help="regenerate grafana/provisioning/{dashboards/json,alerting} from the Python",
    )
    b.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the committed files differ from the generated ones",
    )
    b.set_defaults(handler=build)


def build(args: argparse.Namespace) -> int:
    from wastewatch.grafana.build import main

    return main(["--check"] if args.check else [])
