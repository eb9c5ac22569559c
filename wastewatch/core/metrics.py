"""A tiny HTTP server for /metrics (Prometheus text format) and /healthz (JSON).

Both the bridge and the sink serve it on 127.0.0.1 by default.  asyncio's own
streams keep it dependency-free and inside the service's event loop, so
/healthz reports the live state of the running components.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

log = logging.getLogger(__name__)


def new_registry() -> CollectorRegistry:
    """A service's own registry, exposed without the ``*_created`` series.

    prometheus_client adds a ``<name>_created`` gauge (a Unix time) beside every
    counter and histogram of the text format: twice the series, named against the
    ``_timestamp_seconds`` convention, and read by nothing (Prometheus takes the
    start time from the counter's resets).  Turned off process-wide.

    Conventions of every ``ww_*`` metric (tests/test_metrics_conventions.py):
    snake_case with the ``ww_<component>_`` prefix, counters ending in ``_total``,
    base units only (``_seconds``, ``_bytes``), a Unix time in a gauge ending in
    ``_timestamp_seconds``, and each series of a known, finite label value (dead-letter
    reasons, topics, stages, broker events) created at 0 at start-up, so that
    ``rate()`` and ``increase()`` count the first event.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]
    return CollectorRegistry()


HealthFn = Callable[[], dict[str, Any]]


class MetricsServer:
    """Serve the registry and a health function until stopped."""

    def __init__(
        self, registry: CollectorRegistry, health: HealthFn, *, host: str, port: int
    ) -> None:
        self._registry = registry
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._port == 0 and self._server is None:
            return
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("metrics on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else "/"
            if path.startswith("/metrics"):
                status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
            elif path.startswith("/healthz"):
                report = self._health()
                status = 200 if report.get("status") == "ok" else 503
                ctype, body = "application/json", json.dumps(report).encode()
            else:
                status, ctype, body = 404, "text/plain", b"not found: try /metrics or /healthz\n"
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
