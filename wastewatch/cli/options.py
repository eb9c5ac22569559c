"""What the commands share on the command line: subcommand groups, options, value types.

A command with actions (`wastewatch db migrate|status`) is a :func:`command_group`
of :func:`add_action` parsers; each action's parser runs its handler and is
``args.parser`` for the handler's own usage errors.  An option several commands
take is added here, with its help text in one place (``add_json(p)``,
``add_seed(p)``, ``add_service_date(p)``), and :func:`options_from` turns the
parsed options into the dataclass the command's work takes.  The workbench's
commands use these too: the workbench may import the product, never the other way
round.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]
Options = TypeVar("Options", bound="DataclassInstance")

JSON_LAST_LINE = "last stdout line: one JSON object"


def command_group(
    sub: Subparsers, name: str, help: str, *, dest: str = "action", metavar: str = "ACTION"
) -> Subparsers:
    """``wastewatch NAME ACTION ...``: a command made of actions, one of which is required."""
    return sub.add_parser(name, help=help).add_subparsers(dest=dest, required=True, metavar=metavar)


def add_action(
    actions: Subparsers,
    name: str,
    handler: Handler,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A (sub)command that runs ``handler(args)``; ``args.parser`` is its parser."""
    p = actions.add_parser(name, help=help, description=description)
    p.set_defaults(handler=handler, parser=p)
    return p


def options_from(cls: type[Options], args: argparse.Namespace, **given: Any) -> Options:
    """A command's options dataclass from its arguments: each field an option of the
    same name sets, ``given`` for the fields computed from them; the rest keep their
    defaults."""
    named = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)
    }
    return cls(**{**named, **given})


def add_json(p: argparse.ArgumentParser, help: str = JSON_LAST_LINE) -> None:
    """``--json``: machine-readable output (by default one JSON object, the last line)."""
    p.add_argument("--json", action="store_true", help=help)


def add_seed(
    p: argparse.ArgumentParser, help: str | None = None, metavar: str | None = None
) -> None:
    """``--seed``: the random seed of a simulation or a solver (default 1)."""
    p.add_argument("--seed", type=int, default=1, metavar=metavar, help=help)


def add_iterations(p: argparse.ArgumentParser) -> None:
    """``--iterations N``: the route solver's search budget per stream, so that a re-run
    of the same inputs and seed gives the same routes on any machine (``PlanOptions``)."""
    p.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        metavar="N",
        help="solver iterations per stream: the same inputs and --seed then give the same "
        "routes on any machine, as long as N runs out before --seconds (default: "
        "--seconds alone)",
    )


def add_service_date(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--date D``: one service day (Asia/Bangkok), required."""
    p.add_argument("--date", type=service_date, required=True, metavar="D", help=help)


def service_date(text: str) -> date:
    """A calendar day, YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def number(text: str) -> float:
    """Any number; the argument's value types below build on it."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_float(text: str) -> float:
    """A number above 0 (a speed, a duration)."""
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be more than 0")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (bins, publishers, seconds between reports)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value
