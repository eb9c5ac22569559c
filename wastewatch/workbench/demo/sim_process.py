"""The demo's simulated fleet as a process of its own: ``python -m
wastewatch.workbench.demo.sim_process CONFIG``.

One simulation (``wastewatch.workbench.simulators.engine.Simulation``) from the plan's anchor:

1. generate silently up to ``publish_from`` (a later demo run continues the
   fleet of an earlier one without a jump in the bins' state);
2. replay ``publish_from .. live_from`` as fast as the pipeline takes it, with
   the simulator's publisher processes (QoS 1, per-device order; every connection
   here and in step 4 reconnects after a broker restart and re-sends what had no
   PUBACK, see ``wastewatch.workbench.simulators.publish``), holding back
   while the bridge is more than ``max_backlog`` messages behind (Mosquitto
   would drop what exceeds its queue for the bridge's session);
3. wait for ``live`` on stdin (the demo sends it once the history is processed
   and today's routes are planned);
4. run live (``wastewatch.workbench.simulators.run.run_live``): event time at ``speed`` times the
wall
   clock until it reaches the clock, then real time, until SIGTERM/SIGINT.

CONFIG is a JSON object (keys of :class:`FleetConfig`); the city, MQTT broker
and database come from the settings (``WW_*``), like every other component.
Progress goes to stdout as one JSON object per line (``event`` = ``started``,
``skipped``, ``replay``, ``replayed``, ``waiting``, ``live``, ``done``) for
the demo to read; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import sys
import time
import uuid
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any

from wastewatch.workbench.demo.metrics import scrape

log = logging.getLogger("wastewatch.workbench.demo.sim_process")


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """What the demo tells its fleet process."""

    seed: int
    bins: int | None
    anchor: int
    publish_from: int
    live_from: int
    speed: float
    real_clients: int = 20
    pool: int = 4
    publishers: int = 2
    bridge_metrics_url: str | None = None
    max_backlog: int = 200_000

    def to_json(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str) -> FleetConfig:
        raw = json.loads(text)
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


def emit(event: str, **data: Any) -> None:
    """One progress line for the demo (stdout is a pipe it reads)."""
    sys.stdout.write(json.dumps({"event": event, **data}, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def _published(sim: Any) -> int:
    return sum(d.counters.published for d in sim.devices)


def _bridge_received(url: str | None) -> float | None:
    if url is None:
        return None
    m = scrape([url], timeout_s=2.0)
    if not m.samples:
        return None
    return m.total("ww_bridge_received_total")


def run(cfg: FleetConfig, stop: _Stop) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; the totals."""
    from wastewatch.core import load_settings
    from wastewatch.workbench.simulators import (
        DbPlanSource,
        LiveOptions,
        MqttTarget,
        PublisherPool,
        QuietPlanSource,
        build_simulation,
        run_live,
    )

    settings = load_settings()
    sim = build_simulation(
        settings.city,
        seed=cfg.seed,
        start=cfg.anchor,
        bins=cfg.bins,
        # an unreachable database means the fixed schedule; plan tables in the wrong
        # shape are still an error
        plans=QuietPlanSource(
            DbPlanSource(settings.db.reader_dsn or settings.db.dsn),
            warn=lambda exc: log.warning("fixed schedule: %s", exc),
        ),
    )
    target = MqttTarget.from_url(settings.mqtt.url, ca_file=settings.mqtt.ca_file)
    prefix = f"ww-demo-{uuid.uuid4().hex[:6]}"
    emit("started", devices=len(sim.devices), anchor=cfg.anchor)
    log.info("fleet of %d devices from %s (%s)", len(sim.devices), cfg.anchor, cfg.to_json())

    # 1. Silently up to the newest stored reading.
    skip_to = cfg.publish_from - 1
    t = cfg.anchor
    while t < skip_to and not stop.requested:
        t = min(t + 6 * 3600, skip_to)
        sim.advance(t)
        emit("skipped", t=t)
    base = _published(sim)
    totals: dict[str, Any] = {"devices": len(sim.devices)}
    if cfg.publish_from > cfg.anchor:
        log.info("generated (unpublished) up to %d", sim.now)

    # 2. The history, as fast as the pipeline takes it.
    if cfg.publish_from < cfg.live_from and not stop.requested:
        generated = 0
        started = time.monotonic()
        pool = PublisherPool(target, prefix, cfg.publishers)
        try:
            pool.start()
            log.info("replay: %d publisher processes ready", cfg.publishers)
            last = 0.0
            t = max(sim.now, cfg.publish_from - 1)
            while t < cfg.live_from - 1 and not stop.requested:
                t = min(t + 3600, cfg.live_from - 1)
                batch = sim.advance(t)
                generated += len(batch)
                pool.send(batch)
                pool.poll()
                while not stop.requested:
                    received = _bridge_received(cfg.bridge_metrics_url)
                    if received is None or pool.acked() - received <= cfg.max_backlog:
                        break
                    time.sleep(0.5)
                    pool.poll()
                now = time.monotonic()
                if now - last >= 0.5:
                    last = now
                    emit("replay", t=t, generated=generated, acked=pool.acked())
            if stop.requested:
                published, acked = 0, pool.acked()
            else:
                published, acked = pool.finish()
        finally:
            pool.close()
        totals["replay"] = {
            "messages": generated,
            "published": published,
            "acked": acked,
            "reconnects": pool.reconnects,
            "readings": _published(sim) - base,
            "wall_s": round(time.monotonic() - started, 1),
        }
        emit("replayed", t=sim.now, **totals["replay"])
        log.info("replay done: %s", totals["replay"])

    # 3. Wait for the go.
    if not stop.requested:
        emit("waiting", t=sim.now)
        if not _wait_for_live(stop):
            stop.requested = True

    # 4. Live, until stopped.
    if not stop.requested:
        emit("live", t=sim.now, speed=cfg.speed)
        log.info("live from %d at x%g until the clock, then real time", sim.now, cfg.speed)
        result = run_live(
            sim,
            target,
            LiveOptions(
                speed=cfg.speed,
                real_clients=cfg.real_clients,
                pool_connections=cfg.pool,
                client_prefix=prefix,
                max_lead_s=0.0,
            ),
            lambda line: log.info("%s", line),
        )
        totals["live"] = {
            k: result.get(k)
            for k in (
                "messages",
                "published",
                "acked",
                "reconnects",
                "wall_s",
                "messages_per_s",
                "lag_s",
            )
        }
        totals["live"]["until"] = sim.now
    totals["readings_published"] = _published(sim) - base
    return totals


def _wait_for_live(stop: _Stop) -> bool:
    """True when the demo wrote ``live``; False on EOF (the demo went away) or a stop."""
    fd = sys.stdin.fileno()
    buffer = b""
    while not stop.requested:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 1024)
        if not chunk:
            return False
        buffer += chunk
        if b"live" in buffer:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    from wastewatch.core import configure, load_settings
    from wastewatch.workbench.simulators import SimulatorError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wastewatch.workbench.demo.sim_process CONFIG_JSON", file=sys.stderr)
        return 2
    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    stop = _Stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        totals = run(FleetConfig.from_json(args[0]), stop)
    except SimulatorError as exc:
        log.exception("the simulated fleet failed")
        emit("failed", error=str(exc))
        return 1
    emit("done", **totals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
