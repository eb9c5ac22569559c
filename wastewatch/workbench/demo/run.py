"""`wastewatch demo`: the whole Kalasin pipeline on the local stack, then a summary.

Steps (README, "make demo"):

1. the local stack up (installs what is missing), migrations, Kafka topics, the
   city registry imported (upsert: safe to repeat);
2. the services as subprocesses: sink, bridge, processors in two processes
   (``collections,alerts,landfill`` and ``forecast,rollups``), each with its
   /metrics; then the simulated fleet (:mod:`wastewatch.workbench.demo.sim_process`);
3. history: the fleet replays the window :func:`~wastewatch.workbench.demo.history.plan_history`
   chose while a progress bar follows publishing, storing and processing, until
   every stage has caught up;
4. today's routes planned (``wastewatch routes plan``, GeoJSON written), the monthly
   report started (``wastewatch report``), and the fleet goes live: accelerated
   until its event time meets the clock, then real time; the screen shows the
   summary until Ctrl-C or ``--minutes``; tomorrow's routes are planned at 21:00
   city time, so the simulated trucks follow them from midnight;
5. stop: the fleet first, then (once the pipeline has drained what the fleet
   published) the processors, the bridge and the sink, each by pid; the final
   summary from the database; exit 1 if any component died.

The local stack itself (Mosquitto, Kafka, TimescaleDB) keeps running, so the
data stays queryable afterwards (history, API, report).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import math
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Final

import psycopg
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from wastewatch.core import Settings, load_settings
from wastewatch.ingest.validate import LANDFILL, READINGS
from wastewatch.processors import READING_STAGES
from wastewatch.processors.collection_stage import EVENTS_TOPIC as EVENTS
from wastewatch.workbench.demo import figures as fig
from wastewatch.workbench.demo import history, summary
from wastewatch.workbench.demo.components import Fleet, Job, Process, Service, port_free
from wastewatch.workbench.demo.errors import DemoError
from wastewatch.workbench.demo.metrics import Scrape, scrape
from wastewatch.workbench.demo.sim_process import FleetConfig
from wastewatch.workbench.stack import free_port

PROCESSOR_SPLIT: Final = ("collections,alerts,landfill", "forecast,rollups")
"""Stages per processors process, as ``bench/eval_processors.py`` spreads them (one
Python process runs on one core)."""
STALL_S: Final = 180.0
PLAN_AHEAD_HOUR: Final = 21
"""City hour (Bangkok) at which the next day's routes are planned during live."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The command's options; their defaults are the CLI's (see ``wastewatch demo --help``)."""

    minutes: float | None
    history_days: float
    bins: int | None
    seed: int
    out: Path
    json: bool
    speed: float
    route_seconds: float
    real_clients: int
    log_dir: Path | None


class _Interrupts:
    """SIGINT/SIGTERM while the demo runs: the first stops it, a second hurries the stop."""

    def __init__(self) -> None:
        self.count = 0
        self._old: dict[int, Any] = {}

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1

    @property
    def stop(self) -> bool:
        return self.count > 0

    @property
    def hurry(self) -> bool:
        return self.count > 1

    def __enter__(self) -> _Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass(slots=True)
