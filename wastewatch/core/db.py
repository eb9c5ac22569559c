"""Run-time database roles: no long-running component works as a superuser.

The sink and the processors connect with roles that can write only their own
tables (``ww_ingest``, ``ww_processor``; migration 0009).  A DSN left pointing
at the owner (superuser) account would quietly give them every right, so they
check the role they got and refuse to run as a superuser.
"""

from __future__ import annotations

from typing import Any

import psycopg


async def superuser_role(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """The connected role's name when it is a superuser, else None.

    In a transaction of its own, so that a connection without autocommit is left
    idle, as it came (the sink's later ``conn.transaction()`` must be a real
    BEGIN/COMMIT, not a savepoint in a transaction nobody commits).
    """
    async with conn.transaction():
        cur = await conn.execute(
            "select current_user::text, rolsuper from pg_roles where rolname = current_user"
        )
        row = await cur.fetchone()
    if row is None:
        return None
    name, is_super = row[0], row[1]
    return str(name) if is_super else None


def superuser_message(role: str, setting: str) -> str:
    """One line saying what is wrong and which setting to change."""
    return (
        f"connected to the database as {role!r}, a superuser; run-time components must use "
        f"their own least-privilege role: set {setting} (the local stack's .wastewatch/env "
        "has it)"
    )
