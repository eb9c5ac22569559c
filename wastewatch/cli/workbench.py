"""The workbench's commands (`services`, `simulate`, `demo`, `eval`, `bench`) in the one CLI.

The product never imports the workbench: its commands are found through the
``wastewatch.commands`` entry-point group that `pyproject.toml` declares, each
entry a ``register(subparsers)`` function.  An installation without the workbench
(the Docker image leaves it out) still lists those commands, and running one prints
one line saying it is a workbench command and where to run it, instead of a
ModuleNotFoundError.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "register_workbench"]

ENTRY_POINT_GROUP = "wastewatch.commands"

Register = Callable[[Any], None]


def register_workbench(sub: Any) -> None:
    """Add every workbench command the installation declares, loaded or not."""
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            register: Register = entry.load()
        except ImportError as exc:
            _register_missing(sub, entry, exc)
        else:
            register(sub)


def _register_missing(sub: Any, entry: EntryPoint, exc: ImportError) -> None:
    missing = exc.name or entry.value.partition(":")[0]
    parser = sub.add_parser(
        entry.name,
        help=f"(workbench command, not installed here: {missing} is missing)",
        add_help=False,
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def explain(args: argparse.Namespace) -> int:
        print(
            f"wastewatch {entry.name}: a workbench command, not part of this installation "
            f"({missing} is missing); run it from a source checkout (`make demo`, see README.md)",
            file=sys.stderr,
        )
        return 2

    parser.set_defaults(handler=explain)
