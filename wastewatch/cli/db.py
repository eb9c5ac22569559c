"""`wastewatch db migrate|status`: the database schema."""

from __future__ import annotations

import argparse

from wastewatch.cli.options import Subparsers, add_action, command_group
from wastewatch.core import load_settings


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "db", "database migrations")
    add_action(
        actions, "migrate", migrate, "apply pending migrations (WW_DB_DSN) and set up login roles"
    )
    add_action(actions, "status", status, "list pending migrations")


def migrate(_: argparse.Namespace) -> int:
    from wastewatch.schema import ensure_login_roles, lock_down_cluster
    from wastewatch.schema.migrate import migrate as apply

    settings = load_settings()
    applied = apply(settings.db.dsn)
    db = settings.db
    closed = lock_down_cluster(db.dsn)  # the databases no migration covers (see its docstring)
    roles = ensure_login_roles(
        db.dsn,
        writer_dsn=db.writer_dsn,
        reader_dsn=db.reader_dsn,
        ingest_dsn=db.ingest_dsn,
        processor_dsn=db.processor_dsn,
    )
    if applied:
        for mig in applied:
            print(f"applied {mig.path.name}")
    else:
        print("database is up to date")
    if closed:
        print("closed to PUBLIC (CONNECT, TEMP): " + ", ".join(closed))
    if roles:
        print("login roles ready: " + ", ".join(roles))
    return 0


def status(_: argparse.Namespace) -> int:
    from wastewatch.schema import pending

    todo = pending(load_settings().db.dsn)
    for mig in todo:
        print(f"pending {mig.path.name}")
    if not todo:
        print("database is up to date")
    return 0
