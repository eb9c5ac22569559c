"""`wastewatch bins import|list`: the city registry from the operator's files.

``import`` validates every row first and writes all of it in one transaction
(upsert), so a bad row leaves the database as it was and is reported as one
line naming the file, line (or feature) and field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wastewatch.cli.options import Subparsers, add_action, command_group
from wastewatch.core import load_settings


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "bins", "the city registry: bins, zones, depots, trucks, landfill")
    imp = add_action(
        actions,
        "import",
        run_import,
        "upsert bins (and zones, depots, trucks, landfill sites) from CSV/GeoJSON files",
        description="Each FILE is a CSV (one kind of row, told by its header), a GeoJSON "
        "FeatureCollection (features with properties.kind), or a folder of them. All rows are "
        "validated, then written in one transaction; nothing is written on any error. "
        "See simulators/data/README.md for the columns.",
    )
    imp.add_argument("files", type=Path, nargs="+", metavar="FILE")
    imp.add_argument("--check", action="store_true", help="validate only; write nothing")
    lst = add_action(actions, "list", run_list, "list registered bins")
    lst.add_argument("--zone", default=None, help="only this zone")


def run_import(args: argparse.Namespace) -> int:
    from wastewatch.city import import_city, load_city

    city = load_city(args.files)
    if args.check:
        print(
            f"ok: {len(city.bins)} bins, {len(city.zones)} zones, {len(city.trucks)} trucks "
            f"in {', '.join(city.sources)}"
        )
        return 0
    settings = load_settings()
    counts = import_city(settings.db.writer_dsn or settings.db.dsn, city)
    print(f"imported {counts or 'nothing'} from {', '.join(city.sources)}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from wastewatch.city import list_bins

    settings = load_settings()
    rows = list_bins(settings.db.reader_dsn or settings.db.dsn, args.zone)
    for bin_id, device_id, zone, stream, volume, name in rows:
        print(f"{bin_id}\t{device_id or '-'}\t{zone}\t{stream}\t{volume:g} L\t{name}")
    print(f"{len(rows)} bins", file=sys.stderr)
    return 0
