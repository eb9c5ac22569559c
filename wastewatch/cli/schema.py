"""`wastewatch schema export`: regenerate `schema/jsonschema/` from the models."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="message schemas")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="write the JSON Schema files")
    e.add_argument("--out", type=Path, default=None, help="folder (default: schema/jsonschema)")
    e.set_defaults(handler=export)


def export(args: argparse.Namespace) -> int:
    from wastewatch.schema import export as exporter

    out = args.out or Path(exporter.__file__).parent / "jsonschema"
    for path in exporter.write_all(out):
        print(path)
    return 0
