"""`wastewatch schema export`: regenerate `schema/jsonschema/` from the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from wastewatch.cli.options import Subparsers, add_action, command_group


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "schema", "message schemas")
    e = add_action(actions, "export", export, "write the JSON Schema files")
    e.add_argument("--out", type=Path, default=None, help="folder (default: schema/jsonschema)")


def export(args: argparse.Namespace) -> int:
    from wastewatch.schema import export as exporter

    out = args.out or Path(exporter.__file__).parent / "jsonschema"
    for path in exporter.write_all(out):
        print(path)
    return 0
