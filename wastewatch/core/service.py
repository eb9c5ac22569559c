"""The one skeleton of every long-lived component: bridge, sink, processor stages.

:class:`Service` owns the component's asyncio tasks.  ``start()`` opens what the
component needs and starts its loops (the :meth:`Service._start` hook); calling
it again does nothing.  ``stop()`` may be called any number of times, also
before ``start()``; it runs the :meth:`Service._stop` hook once.  ``wait()``
returns when a loop ends and raises what killed it; ``async with`` starts and
stops; ``health()`` is what ``/healthz`` serves.  A loop that dies is logged at
once (not only when somebody waits for it), and :func:`run_until_signal` ends
the process with an error, so that the supervisor (systemd, docker's restart
policy) restarts it instead of leaving a process that looks alive and does
nothing.

Every retry loop waits by :class:`Backoff` (exponential, capped, reset after a
success), and every run-time database connection is made by
:func:`connect_least_privilege` (or a :class:`Database` that re-opens it): it
refuses a superuser role and retries while the database is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any, Protocol, Self, TypeVar

import psycopg

from wastewatch.core.db import superuser_message, superuser_role
from wastewatch.errors import WastewatchError

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")


class ServiceDiedError(WastewatchError, RuntimeError):
    """The component's work loop ended by itself with an error."""


class ServiceStateError(WastewatchError, RuntimeError):
    """A stopped component was asked to start again (make a new one)."""


