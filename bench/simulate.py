"""`wastewatch bench simulate replay|live`: the simulator's performance targets.

* ``replay``: generate and publish D days of B bins (target: 30 days x 500 bins,
  ~1.4 M readings, in under 2 minutes). With ``--e2e`` it also starts a bridge
  and a sink of its own (subprocesses, own city, own Kafka topic prefix, own
  database, all removed afterwards) and reports when the last reading was in
  TimescaleDB.
* ``live``: run ``simulate live`` for S wall seconds (target: 10,000 bins at one
  reading per minute from one process) and report the achieved rate, the CPU
  share of the process and how far event time fell behind the wall clock.

Each run uses a city slug of its own (``bench-<id>``), so no running bridge of
the real city sees its messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from wastewatch.core import Settings, load_settings
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.ingest import _own_pipeline, _Run, stack_up
from wastewatch.workbench.simulators import (
    LiveOptions,
    MqttTarget,
    Simulation,
    SimulatorError,
    build_simulation,
    reporting_every,
    run_live,
    run_replay,
    target_from_env,
)

__all__ = ["SimBenchOptions", "run_simulate_bench"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SimBenchOptions:
    """What to measure; the CLI's defaults (``wastewatch bench simulate``)."""

    mode: str
    bins: int
    days: float
    interval_s: int
    publishers: int
    seconds: float
    speed: float
    e2e: bool


def _simulation(opts: SimBenchOptions, city_slug: str, start: int, end: int | None) -> Simulation:
    return build_simulation(
        city_slug,
        seed=1,
        start=start,
        end=end,
        bins=opts.bins,
        reporting=reporting_every(opts.interval_s),
    )


def _replay(
    sim: Simulation, target: MqttTarget, opts: SimBenchOptions, run: _Run, progress: Progress
) -> dict[str, Any]:
    return run_replay(
        sim,
        target=target,
        publishers=opts.publishers,
        client_prefix=f"bench-{run.run_id}",
        progress=progress,
    )


def run_simulate_bench(opts: SimBenchOptions, progress: Progress) -> dict[str, Any]:
    """Run one benchmark; the figures as a dict (keys in bench/README.md)."""
    settings = load_settings()
    env = stack_up(settings)
    target = target_from_env(env)
    run = _Run()
    now = int(time.time())
    try:
        if opts.mode == "live":
            sim = _simulation(opts, run.city, now // 60 * 60, None)
            result = run_live(
                sim,
                target,
                LiveOptions(
                    speed=opts.speed, duration_s=opts.seconds, client_prefix=f"bench-{run.run_id}"
                ),
                progress,
            )
            return {
                "mode": "live",
                "bins": opts.bins,
                "interval_s": opts.interval_s,
                "speed": opts.speed,
                "offered_per_s": round(opts.bins / opts.interval_s * opts.speed, 1),
                **{
                    k: result[k]
                    for k in (
                        "messages",
                        "acked",
                        "wall_s",
                        "messages_per_s",
                        "cpu_share",
                        "worst_tick_s",
                        "lag_s",
                    )
                },
            }
        # Event time ends now (to the second), so readings are new to any database.
        sim = _simulation(opts, run.city, now - int(opts.days * 86_400), now)
        if not opts.e2e:
            result = _replay(sim, target, opts, run, progress)
            return _replay_figures(opts, result, None)
        return _replay_e2e(opts, sim, target, run, env, settings, progress)
    except SimulatorError as exc:
        raise BenchError(str(exc)) from exc


def _replay_figures(
    opts: SimBenchOptions, result: dict[str, Any], e2e_s: float | None
) -> dict[str, Any]:
    return {
        "mode": "replay",
        "bins": opts.bins,
        "days": opts.days,
        "publishers": opts.publishers,
        "messages": result["messages"],
        "readings": result["readings_published"],
        "acked": result["acked"],
        "generate_and_publish_s": result["wall_s"],
        "messages_per_s": result["messages_per_s"],
        "e2e_s": None if e2e_s is None else round(e2e_s, 1),
        "e2e_per_s": None if e2e_s is None else round(result["readings_published"] / e2e_s, 1),
    }


def _replay_e2e(
    opts: SimBenchOptions,
    sim: Simulation,
    target: MqttTarget,
    run: _Run,
    env: dict[str, str],
    settings: Settings,
    progress: Progress,
) -> dict[str, Any]:
    with _own_pipeline(env, run, settings, progress) as pipeline:
        pipeline.start("wastewatch.ingest.sink", "sink")
        pipeline.start("wastewatch.ingest.bridge", "bridge")
        time.sleep(3.0)  # the bridge's subscription must exist before the first publish
        pipeline.check()
        started = time.monotonic()
        result = _replay(sim, target, opts, run, progress)
        want = result["readings_published"]
        stored, last_change, last = 0, time.monotonic(), -1
        with psycopg.connect(pipeline.dsns["WW_DB_DSN"]) as conn:
            while stored < want:
                row = conn.execute("select count(*) from readings").fetchone()
                stored = int(row[0]) if row else 0
                if stored != last:
                    last, last_change = stored, time.monotonic()
                    progress(f"e2e: {stored:,}/{want:,} readings stored")
                elif time.monotonic() - last_change > 60:
                    raise BenchError(f"only {stored:,} of {want:,} readings were stored")
                pipeline.check()
                time.sleep(1.0)
        e2e_s = time.monotonic() - started
        return _replay_figures(opts, result, e2e_s)
