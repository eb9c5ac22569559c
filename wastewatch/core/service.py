"""Run a long-lived component until SIGTERM/SIGINT, or until it dies.

Every service (bridge, sink, processors) has ``start()/stop()``, ``async with``
and ``wait()``, which returns only when its work loop ends and raises what
killed it.  A loop that dies must end the process with an error, so that the
supervisor (systemd, docker's restart policy) restarts it, instead of leaving
a process that looks alive and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from wastewatch.errors import WastewatchError

log = logging.getLogger(__name__)


class ServiceDiedError(WastewatchError, RuntimeError):
    """The component's work loop ended by itself with an error."""


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
