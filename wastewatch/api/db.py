"""The API's database access: one pool of read-only connections.

Three layers keep the API from ever writing:

1. it connects only with ``WW_DB_READER_DSN`` (the ``ww_reader`` role, SELECT only);
2. at start it checks that this role holds no INSERT/UPDATE/DELETE privilege on the
   tables it serves, and refuses to start otherwise (a writer DSN pasted by mistake);
3. every connection runs with ``default_transaction_read_only = on`` and a
   statement timeout (``WW_API_STATEMENT_TIMEOUT_MS``), so a costly query is
   cancelled rather than holding a connection.

Connections are in autocommit mode: each query is its own read-only transaction.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from wastewatch.api.errors import ApiConfigError
from wastewatch.queries import Query

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]

#: Tables the API serves; its role must not be able to change any of them.
SERVED_TABLES: Final = (
    "bins",
    "zones",
    "waste_streams",
    "readings",
    "bin_state",
    "collections",
    "bin_hourly",
    "alerts",
    "landfill_sites",
    "landfill_daily",
    "landfill_projections",
    "route_plans",
    "route_stops",
)


async def check_read_only(conn: Conn) -> str:
    """The connection's role, after checking it cannot change any table the API serves."""
    try:
        row = await (await conn.execute("select current_user")).fetchone()
        role = str(row[0]) if row else "?"
        cur = await conn.execute(
            # a table that does not exist (yet) gives NULL here, not an error
            "select t from unnest(%s::text[]) t "
            "where has_table_privilege(to_regclass(t), 'INSERT, UPDATE, DELETE, TRUNCATE')",
            [list(SERVED_TABLES)],
        )
        writable = [r[0] for r in await cur.fetchall()]
    except psycopg.Error as exc:
        raise ApiConfigError(f"cannot check the database role: {exc}") from exc
    if writable:
        raise ApiConfigError(
            f"the role {role!r} of WW_DB_READER_DSN can change {', '.join(writable)}; "
            "the API needs the read-only role (ww_reader)"
        )
    return role


async def preflight(dsn: str) -> str:
    """One direct connection: the database answers and the role is read-only (fast fail)."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ApiConfigError(f"cannot connect with WW_DB_READER_DSN: {first}") from exc
    async with conn:
        return await check_read_only(conn)


class Database:
    """A pool of read-only connections; ``start()`` / ``stop()`` or ``async with``."""

    def __init__(self, dsn: str, *, max_size: int = 4, statement_timeout_ms: int = 10_000) -> None:
        self.dsn = dsn
        self._timeout = str(statement_timeout_ms)
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,
            name="ww-api",
            timeout=15.0,
        )
        self.role: str | None = None

    async def _configure(self, conn: Conn) -> None:
        await conn.execute("select set_config('default_transaction_read_only', 'on', false)")
        await conn.execute("select set_config('statement_timeout', %s, false)", [self._timeout])

    async def start(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=15.0)
        except PoolTimeout as exc:
            await self.pool.close()
            raise ApiConfigError(
                "cannot connect to the database with WW_DB_READER_DSN within 15 s; is "
                "the database up (`wastewatch services status`) and the DSN right?"
            ) from exc
        try:
            async with self.pool.connection() as conn:
                self.role = await check_read_only(conn)
        except BaseException:
            await self.pool.close()
            raise
        log.info("API database pool open as role %s", self.role)

    async def stop(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def fetch(self, query: Query) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.sql, query.params)
            return await cur.fetchall()

    async def fetch_column(self, query: Query) -> list[Any]:
        return [r[0] for r in await self.fetch(query)]
