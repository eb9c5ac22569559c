"""`wastewatch demo`: what `make demo` runs.

For now it brings the local stack up, migrates the database and tells the
user what runs where and how to connect; the full Kalasin pipeline (replay,
live fleet, processors, routes) grows into this command.
"""

from __future__ import annotations

import argparse

from wastewatch.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="start the local stack, migrate, and show how to connect")
    p.set_defaults(handler=run)


def run(_: argparse.Namespace) -> int:
    from schema.migrate import ensure_login_roles, migrate
    from wastewatch.stack.manager import Stack

    stack = Stack(load_settings())
    env = stack.up()
    applied = migrate(env["WW_DB_DSN"])
    ensure_login_roles(
        env["WW_DB_DSN"], writer_dsn=env["WW_DB_WRITER_DSN"], reader_dsn=env["WW_DB_READER_DSN"]
    )
    print("wastewatch local stack (all on 127.0.0.1):")
    for row in stack.status():
        print(f"  {row.name:<12} {'up' if row.up else 'DOWN':<5} {row.address}")
    print(f"  migrations applied now: {len(applied)} (the database is up to date)")
    print(f"\nconnection settings are in {stack.env_file}:")
    for key, value in env.items():
        print(f"  {key}={value}")
    print(
        "\nTry:\n"
        "  .venv/bin/wastewatch services status\n"
        '  psql "$(grep WW_DB_READER_DSN .wastewatch/env | cut -d= -f2-)" '
        "-c 'select * from waste_streams'\n"
        "  .venv/bin/wastewatch kafka list-topics\n"
        "  .venv/bin/wastewatch services down      # stop everything `up` started"
    )
    return 0
