"""Deliver critical alerts (fire) to an HTTP webhook, with retries, from the outbox.

Delivery semantics
------------------
* The alerts processor writes a row into ``webhook_outbox`` in the same
  transaction as the alert, so a notification exists exactly when the alert
  does; this notifier reads the outbox after commits (and every
  ``poll_s``), POSTs each payload (the ``alert.v1`` JSON) to
  ``WW_PROCESSORS_WEBHOOK_URL`` and deletes the row after a 2xx answer.
* A failure is retried with exponential back-off (``webhook_backoff_s``,
  doubled) up to ``webhook_retries`` times, then the row is dropped and the
  failure logged and counted (``ww_processor_webhook_given_up_total``): a
  dead receiver must not stall the alerts for ever.
* At-least-once: a crash after the POST and before the delete sends it again;
  receivers deduplicate on ``alert_id``.
* The POST runs in a thread (urllib is blocking) with ``webhook_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.error
import urllib.request
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter

from wastewatch.core import Settings
from wastewatch.processors.errors import WebhookError

log = logging.getLogger(__name__)


def post_json(url: str, body: bytes, timeout_s: float) -> int:
    """POST ``body`` as JSON; the HTTP status, or WebhookError for transport failures."""
    req = urllib.request.Request(  # noqa: S310 - the URL is the operator's own setting
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        raise WebhookError(f"POST {url} failed: {exc}") from exc


class WebhookNotifier:
    """Background delivery of ``webhook_outbox`` rows; `start()`/`stop()`/`kick()`."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        cfg = settings.processors
        self._url = cfg.webhook_url
        self._timeout = cfg.webhook_timeout_s
        self._retries = cfg.webhook_retries
        self._backoff = cfg.webhook_backoff_s
        self._dsn = settings.db.for_processors()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.poll_s = 5.0
        self.delivered = Counter(
            "ww_processor_webhook_delivered_total",
            "webhook notifications delivered",
            registry=registry,
        )
        self.failures = Counter(
            "ww_processor_webhook_failures_total", "failed webhook attempts", registry=registry
        )
        self.given_up = Counter(
            "ww_processor_webhook_given_up_total",
            "notifications dropped after all retries",
            registry=registry,
        )

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def kick(self) -> None:
        """Something may have been added to the outbox: look now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_pending()
            except psycopg.Error as exc:
                log.warning("webhook outbox unavailable (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    async def deliver_pending(self) -> int:
        """Deliver (or give up on) every outbox row; the number delivered."""
        assert self._url is not None
        done = 0
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            rows = await (
                await conn.execute(
                    "select id, alert_id, payload, attempts from webhook_outbox order by id"
                )
            ).fetchall()
            for row_id, alert_id, payload, attempts in rows:
                ok = await self._deliver(conn, row_id, alert_id, payload, attempts)
                done += ok
        return done

    async def _deliver(
        self,
        conn: psycopg.AsyncConnection[Any],
        row_id: int,
        alert_id: str,
        payload: dict[str, Any],
        attempts: int,
    ) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        delay = self._backoff * (2**attempts)
        while True:
            error = ""
            try:
                status = await asyncio.to_thread(post_json, self._url or "", body, self._timeout)
                if 200 <= status < 300:
                    await conn.execute("delete from webhook_outbox where id = %s", [row_id])
                    self.delivered.inc()
                    log.info("webhook: delivered %s", alert_id)
                    return True
                error = f"HTTP {status}"
            except WebhookError as exc:
                error = str(exc)
            attempts += 1
            self.failures.inc()
            if attempts > self._retries:
                await conn.execute("delete from webhook_outbox where id = %s", [row_id])
                self.given_up.inc()
                log.error(
                    "webhook: gave up on %s after %d attempts (%s)", alert_id, attempts, error
                )
                return False
            await conn.execute(
                "update webhook_outbox set attempts = %s, last_error = %s where id = %s",
                [attempts, error, row_id],
            )
            log.warning(
                "webhook: %s failed (%s); retry %d in %.1f s", alert_id, error, attempts, delay
            )
            await asyncio.sleep(delay)
            delay *= 2
