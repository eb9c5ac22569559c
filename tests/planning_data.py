"""A short simulated Kalasin replay through the real processors, for the planners' tests.

Shared by ``test_history_cli.py``, ``test_api.py`` and ``test_report.py`` and built once
per test process (the first module that asks builds it, the others reuse it):

1. the Kalasin city data with every id prefixed (zones, bins, devices, depot, trucks,
   landfill site), its first ``BINS`` sensored bins, imported into the session database;
2. the simulator (seeded, deterministic) for ``DAYS`` days from ``START``: every message
   goes through the bridge's validation (``wastewatch.ingest.validate.classify``) and the sink's row
   code and batch writer (``wastewatch.ingest.rows``, ``wastewatch.ingest.store.write_batch``) into
   ``readings`` and ``landfill_deliveries``, and onto Kafka topics of its own with the
   bridge's key (device id) and headers;
3. the real processors (``ProcessorService``: collections, forecast, alerts, landfill,
   rollups) consume those topics until idle, filling ``collections``, ``bin_state``,
   ``alerts``, ``zone_stream_daily``, ``landfill_daily``, ``landfill_projections``...;
4. the real route planner (``plan_day`` + ``save_day``) plans the day after the replay.

MQTT is left out (the ingest tests own it): what the processors and the API see is the
same. The window is a fixed past month, after the shipped landfill survey date, so no
other test's data (they use "now" or their own databases) falls into it.

Also here, for the API's process-level tests (``test_api.py``, ``test_api_contract.py``):
:func:`running_api`, ``wastewatch api`` as a real process on a free loopback port with the
reader role only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import SessionDb
from tests.pipeline_helpers import SinkRows, tagged_city
from wastewatch.city.citydata import load_city
from wastewatch.city.importer import import_city
from wastewatch.core.kafka_topics import create_topics, delete_prefixed_topics
from wastewatch.core.settings import DbSettings, KafkaSettings, Settings
from wastewatch.ingest.bridge import RECEIVED_AT_HEADER
from wastewatch.ingest.validate import LANDFILL, READINGS, Accepted, classify
from wastewatch.processors.service import ProcessorService
from wastewatch.workbench.simulators.build import build_simulation
from wastewatch.workbench.simulators.engine import Simulation
from wastewatch.workbench.simulators.faults import FaultRates
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.stack import free_port

BINS = 24
DAYS = 16
START = int(datetime(2026, 8, 31, 17, tzinfo=UTC).timestamp())  # 2026-09-01 00:00 Bangkok
MONTH = "2026-09"
PREFIX = "pl-"


@dataclass(frozen=True)
class PlanningData:
    """What the replay left in the session database, for the tests to check against."""

    prefix: str
    zones: tuple[str, ...]
    bins: tuple[str, ...]
    site: str
    start: datetime
    end: datetime
    month: str
    route_date: date
    trucks: tuple[str, ...]
    reader_dsn: str
    writer_dsn: str
    admin_dsn: str
    build_s: float


Record = tuple[str, bytes, bytes, int]  # topic, key, value, received_at_ms


async def _ingest(
    writer_dsn: str, kafka: KafkaSettings, sim: Simulation, end: int
) -> tuple[int, int]:
    """The sink's rows into the database and the bridge's records onto Kafka."""
    rows = SinkRows()
    records: list[Record] = []
    t = sim.options.start
    while t < end:
        t = min(t + 6 * 3600, end)
        for ts, topic, payload, _retained, _key in sim.advance(t):
            verdict = classify(topic, payload, now_s=ts, max_future_s=300)
            assert isinstance(verdict, Accepted), verdict
            rows.add(verdict, datetime.fromtimestamp(ts, UTC))
            if verdict.topic in (READINGS, LANDFILL):
                records.append(
                    (verdict.topic, verdict.device_id.encode(), verdict.value, ts * 1000)
                )
    await rows.write(writer_dsn)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=5, max_batch_size=262_144
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                kafka.topic_prefix + topic,
                value,
                key=key,
                headers=[(RECEIVED_AT_HEADER, str(ms).encode())],
            )
            for topic, key, value, ms in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(rows.readings), len(rows.tickets)


async def _process(settings: Settings, readings: int) -> None:
    """Run every processor until it has consumed the replay and gone quiet."""
    async with ProcessorService(settings) as svc:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            done = all(
                r.records_done >= readings
                for r in svc.runners
                if "waste.readings.v1" in r.stage.topics
            )
            quiet = all(time.time() - r.last_commit > 1.5 for r in svc.runners if r.last_commit)
            if done and quiet:
                return
        raise AssertionError(
            f"processors did not finish: {[(r.name, r.records_done) for r in svc.runners]}"
        )


def _plan_routes(writer_dsn: str, day: date, prefix: str) -> None:
    """The real planner for this city's trucks and bins only (the database is shared)."""
    from wastewatch.processors.routing.planner import plan_day
    from wastewatch.processors.routing.problem import PlanOptions
    from wastewatch.processors.routing.store import load_day_inputs, save_day

    inputs = load_day_inputs(writer_dsn, day)
    inputs = replace(
        inputs,
        trucks=tuple(t for t in inputs.trucks if t.truck_id.startswith(prefix)),
        bins=tuple(b for b in inputs.bins if b.bin_id.startswith(prefix)),
    )
    save_day(writer_dsn, plan_day(inputs, PlanOptions(seconds=2.0, seed=1)))