class _Pipeline:
    """Counters of one scrape of the bridge, sink and processors."""

    received: float = 0.0
    in_flight: float = 0.0
    produced: float = 0.0
    produced_landfill: float = 0.0
    stored: float = 0.0
    written: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    events_produced: float = 0.0
    landfill_events: float = 0.0
    landfill_tickets: float = 0.0

    @classmethod
    def read(cls, bridge: Scrape, sink: Scrape, procs: Scrape) -> _Pipeline:
        return cls(
            received=bridge.total("ww_bridge_received_total"),
            in_flight=bridge.total("ww_bridge_in_flight"),
            produced=bridge.total("ww_bridge_produced_total", topic=READINGS),
            produced_landfill=bridge.total("ww_bridge_produced_total", topic=LANDFILL),
            stored=sink.total("ww_sink_consumed_total", topic=READINGS),
            written=sink.total("ww_sink_readings_written_total"),
            stages={
                st: procs.total("ww_processor_consumed_total", processor=st, topic=READINGS)
                for st in READING_STAGES
            },
            events_produced=procs.total(
                "ww_processor_produced_total", processor="collections", topic=EVENTS
            ),
            landfill_events=procs.total(
                "ww_processor_consumed_total", processor="landfill", topic=EVENTS
            ),
            landfill_tickets=procs.total(
                "ww_processor_consumed_total", processor="landfill", topic=LANDFILL
            ),
        )

    @property
    def processed(self) -> float:
        return min(self.stages.values()) if self.stages else 0.0

    def caught_up(self, published: float) -> bool:
        """Everything the fleet published is through the bridge, stored and processed."""
        return (
            self.received >= published
            and self.in_flight == 0
            and self.stored >= self.produced
            and self.processed >= self.produced
            and self.landfill_tickets >= self.produced_landfill
            and self.landfill_events >= self.events_produced
        )


def _database_name(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn).get("dbname") or "?")


def _bangkok_today() -> date:
    return datetime.now(summary.BANGKOK).date()


