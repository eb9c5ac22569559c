"""`wastewatch process`: run the selected processor stages in one process.

Each stage keeps its own consumer group, database connection and loop
(:class:`wastewatch.processors.runtime.StageRunner`); they share one Kafka producer, the
bin registry, the webhook notifier and one /metrics + /healthz server
(``WW_PROCESSORS_METRICS_PORT``).  Delivery semantics are those of
:mod:`wastewatch.processors.runtime` and each stage module.  If any stage's loop dies the
service ends with an error, so the supervisor restarts it; on SIGTERM each
stage finishes its batch (produce, write, commit) and leaves its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from wastewatch.core import MetricsServer, Service, Settings, run_until_signal
from wastewatch.processors.alert_stage import READINGS_TOPIC, AlertStage
from wastewatch.processors.collection_stage import CollectionStage
from wastewatch.processors.errors import ConfigError, ProcessorError
from wastewatch.processors.forecast_stage import ForecastStage
from wastewatch.processors.landfill_stage import LandfillStage
from wastewatch.processors.rollup_stage import RollupStage
from wastewatch.processors.runtime import Registry, Stage, StageMetrics, StageRunner
from wastewatch.processors.webhook import WebhookNotifier

log = logging.getLogger(__name__)

STAGES: Final[dict[str, type[Stage]]] = {
    "collections": CollectionStage,
    "forecast": ForecastStage,
    "alerts": AlertStage,
    "landfill": LandfillStage,
    "rollups": RollupStage,
}
READING_STAGES: Final = tuple(n for n, stage in STAGES.items() if READINGS_TOPIC in stage.topics)
"""The stages that consume readings (whose receive-to-commit lag the benches report)."""


def consumer_groups(settings: Settings, only: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Each stage's consumer group and the topics it reads: what a lag check must cover."""
    names = list(only) if only else list(STAGES)
    return {settings.processors.group_prefix + n: list(STAGES[n].topics) for n in names}


def parse_only(text: str | None) -> list[str]:
    """``collections,alerts`` -> those names, checked; None or empty -> all of them."""
    if not text:
        return list(STAGES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"unknown processor(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    return list(dict.fromkeys(names))


class ProcessorService(Service):
    """The selected stages, started and stopped together; `async with` it."""

    def __init__(self, settings: Settings, only: Sequence[str] | None = None) -> None:
        super().__init__("processors", logger=log)
        self._settings = settings
        names = list(only) if only else list(STAGES)
        self.metrics = StageMetrics()
        self.registry = Registry(settings.processors.registry_refresh_s)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap,
            acks="all",
            enable_idempotence=settings.kafka.enable_idempotence,
            linger_ms=settings.kafka.linger_ms,
            request_timeout_ms=settings.kafka.request_timeout_ms,
            client_id="ww-processors",
        )
        self.webhook = WebhookNotifier(settings, self.metrics.registry)
        self.runners = [
            StageRunner(STAGES[n](settings, self.registry), settings, self._producer, self.metrics)
            for n in names
        ]
        for runner in self.runners:
            if runner.name == "alerts":
                runner.after_commit = self.webhook.kick
        cfg = settings.processors
        self._http = MetricsServer(
            self.metrics.registry, self.health, host=cfg.metrics_host, port=cfg.metrics_port
        )

    def runner(self, name: str) -> StageRunner:
        return next(r for r in self.runners if r.name == name)

    def _parts(self) -> Sequence[StageRunner]:
        return self.runners

    async def _start(self) -> None:
        try:
            await self._producer.start()
        except (KafkaError, OSError) as exc:  # stop() closes it
            raise ProcessorError(
                f"cannot reach Kafka at {self._settings.kafka.bootstrap}: {exc!r}"
            ) from exc
        # Concurrently: a consumer's start waits for its group join, which the
        # broker may hold back for a rebalance delay; five in a row add up.
        await asyncio.gather(*(r.start() for r in self.runners))
        await self.webhook.start()
        await self._http.start()
        log.info("processors started: %s", ", ".join(r.name for r in self.runners))

    async def _stop(self) -> None:
        """Also after a partial start: each part's stop is safe before its start."""
        await asyncio.gather(*(r.stop() for r in self.runners), return_exceptions=True)
        await self.webhook.stop()
        with contextlib.suppress(Exception):
            await self._producer.stop()
        await self._http.stop()

    @property
    def metrics_port(self) -> int:
        return self._http.port

    def _check(self) -> tuple[bool, dict[str, Any]]:
        stages: dict[str, Any] = {}
        ok = True
        for r in self.runners:
            good = r.running and r.db_ok
            ok = ok and r.running
            stages[r.name] = {
                "running": r.running,
                "database": r.db_ok,
                "records": r.records_done,
                "seconds_since_commit": round(time.time() - r.last_commit, 1)
                if r.last_commit
                else None,
                "ok": good,
            }
        return ok, {"stages": stages}


async def serve(settings: Settings, only: Sequence[str] | None = None) -> None:
    """Run until SIGTERM/SIGINT (finish batches, stop) or until a stage dies."""
    await run_until_signal(ProcessorService(settings, only), name="processors")