_LOCK = threading.Lock()
_BUILT: dict[str, PlanningData] = {}


def planning_data(test_db: SessionDb, kafka_bootstrap: str) -> PlanningData:
    """The replay in ``test_db``, built on the first call of this process."""
    with _LOCK:
        if test_db.name not in _BUILT:
            _BUILT[test_db.name] = _build(test_db, kafka_bootstrap)
        return _BUILT[test_db.name]


def _build(test_db: SessionDb, kafka_bootstrap: str) -> PlanningData:
    t0 = time.monotonic()
    tag = uuid.uuid4().hex[:6]  # Kafka topics and groups: the broker outlives the session
    p = PREFIX  # ids: fixed, so the simulator (its draws are named by bin id) is deterministic
    city = tagged_city(load_city([DEFAULT_CITY_DIR]), p, BINS)
    import_city(test_db.dsn, city)
    end = START + DAYS * 86_400
    sim = build_simulation(
        f"h{tag}", seed=7, start=START, end=end, data=city, faults=FaultRates().scaled(20)
    )
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"h{tag}.")
    asyncio.run(create_topics(kafka))
    try:
        readings, _tickets = asyncio.run(_ingest(test_db.writer_dsn, kafka, sim, end))
        sim.finish()
        base = Settings(
            kafka=kafka,
            db=DbSettings(
                dsn=test_db.dsn, writer_dsn=test_db.writer_dsn, reader_dsn=test_db.reader_dsn
            ),
            city=f"h{tag}",
        )
        settings = base.model_copy(
            update={
                "processors": base.processors.model_copy(
                    update={"metrics_port": 0, "group_prefix": f"h{tag}-", "batch_ms": 50}
                )
            }
        )
        asyncio.run(_process(settings, readings))
    finally:
        asyncio.run(delete_prefixed_topics(kafka))
    end_dt = datetime.fromtimestamp(end, UTC)
    route_date = (datetime.fromtimestamp(end + 7 * 3600, UTC)).date()
    _plan_routes(test_db.writer_dsn, route_date, p)
    return PlanningData(
        prefix=p,
        zones=tuple(z.zone_id for z in city.zones),
        bins=tuple(b.reg.bin_id for b in city.bins),
        site=city.sites[0].site_id,
        start=datetime.fromtimestamp(START, UTC),
        end=end_dt,
        month=MONTH,
        route_date=route_date,
        trucks=tuple(t.truck_id for t in city.trucks),
        reader_dsn=test_db.reader_dsn,
        writer_dsn=test_db.writer_dsn,
        admin_dsn=test_db.dsn,
        build_s=time.monotonic() - t0,
    )


BOGUS_DSN = "postgresql://nobody:x@127.0.0.1:1/none"
"""A DSN that leads nowhere: set for every role a command must not use."""


@contextlib.contextmanager
def running_api(
    reader_dsn: str, token: str, workdir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`wastewatch api` as a real process on a free loopback port, with the reader role
    only and a bearer token; yields (base URL, process, log file) once /healthz answers,
    and stops it with SIGTERM on the way out.  ``workdir`` holds no .wastewatch/env, so
    only the environment counts."""
    port = free_port()
    env = {
        **os.environ,
        "WW_DB_READER_DSN": reader_dsn,
        "WW_DB_WRITER_DSN": BOGUS_DSN,
        "WW_DB_DSN": BOGUS_DSN,
        "WW_API_TOKEN": token,
    }
    log_path = workdir / "api.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wastewatch", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
            yield base, proc, log_path
        finally:
            proc.terminate()
            proc.wait(10)


def keep_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main()` points the root logger at this test's captured stderr; undo that after."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "setLevel", lambda _level: None)


def reader_only_cli(
    command: str,
    data: PlanningData,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """Run `wastewatch <command> ...` in-process as ``run(*args) -> (code, out, err)``;
    only the reader DSN leads anywhere."""
    from wastewatch.cli import main

    keep_logging(monkeypatch)
    monkeypatch.setenv("WW_DB_READER_DSN", data.reader_dsn)
    monkeypatch.setenv("WW_DB_WRITER_DSN", BOGUS_DSN)
    monkeypatch.setenv("WW_DB_DSN", BOGUS_DSN)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([command, *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
