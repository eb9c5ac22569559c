"""The one service skeleton (`wastewatch.core.service`): lifecycle, back-off, database role."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from tests.conftest import SessionDb
from wastewatch.core.service import (
    Backoff,
    Database,
    Service,
    ServiceStateError,
    connect_least_privilege,
)
from wastewatch.errors import WastewatchError


class BoomError(WastewatchError):
    """What the test loop dies of."""


class Loops(Service):
    """A service with one loop that runs until stopped, or dies when told to."""

    def __init__(self, *, fail_start: bool = False) -> None:
        super().__init__("loops")
        self.fail_start = fail_start
        self.starts = 0
        self.stops = 0
        self.die = asyncio.Event()

    async def _start(self) -> None:
        self.starts += 1
        self._spawn(self._loop(), "loops-loop")
        if self.fail_start:
            raise BoomError("start failed after the loop began")

    async def _stop(self) -> None:
        self.stops += 1
        await self._drain(1.0)

    async def _loop(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        dying = asyncio.create_task(self.die.wait())
        await asyncio.wait({stopping, dying}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        dying.cancel()
        if self.die.is_set():
            raise BoomError("the loop died")


@pytest.mark.asyncio
async def test_start_and_stop_twice_run_each_hook_once() -> None:
    svc = Loops()
    await svc.start()
    await svc.start()
    assert svc.starts == 1
    assert svc.running
    assert svc.health() == {"status": "ok", "service": "loops", "running": True}
    await svc.stop()
    await svc.stop()
    assert svc.stops == 1
    assert not svc.running
    assert svc.health()["status"] == "degraded"
    await asyncio.wait_for(svc.wait(), 1)  # the loop ended cleanly: returns, raises nothing


@pytest.mark.asyncio
async def test_stop_before_start_is_safe_and_final() -> None:
    svc = Loops()
    await svc.stop()
    assert svc.stops == 0
    await asyncio.wait_for(svc.wait(), 1)  # nothing runs: returns at once
    with pytest.raises(ServiceStateError):
        await svc.start()
    assert svc.starts == 0


@pytest.mark.asyncio
async def test_wait_raises_what_killed_the_loop_and_the_death_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="wastewatch.core.service")
    async with Loops() as svc:
        svc.die.set()
        with pytest.raises(BoomError, match="the loop died"):
            await asyncio.wait_for(svc.wait(), 2)
        assert not svc.running
        assert [r.getMessage() for r in caplog.records] == ["loops: loops-loop died"]
    assert svc.stops == 1  # stop after a death still runs, and does not raise


@pytest.mark.asyncio
async def test_a_failed_start_stops_what_it_started_and_raises() -> None:
    svc = Loops(fail_start=True)
    with pytest.raises(BoomError, match="start failed"):
        await svc.start()
    assert svc.stops == 1
    assert all(t.done() for t in svc._tasks)


@pytest.mark.asyncio
async def test_async_with_starts_and_stops() -> None:
    async with Loops() as svc:
        assert svc.running
    assert svc.stops == 1
    assert not svc.running


@pytest.mark.asyncio
async def test_wait_covers_the_parts() -> None:
    class Parent(Service):
        def __init__(self) -> None:
            super().__init__("parent")
            self.children = [Loops(), Loops()]

        def _parts(self) -> list[Loops]:
            return self.children

        async def _start(self) -> None:
            await asyncio.gather(*(c.start() for c in self.children))

        async def _stop(self) -> None:
            await asyncio.gather(*(c.stop() for c in self.children))

    async with Parent() as parent:
        waiting = asyncio.create_task(parent.wait())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        parent.children[1].die.set()
        with pytest.raises(BoomError):
            await asyncio.wait_for(waiting, 2)
    assert all(c.stops == 1 for c in parent.children)


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(0.2, 1.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.delay == 0.2
    assert backoff.next() == 0.2
    # A maximum below the first delay: the first wait is still the initial one.
    small = Backoff(0.2, 0.1)
    assert [small.next() for _ in range(3)] == [0.2, 0.1, 0.1]


@pytest.mark.asyncio
async def test_an_unreachable_database_is_retried_with_backoff() -> None:
    failures: list[Exception] = []
    dsn = "postgresql://nobody@127.0.0.1:1/none"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            connect_least_privilege(
                dsn,
                env_name="WW_TEST_DSN",
                connect_timeout_s=1,
                retry_max_s=0.05,
                on_failure=failures.append,
            ),
            1.0,
        )
    assert len(failures) >= 3
    assert all(isinstance(f, psycopg.OperationalError) for f in failures)


# --- the real database: the roles of the session's migrated database ---------------------


@pytest.mark.integration
def test_a_superuser_is_refused_and_a_run_time_role_is_not(test_db: SessionDb) -> None:
    class RefusedError(WastewatchError):
        pass

    async def run() -> None:
        with pytest.raises(RefusedError, match=r"superuser.*WW_TEST_DSN"):
            await connect_least_privilege(
                test_db.dsn, env_name="WW_TEST_DSN", connect_timeout_s=5, error=RefusedError
            )
        prepared: list[Any] = []

        async def prepare(conn: psycopg.AsyncConnection[Any]) -> None:
            prepared.append(conn)

        conn = await connect_least_privilege(
            test_db.ingest_dsn, env_name="WW_TEST_DSN", connect_timeout_s=5, prepare=prepare
        )
        try:
            assert prepared == [conn]
            assert not conn.closed
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.mark.integration
def test_database_reopens_a_lost_connection_and_retries_the_work(test_db: SessionDb) -> None:
    errors: list[Exception] = []

    async def run() -> None:
        db = Database(
            test_db.processor_dsn,
            env_name="WW_TEST_DSN",
            connect_timeout_s=5,
            retry_max_s=0.05,
            label="test",
            on_failure=errors.append,
            autocommit=True,
        )
        first = await db.connection()
        assert db.ok
        await first.close()  # lost: the next run connects again
        calls = 0

        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            nonlocal calls
            calls += 1
            if calls == 1:
                await conn.close()
                raise psycopg.OperationalError("connection lost")
            cur = await conn.execute("select 41 + 1")
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

        assert await db.run(work) == 42
        assert calls == 2
        assert db.ok
        assert db.conn is not None
        assert db.conn is not first

        async def bad(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute("select * from no_such_table")

        with pytest.raises(psycopg.errors.UndefinedTable):  # not retried: an error of the data
            await db.run(bad)
        await db.close()
        assert db.conn is None

    asyncio.run(run())
    assert len(errors) == 1
