"""`wastewatch`: the one command-line entry point, with a subcommand per concern.

Each concern registers its subcommands from its own module (`services`, `db`,
`kafka`, ...), so a newcomer finds a command's code by its name.  Errors the
user can act on (every `WastewatchError`) are caught here, once, and printed as
one line with their hint (exit 2); a bad argument prints one line saying what is
wrong and where to look (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from wastewatch.cli import (
    api,
    bins,
    dashboards,
    db,
    devices,
    history,
    ingest,
    kafka,
    landfill,
    process,
    report,
    routes,
    schema,
    tls,
)
from wastewatch.cli.workbench import register_workbench
from wastewatch.errors import WastewatchError
from wastewatch.faces import lazy_face

Handler = Callable[[argparse.Namespace], int]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says what to do."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="wastewatch",
        description="Real-time waste monitoring for Thai municipalities (Kalasin first).",
    )
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING (default: WW_LOG_LEVEL)"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for module in (
        devices,
        tls,
        db,
        kafka,
        ingest,
        bins,
        process,
        landfill,
        routes,
        history,
        api,
        report,
        dashboards,
        schema,
    ):
        module.register(sub)
    register_workbench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`wastewatch ... | head`): what it wanted it has; stop
        # quietly, and keep the interpreter's final flush from printing a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a pipe cut short


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from wastewatch.core import configure, load_settings

    handler: Handler = args.handler
    try:
        settings = load_settings()
        configure(args.log_level or settings.log_level, settings.log_format)
        return handler(args)
    except WastewatchError as exc:
        print(f"wastewatch: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> NoReturn:
    sys.exit(main())


if TYPE_CHECKING:
    from wastewatch.cli.options import (
        Subparsers,
        add_action,
        add_iterations,
        add_json,
        add_seed,
        command_group,
        number,
        options_from,
        positive_float,
        positive_int,
    )
    from wastewatch.cli.output import aligned, print_json, print_result

__all__ = [
    "OneLineParser",
    "Subparsers",
    "add_action",
    "add_iterations",
    "add_json",
    "add_seed",
    "aligned",
    "build_parser",
    "command_group",
    "entry",
    "main",
    "number",
    "options_from",
    "positive_float",
    "positive_int",
    "print_json",
    "print_result",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