class Backoff:
    """Delays of a retry loop: ``initial``, then ``factor`` times longer, at most ``maximum``.

    ``delay`` is the next wait; :meth:`next` returns it and lengthens the one after;
    :meth:`reset` after a success starts again from ``initial``.
    """

    __slots__ = ("delay", "factor", "initial", "maximum")

    def __init__(self, initial: float = 0.2, maximum: float = 5.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.delay = initial

    def next(self) -> float:
        delay = self.delay
        self.delay = min(delay * self.factor, self.maximum)
        return delay

    async def sleep(self) -> None:
        await asyncio.sleep(self.next())

    def reset(self) -> None:
        self.delay = self.initial


class Service:
    """A component that owns its tasks; subclasses fill in the hooks.

    * :meth:`_start` opens resources and starts loops with :meth:`_spawn`.  If it
      raises, ``stop()`` runs (so :meth:`_stop` must cope with a partial start) and
      the error propagates.
    * :meth:`_stop` closes down; the base has set ``_stopping`` first, which loops
      that finish their work in hand watch (:meth:`_drain` waits for them).
    * :meth:`_check` says whether the component is healthy, and its details.
    * :meth:`_parts` lists services it runs inside it (``wait()`` covers them).
    """

    def __init__(self, name: str, *, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._log = logger or log
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False
        self._stopping = asyncio.Event()

    # --- the contract --------------------------------------------------------------------
    async def start(self) -> None:
        """Start; a second call does nothing, a call after ``stop()`` raises."""
        if self._started:
            return
        if self._stopped:
            raise ServiceStateError(f"{self.name} was stopped; it cannot start again")
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop once; safe to repeat, and before ``start()``."""
        if self._stopped:
            return
        self._stopped = True
        if not self._started:
            return
        self._stopping.set()
        await self._stop()

    async def wait(self) -> None:
        """Return when a loop (its own or a part's) ends; raise what ended it."""
        own = list(self._tasks)
        parts = [asyncio.create_task(p.wait(), name=f"{p.name}-wait") for p in self._parts()]
        if not own and not parts:
            return
        try:
            done, _ = await asyncio.wait(own + parts, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in parts:
                p.cancel()
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Started, not stopped, and every loop alive."""
        return bool(self._tasks) and not self._stopped and not any(t.done() for t in self._tasks)

    def health(self) -> dict[str, Any]:
        """``status`` ("ok" or "degraded"), ``service``, then the details of :meth:`_check`."""
        ok, details = self._check()
        return {"status": "ok" if ok else "degraded", "service": self.name, **details}

    # --- hooks ---------------------------------------------------------------------------
    async def _start(self) -> None:
        """Open resources, then start the loops with :meth:`_spawn`."""

    async def _stop(self) -> None:
        """Finish or cancel the loops, close resources (also after a partial start)."""
        await self._cancel(*self._tasks)

    def _check(self) -> tuple[bool, dict[str, Any]]:
        return self.running, {"running": self.running}

    def _parts(self) -> Sequence[Service]:
        return ()

    # --- helpers -------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start a loop owned by this service; its death is logged when it happens."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._log_death)
        self._tasks.append(task)
        return task

    def _log_death(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s: %s died", self.name, task.get_name(), exc_info=task.exception())

    async def _drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the loops to finish their work in hand and end."""
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout_s)
            except TimeoutError:
                self._log.warning(
                    "%s: the batch in hand did not finish in time; it will be replayed", self.name
                )
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not task.cancelled() or (current is not None and current.cancelling()):
                    raise  # we were cancelled ourselves
            except Exception:  # the loop had died: already logged, clean up all the same
                self._log.debug("%s: %s had failed", self.name, task.get_name(), exc_info=True)

    @staticmethod
    async def _cancel(*tasks: asyncio.Task[None]) -> None:
        """Cancel these loops and wait until they have ended (a death was logged)."""
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the database ------------------------------------------------------------------------
async def refuse_superuser(
    conn: Conn, *, env_name: str, error: Callable[[str], Exception] = WastewatchError
) -> None:
    """Raise ``error`` when ``conn``'s role is a superuser (the message names ``env_name``)."""
    role = await superuser_role(conn)
    if role is not None:
        raise error(superuser_message(role, env_name))


async def connect_least_privilege(
    dsn: str,
    *,
    env_name: str,
    connect_timeout_s: int,
    error: Callable[[str], Exception] = WastewatchError,
    autocommit: bool = False,
    prepare: Callable[[Conn], Awaitable[None]] | None = None,
    retry_on: tuple[type[Exception], ...] = (psycopg.OperationalError,),
    retry_max_s: float = 5.0,
    on_failure: Callable[[Exception], None] | None = None,
    label: str = "database",
    logger: logging.Logger | None = None,
) -> Conn:
    """Connect as a run-time role: refuse a superuser, retry while the database is away.

    A superuser role raises ``error`` with :func:`superuser_message`, naming the
    setting ``env_name`` to change; it is not retried.  ``prepare`` runs on each new
    connection (prepared statements, type loaders); an error of ``retry_on`` from
    connecting or preparing is logged, passed to ``on_failure`` and retried with
    :class:`Backoff` (up to ``retry_max_s`` apart), without end.
    """
    backoff = Backoff(maximum=retry_max_s)
    logger = logger or log
    while True:
        conn: Conn | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(
                dsn, connect_timeout=connect_timeout_s, autocommit=autocommit
            )
            await refuse_superuser(conn, env_name=env_name, error=error)
            if prepare is not None:
                await prepare(conn)
        except retry_on as exc:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            if on_failure is not None:
                on_failure(exc)
            logger.warning(
                "%s: database unavailable (%s); retrying in %.1f s",
                label,
                str(exc).strip(),
                backoff.delay,
            )
            await backoff.sleep()
        except BaseException:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            raise
        else:
            return conn


class Database:
    """One least-privilege connection, re-opened when lost; work on it retried.

    ``ok`` says whether the last attempt reached the database (for ``/healthz``).
    The keyword arguments are those of :func:`connect_least_privilege`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        retry_max_s: float,
        label: str,
        on_failure: Callable[[Exception], None] | None = None,
        logger: logging.Logger | None = None,
        **connect: Any,
    ) -> None:
        self._retry_max_s = retry_max_s
        self._label = label
        self._on_failure = on_failure
        self._log = logger or log
        self._open = partial(
            connect_least_privilege,
            dsn,
            retry_max_s=retry_max_s,
            on_failure=self._failed,
            label=label,
            logger=self._log,
            **connect,
        )
        self.conn: Conn | None = None
        self.ok = False

    def _failed(self, exc: Exception) -> None:
        self.ok = False
        if self._on_failure is not None:
            self._on_failure(exc)

    async def connection(self) -> Conn:
        """The open connection, or a new one (waiting for the database meanwhile)."""
        conn = self.conn
        if conn is not None and not conn.closed:
            return conn
        self.conn = conn = await self._open()
        self.ok = True
        return conn

    async def run(self, action: Callable[[Conn], Awaitable[T]], *, what: str = "database") -> T:
        """``action(conn)``, retried on a new connection while the connection fails.

        Only a lost or refused connection is retried; an error of the data (a
        constraint, a value out of range) propagates at once.
        """
        backoff = Backoff(maximum=self._retry_max_s)
        while True:
            conn = await self.connection()
            try:
                result = await action(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._failed(exc)
                self._log.warning(
                    "%s: %s failed (%s); retrying in %.1f s",
                    self._label,
                    what,
                    str(exc).strip(),
                    backoff.delay,
                )
                await self.close()
                await backoff.sleep()
                continue
            self.ok = True
            return result

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


# --- the process -------------------------------------------------------------------------
class Waitable(AbstractAsyncContextManager["Waitable"], Protocol):
    async def wait(self) -> None: ...


async def run_until_signal(component: Waitable, *, name: str) -> None:
    """Enter ``component``; leave it cleanly on SIGTERM/SIGINT; raise if it dies."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    failure: BaseException | None = None
    async with component:
        stopper = asyncio.create_task(stop.wait())
        watcher = asyncio.create_task(component.wait())
        done, _ = await asyncio.wait({stopper, watcher}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if watcher in done:
            failure = watcher.exception() or RuntimeError("work loop ended unexpectedly")
        else:
            watcher.cancel()
    if failure is not None:
        raise ServiceDiedError(f"{name} stopped: {failure!r}") from failure
    log.info("%s stopped on request", name)