class Demo:
    """One run of the demo; :meth:`run` returns the exit code."""

    def __init__(self, opts: DemoOptions, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.interactive = console.is_terminal and not opts.json
        self.signals = _Interrupts()
        self.t0 = time.monotonic()
        self.timings: dict[str, float] = {}
        self.services: list[Service] = []
        self.fleet: Fleet | None = None
        self.jobs: dict[str, Job] = {}
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.rates: deque[tuple[float, float]] = deque(maxlen=30)
        self.readings_at_live = 0
        self.written_at_live = 0.0
        self.live_started: float | None = None
        self.routes_date = _bangkok_today()
        self.planned_dates: set[date] = set()
        self.finished_jobs: set[str] = set()

    # -- output -------------------------------------------------------------------------

    def say(self, line: str) -> None:
        if self.interactive:
            self.console.print(line, highlight=False)
        else:
            print(line, flush=True)

    # -- 1. prepare -----------------------------------------------------------------------

    def prepare(self) -> Settings:
        from wastewatch.city import import_city, load_city
        from wastewatch.core import create_topics
        from wastewatch.schema import migrate_with_roles
        from wastewatch.workbench.simulators import DEFAULT_CITY_DIR, SimulatorError, select_bins
        from wastewatch.workbench.stack import Stack

        self.say("Starting the local stack (installs what is missing) ...")
        Stack(load_settings()).up()
        settings = load_settings()  # the env file `up` wrote; the environment still wins
        self.settings = settings
        db = settings.db
        self.writer_dsn = db.writer_dsn or db.dsn
        self.reader_dsn = db.reader_dsn or self.writer_dsn
        self.database = _database_name(db.dsn)
        applied = migrate_with_roles(db)
        asyncio.run(create_topics(settings.kafka))
        city = load_city([DEFAULT_CITY_DIR])
        selected = select_bins(city, self.opts.bins)
        registry = city if self.opts.bins is None else _registry(city, selected)
        try:
            counts = import_city(self.writer_dsn, registry)
        except SimulatorError as exc:
            raise DemoError(f"importing the city data failed: {exc}") from exc
        self.devices = [b.reg.device_id for b, _ in selected if b.reg.device_id]
        with fig.connect(self.reader_dsn) as conn:  # before the bridge takes any backlog
            self.readings_before = fig.readings_count(conn)
        self.first_bin = selected[0][0].reg.bin_id
        self.first_zone = selected[0][0].reg.zone
        self.say(
            f"Database {self.database}: {len(applied)} migration(s) applied now; "
            f"city registry imported ({counts}); Kafka topics ready "
            f"(prefix {settings.kafka.topic_prefix or '(none)'})"
        )
        return settings

    # -- 2. components ----------------------------------------------------------------------

    def _port(self, host: str, configured: int, setting: str, what: str) -> int:
        if configured == 0:
            return free_port(host)
        if not port_free(host, configured):
            raise DemoError(
                f"{host}:{configured} ({what} /metrics) is in use: is a {what} already "
                f"running outside the demo? Stop it, or set {setting} to a free port"
            )
        return configured

    def start_services(self) -> None:
        s = self.settings
        hosts = {
            "sink": s.ingest.metrics_host,
            "bridge": s.ingest.metrics_host,
            "processors-1": s.processors.metrics_host,
            "processors-2": s.processors.metrics_host,
        }
        ports = {
            "sink": self._port(
                hosts["sink"], s.ingest.sink_metrics_port, "WW_INGEST_SINK_METRICS_PORT", "sink"
            ),
            "bridge": self._port(
                hosts["bridge"],
                s.ingest.bridge_metrics_port,
                "WW_INGEST_BRIDGE_METRICS_PORT",
                "bridge",
            ),
            "processors-1": self._port(
                hosts["processors-1"],
                s.processors.metrics_port,
                "WW_PROCESSORS_METRICS_PORT",
                "processors",
            ),
            "processors-2": free_port(hosts["processors-2"]),
        }
        base = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "WW_INGEST_SINK_METRICS_PORT": str(ports["sink"]),
            "WW_INGEST_BRIDGE_METRICS_PORT": str(ports["bridge"]),
        }
        py = sys.executable
        specs: list[tuple[str, list[str], dict[str, str], float]] = [
            ("sink", [py, "-m", "wastewatch.ingest.sink"], {}, s.ingest.shutdown_timeout_s),
            ("bridge", [py, "-m", "wastewatch.ingest.bridge"], {}, s.ingest.shutdown_timeout_s),
        ]
        for i, only in enumerate(PROCESSOR_SPLIT, start=1):
            specs.append(
                (
                    f"processors-{i}",
                    [py, "-m", "wastewatch.processors", "--only", only],
                    {"WW_PROCESSORS_METRICS_PORT": str(ports[f"processors-{i}"])},
                    s.processors.shutdown_timeout_s,
                )
            )
        self.env = base
        for name, argv, extra, stop_s in specs:
            host, port = hosts[name], ports[name]
            service = Service(
                name,
                argv,
                {**base, **extra},
                self.log_dir / f"{name}.log",
                metrics_url=f"http://{host}:{port}/metrics",
                health_url=f"http://{host}:{port}/healthz",
                stop_timeout_s=stop_s + 10.0,
            )
            service.start()
            self.services.append(service)
        self.say(
            "Started "
            + ", ".join(f"{p.name} (pid {p.pid})" for p in self.services)
            + f"; logs in {self.log_dir}"
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout_s: float = 90.0) -> None:
        from wastewatch.workbench.demo.metrics import health

        deadline = time.monotonic() + timeout_s
        waiting = list(self.services)
        while waiting:
            self.check_alive()
            if self.signals.stop:
                return
            waiting = [s for s in waiting if (health(s.health_url) or {}).get("status") != "ok"]
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise DemoError(
                    f"{names} did not report healthy within {timeout_s:.0f} s; see "
                    + ", ".join(str(s.log) for s in waiting)
                )
            time.sleep(0.5)

    def check_alive(self) -> None:
        """Raise when a component exited without being asked to."""
        procs: list[Process] = [*self.services]
        if self.fleet is not None:
            procs.append(self.fleet)
        for p in procs:
            if p.died:
                code = p.poll()
                raise DemoError(
                    f"{p.name} (pid {p.pid}) exited with {code}; last lines of {p.log}:\n"
                    + p.tail()
                )

    def behind(self) -> int:
        """Records the sink's and the processors' consumer groups have not committed yet,
        from Kafka's true end offsets (-1 when Kafka cannot say right now)."""
        from wastewatch.core import TopicError, group_lag
        from wastewatch.ingest import consumer_groups as sink_groups
        from wastewatch.processors import consumer_groups as stage_groups

        groups = {**sink_groups(self.settings), **stage_groups(self.settings)}
        try:
            return sum(asyncio.run(group_lag(self.settings.kafka, groups)).values())
        except TopicError:
            return -1

    def pipeline(self) -> _Pipeline:
        by = {s.name: s for s in self.services}
        return _Pipeline.read(
            scrape([by["bridge"].metrics_url]),
            scrape([by["sink"].metrics_url]),
            scrape([s.metrics_url for s in self.services if s.name.startswith("processors")]),
        )

    # -- 3. history -------------------------------------------------------------------------

    def start_fleet(self) -> history.HistoryPlan:
        from wastewatch.workbench.simulators import ReportingConfig

        opts = self.opts
        key = history.FleetKey(
            database=self.database,
            city=self.settings.city,
            seed=opts.seed,
            bins=len(self.devices),
            interval_s=ReportingConfig().report_interval_s,
        )
        with fig.connect(self.reader_dsn) as conn:
            newest = fig.newest_reading(conn, self.devices)
        state_file = opts.out / "fleet-state.json"
        plan = history.plan_history(
            now=int(time.time()),
            days=opts.history_days,
            speed=opts.speed,
            newest=newest,
            saved=history.load_saved(state_file),
            key=key,
        )
        history.save(state_file, history.SavedFleet(key=key, anchor=plan.anchor))
        self.plan = plan
        bridge = next(s for s in self.services if s.name == "bridge")
        cfg = FleetConfig(
            seed=opts.seed,
            bins=opts.bins,
            anchor=plan.anchor,
            publish_from=plan.publish_from,
            live_from=plan.live_from,
            speed=opts.speed,
            real_clients=opts.real_clients,
            bridge_metrics_url=bridge.metrics_url,
        )
        self.fleet = Fleet(
            [sys.executable, "-m", "wastewatch.workbench.demo.sim_process", cfg.to_json()],
            self.env,
            self.log_dir / "fleet.log",
        )
        self.fleet.start()
        self.say(
            f"History ({plan.mode}): {plan.note}; "
            f"{_iso(plan.publish_from)} -> {_iso(plan.live_from)} UTC; fleet pid {self.fleet.pid}"
        )
        return plan

    def replay(self, plan: history.HistoryPlan) -> None:
        """Follow the fleet's replay and the pipeline until every stage caught up."""
        assert self.fleet is not None
        fleet = self.fleet
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.interactive,
        )
        span = max(plan.replay_s, 1)
        pub = progress.add_task(
            "publish history", total=span, info="" if plan.replay_s else "no gap to replay"
        )
        store = progress.add_task("store (sink)   ", total=1, info="")
        proc = progress.add_task("process        ", total=1, info="")
        last_change = time.monotonic()
        last_seen: tuple[float, ...] = ()
        last_line = 0.0
        with progress:
            while not self.signals.stop:
                self.check_alive()
                fleet.drain()
                replay = fleet.last.get("replayed") or fleet.last.get("replay")
                t = int((replay or {}).get("t", plan.publish_from))
                skipping = "skipped" in fleet.last and replay is None
                waiting = "waiting" in fleet.last
                p = self.pipeline()
                published = float((fleet.last.get("replayed") or {}).get("acked", 0))
                done_pub = span if waiting else max(0, t - plan.publish_from)
                if skipping:
                    info = f"re-creating the fleet's state {_iso(int(fleet.last['skipped']['t']))}"
                elif not plan.replay_s:
                    info = "no gap to replay"
                else:
                    info = f"{_local(t)} city time, {int((replay or {}).get('acked', 0)):,} msgs"
                progress.update(pub, completed=done_pub, info=info)
                total = max(p.produced, 1.0)
                progress.update(store, total=total, completed=p.stored, info=f"{p.stored:,.0f}")
                progress.update(
                    proc, total=total, completed=p.processed, info=f"{p.processed:,.0f}"
                )
                skipped = float((fleet.last.get("skipped") or {}).get("t", 0))
                seen = (float(t), skipped, p.received, p.stored, *p.stages.values())
                if seen != last_seen:
                    last_seen, last_change = seen, time.monotonic()
                elif time.monotonic() - last_change > STALL_S:
                    raise DemoError(
                        f"nothing moved for {STALL_S:.0f} s during the history replay; "
                        f"see the logs in {self.log_dir}"
                    )
                if not self.interactive and time.monotonic() - last_line > 10:
                    last_line = time.monotonic()
                    print(
                        f"history: {100 * done_pub / span:5.1f}% published ({info}); "
                        f"{p.stored:,.0f} stored, {p.processed:,.0f} processed "
                        f"of {p.produced:,.0f}",
                        flush=True,
                    )
                if waiting and p.caught_up(published) and self.behind() == 0:
                    break
                time.sleep(1.0)

    # -- 4. routes, report, live ---------------------------------------------------------------

    def plan_routes(self, day: date, *, wait: bool) -> None:
        name = f"routes-{day.isoformat()}"
        geojson = self.opts.out / f"{name}.geojson"
        job = Job(
            name,
            [
                sys.executable,
                "-m",
                "wastewatch",
                "routes",
                "plan",
                "--date",
                day.isoformat(),
                "--seconds",
                f"{self.opts.route_seconds:g}",
                "--seed",
                str(self.opts.seed),
                "--json",
                "--geojson",
                str(geojson),
            ],
            self.env,
            self.log_dir / f"{name}.log",
            stdout_file=self.log_dir / f"{name}.out",
        )
        job.start()
        self.jobs[name] = job
        self.planned_dates.add(day)
        if not wait:
            return
        deadline = time.monotonic() + self.opts.route_seconds + 180
        while job.alive and not self.signals.stop and time.monotonic() < deadline:
            self.check_alive()
            time.sleep(0.5)
        self.finish_job(name)

    def finish_job(self, name: str, timeout_s: float = 5.0) -> None:
        job = self.jobs[name]
        self.finished_jobs.add(name)
        job.stop(timeout_s)
        if job.state == "failed":
            self.failures.append(f"{name} failed (exit {job.poll()}); see {job.log}")
        elif job.state == "killed":
            self.failures.append(f"{name} did not finish in time; see {job.log}")

    def start_report(self) -> None:
        if importlib.util.find_spec("wastewatch.reports") is None:
            self.notes.append("monthly report: skipped (wastewatch.reports is not in this version)")
            return
        self.report_month = datetime.now(summary.BANGKOK).strftime("%Y-%m")
        job = Job(
            "report",
            [
                sys.executable,
                "-m",
                "wastewatch",
                "report",
                "--month",
                self.report_month,
                "--out",
                str(self.opts.out),
            ],
            self.env,
            self.log_dir / "report.log",
            stdout_file=self.log_dir / "report.out",
        )
        job.start()
        self.jobs["report"] = job

    def live(self) -> None:
        assert self.fleet is not None
        with fig.connect(self.reader_dsn) as first:
            self.readings_at_live = fig.readings_count(first)
        p = self.pipeline()
        self.written_at_live = p.written
        self.fleet.go_live()
        self.live_started = time.monotonic()
        deadline = None if self.opts.minutes is None else self.opts.minutes * 60
        how = f"for {self.opts.minutes:g} minutes" if deadline is not None else "until Ctrl-C"
        self.say(f"Live {how}: the fleet publishes over MQTT (x{self.opts.speed:g} at first)")
        last_line = 0.0
        conn: fig.Conn | None = None
        figures: summary.Figures | None = None
        screen = (
            Live(console=self.console, auto_refresh=False, transient=False)
            if self.interactive
            else None
        )
        with screen if screen is not None else contextlib.nullcontext():
            while not self.signals.stop:
                self.check_alive()
                if self.fleet is not None:
                    self.fleet.drain()
                self._jobs_tick()
                try:
                    conn = conn or fig.connect(self.reader_dsn)
                    figures = self.snapshot(conn, "live")
                except psycopg.Error as exc:
                    with contextlib.suppress(psycopg.Error):
                        if conn is not None:
                            conn.close()
                    conn = None
                    why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    self.say(f"the database did not answer ({why}); trying again")
                if figures is not None:
                    if figures.event_time is not None:
                        self._plan_ahead(figures.event_time)
                    if screen is not None:
                        screen.update(summary.render(figures), refresh=True)
                    elif time.monotonic() - last_line > 15:
                        last_line = time.monotonic()
                        print(summary.text(figures), flush=True)
                if deadline is not None and time.monotonic() - self.live_started >= deadline:
                    break
                time.sleep(1.0)
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _jobs_tick(self) -> None:
        for name, job in list(self.jobs.items()):
            if not job.alive and name not in self.finished_jobs:
                self.finish_job(name)

    def _plan_ahead(self, event_time: datetime) -> None:
        local = event_time.astimezone(summary.BANGKOK)
        if local.date() > self.routes_date:
            self.routes_date = local.date()
        tomorrow = local.date() + timedelta(days=1)
        if local.hour >= PLAN_AHEAD_HOUR and tomorrow not in self.planned_dates:
            self.plan_routes(tomorrow, wait=False)

    def snapshot(self, conn: fig.Conn, phase: str) -> summary.Figures:
        p = self.pipeline()
        now = time.monotonic()
        self.rates.append((now, p.written))
        old = next((r for r in self.rates if now - r[0] <= 10.0), self.rates[0])
        rate = (p.written - old[1]) / (now - old[0]) if now - old[0] > 0.5 else None
        city = fig.city_figures(conn, self.routes_date)
        behind = None if city.event_time is None else time.time() - city.event_time.timestamp()
        caught_up = behind is not None and behind < 300
        return self._figures(
            phase,
            city,
            speed=1.0 if caught_up else self.opts.speed,
            readings_total=self.readings_at_live + int(p.written - self.written_at_live),
            readings_per_s=rate,
            pipeline=p,
        )

    def _figures(
        self,
        phase: str,
        city: fig.CityFigures,
        *,
        speed: float | None,
        readings_total: int,
        readings_per_s: float | None,
        pipeline: _Pipeline | None,
    ) -> summary.Figures:
        """The summary's figures: the city's from the database, the run's own."""
        return summary.Figures(
            phase=phase,
            city=self.settings.city,
            database=self.database,
            bins=len(self.devices),
            elapsed_s=time.monotonic() - self.t0,
            event_time=city.event_time,
            speed=speed,
            readings_total=readings_total,
            readings_per_s=readings_per_s,
            urgency=city.urgency,
            alerts=city.alerts,
            fires=city.fires,
            landfill=city.landfill,
            routes_date=self.routes_date,
            routes=city.routes,
            collections_24h=city.collections_24h,
            components=self.component_rows(pipeline),
            notes=tuple(self.notes),
        )

    def component_rows(self, p: _Pipeline | None) -> tuple[summary.ComponentRow, ...]:
        rows: list[summary.ComponentRow] = []
        for s in self.services:
            detail = ""
            if p is not None:
                if s.name == "sink":
                    detail = f"{p.written:,.0f} readings written"
                elif s.name == "bridge":
                    detail = f"{p.received:,.0f} messages in"
                else:
                    only = PROCESSOR_SPLIT[int(s.name[-1]) - 1]
                    detail = only
            rows.append(summary.ComponentRow(s.name, s.pid, s.state, detail))
        if self.fleet is not None:
            last = self.fleet.last
            if "live" in last:
                detail = f"live from {_local(int(last['live']['t']))} city time"
            elif "waiting" in last:
                detail = "history published"
            else:
                detail = "replaying history"
            rows.append(summary.ComponentRow("fleet", self.fleet.pid, self.fleet.state, detail))
        for name, job in self.jobs.items():
            rows.append(summary.ComponentRow(name, job.pid, job.state, "one-shot"))
        return tuple(rows)

    # -- 5. stop ----------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Fleet, (drain), processors, bridge, sink - by pid, newest first; then the jobs."""
        hurry = self.signals.hurry
        if self.fleet is not None:
            self.fleet.stop(5.0 if hurry else 60.0)
            if self.fleet.state == "killed":
                self.failures.append("the fleet did not stop in time and was killed")
        if not hurry and not self.failures and self.fleet is not None:
            self._drain()
        for service in reversed(self.services):
            service.stop(5.0 if self.signals.hurry else service.stop_timeout_s)
            if service.state == "killed":
                self.failures.append(f"{service.name} did not stop in time and was killed")
        for name, job in self.jobs.items():
            if job.alive:
                deadline = time.monotonic() + (5.0 if self.signals.hurry else 120.0)
                while job.alive and time.monotonic() < deadline and not self.signals.hurry:
                    time.sleep(0.5)
            if name not in self.finished_jobs:
                self.finish_job(name)

    def _drain(self, timeout_s: float = 60.0) -> None:
        """Wait until what the fleet published is stored and processed (bounded)."""
        assert self.fleet is not None
        done = self.fleet.last.get("done") or {}
        acked = float((done.get("replay") or {}).get("acked", 0)) + float(
            (done.get("live") or {}).get("acked") or 0
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.signals.hurry:
            with contextlib.suppress(DemoError):
                self.check_alive()
            if self.pipeline().caught_up(acked) and self.behind() == 0:
                return
            time.sleep(1.0)
        self.notes.append(
            "the pipeline had not processed everything the fleet published when the demo "
            "stopped; the rest is stored when the demo runs again"
        )

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> int:
        opts = self.opts
        self.prepare()
        self.log_dir = (opts.log_dir or self.settings.state_dir / "logs" / "demo").resolve()
        opts.out.mkdir(parents=True, exist_ok=True)
        self.timings["prepare_s"] = time.monotonic() - self.t0
        error: DemoError | None = None
        with self.signals:
            try:
                self.start_services()
                t = time.monotonic()
                if not self.signals.stop:
                    plan = self.start_fleet()
                    self.replay(plan)
                self.timings["history_s"] = time.monotonic() - t
                t = time.monotonic()
                if not self.signals.stop:
                    self.say(f"Planning the routes for {self.routes_date} ...")
                    self.plan_routes(self.routes_date, wait=True)
                    self.timings["routes_s"] = time.monotonic() - t
                if not self.signals.stop:
                    self.start_report()
                    t = time.monotonic()
                    self.live()
                    self.timings["live_s"] = time.monotonic() - t
            except DemoError as exc:
                error = exc
                self.failures.append(str(exc).splitlines()[0])
            finally:
                t = time.monotonic()
                self.say(
                    "Stopping (Ctrl-C again to hurry) ..."
                    if self.signals.stop
                    else "Stopping: the fleet, then the processors, the bridge and the sink ..."
                )
                self.stop_all()
                self.timings["stop_s"] = time.monotonic() - t
        if error is not None:
            print(f"wastewatch demo: {error}", file=sys.stderr, flush=True)
        return self.finish()

    def finish(self) -> int:
        """The final summary from the database, the files written, what to try next."""
        try:
            with fig.connect(self.reader_dsn) as conn:
                total = fig.readings_count(conn)
                city = fig.city_figures(conn, self.routes_date)
        except psycopg.Error as exc:
            raise DemoError(f"cannot read the final figures from the database: {exc}") from exc
        live_s = self.timings.get("live_s")
        rate = (
            (total - self.readings_at_live) / live_s
            if live_s and self.live_started is not None
            else None
        )
        figures = self._figures(
            "stopped" if not self.failures else "failed",
            city,
            speed=None,
            readings_total=total,
            readings_per_s=rate,
            pipeline=None,
        )
        files = self._files()
        ok = not self.failures
        print("\n=== wastewatch demo: final summary ===", flush=True)
        print(summary.text(figures))
        for what, where in files.items():
            print(f"{what:<14} {where}")
        for failure in self.failures:
            print(f"FAILED: {failure}")
        print(self._next_steps())
        if self.opts.json:
            out = summary.as_dict(figures)
            fleet_done = (self.fleet.last.get("done") if self.fleet is not None else None) or {}
            out.update(
                {
                    "ok": ok,
                    "readings_before": self.readings_before,
                    "readings_stored_this_run": total - self.readings_before,
                    "readings_published_this_run": fleet_done.get("readings_published"),
                    "history": None
                    if not hasattr(self, "plan")
                    else {
                        "mode": self.plan.mode,
                        "note": self.plan.note,
                        "anchor": _iso(self.plan.anchor),
                        "from": _iso(self.plan.publish_from),
                        "to": _iso(self.plan.live_from),
                        "replay": fleet_done.get("replay"),
                    },
                    "live": fleet_done.get("live"),
                    "speed": self.opts.speed,
                    "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
                    "files": {k: str(v) for k, v in files.items()},
                    "failures": self.failures,
                }
            )
            print(json.dumps(out, ensure_ascii=False, separators=(",", ":")), flush=True)
        return 0 if ok else 1

    def _files(self) -> dict[str, str]:
        files: dict[str, str] = {}
        for name, job in self.jobs.items():
            if name.startswith("routes-"):
                geojson = self.opts.out / f"{name}.geojson"
                files[f"{name} GeoJSON"] = (
                    str(geojson) if geojson.exists() else f"not written ({job.state})"
                )
        report = self.jobs.get("report")
        if report is not None:
            html = [ln for ln in report.output().splitlines() if ln.endswith(".html")]
            files["report"] = html[0] if html else f"not written ({report.state}, see {report.log})"
        else:
            files["report"] = "skipped"
        files["logs"] = str(self.log_dir)
        return files

    def _next_steps(self) -> str:
        ww = ".venv/bin/wastewatch"
        api = self.settings.api
        base = f"http://{api.host}:{api.port}"
        day = self.routes_date.isoformat()
        month = datetime.now(summary.BANGKOK).strftime("%Y-%m")
        lines = ["", "Query the history (read-only role):"]
        if importlib.util.find_spec("wastewatch.cli.history") is not None:
            lines += [
                f"  {ww} history --days {math.ceil(self.opts.history_days)} --by stream",
                f"  {ww} history --bin {self.first_bin} --days 2",
            ]
        lines += [
            f"  {ww} bins list --zone {self.first_zone}",
            f"  {ww} landfill status",
            f"  {ww} routes plan --date {day} --dry-run --print kls-truck-01",
        ]
        if importlib.util.find_spec("wastewatch.reports") is not None:
            lines.append(f"  {ww} report --month {month} --out {self.opts.out}")
        if importlib.util.find_spec("wastewatch.cli.api") is not None:
            lines += [
                "The read-only HTTP API (OpenAPI at /docs):",
                f"  {ww} api --port {api.port}",
                f"  curl '{base}/v1/bins?urgency=urgent&urgency=overflowing&sort=collect_by'",
                f"  curl '{base}/v1/alerts?state=open&kind=fire'",
                f"  curl '{base}/v1/routes/{day}'",
                f"  curl '{base}/v1/landfill'",
                f"  curl '{base}/v1/history?days={math.ceil(self.opts.history_days)}&by=stream'",
            ]
        lines += [
            "Grafana boards (need Docker; grafana/README.md): cp .env.example .env (set its",
            "  secrets), docker compose --profile demo up -d, open http://127.0.0.1:3000",
            f"The local stack keeps running; `{ww} services down` stops it.",
        ]
        return "\n".join(lines)


def _registry(city: Any, selected: list[tuple[Any, int]]) -> Any:
    """The city data with only the simulated bins, and a truck set per clone group
    (beyond the registry's own bins, as ``wastewatch.workbench.simulators.engine.select_bins``
    clones them)."""
    trucks = []
    unmetered: dict[str, float] = {}
    for group in sorted({g for _, g in selected}):
        for t in city.trucks:
            copy = t
            if group:
                copy = t.model_copy(
                    update={"truck_id": f"{t.truck_id}-c{group}", "name": f"{t.name} ({group + 1})"}
                )
            trucks.append(copy)
            unmetered[copy.truck_id] = city.unmetered_kg_per_day.get(t.truck_id, 0.0)
    return replace(
        city,
        bins=tuple(b for b, _ in selected),
        trucks=tuple(trucks),
        unmetered_kg_per_day=unmetered,
    )


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _local(ts: int) -> str:
    return datetime.fromtimestamp(ts, summary.BANGKOK).strftime("%Y-%m-%d %H:%M")


def run_demo(opts: DemoOptions, console: Console | None = None) -> int:
    return Demo(opts, console or Console()).run()
