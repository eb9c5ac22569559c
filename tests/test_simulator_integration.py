"""The simulator against the real services: a replay through Mosquitto, the in-process
bridge and sink into TimescaleDB; `bins import` into the session database; the
route-plan reader."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SessionDb
from tests.pipeline_helpers import own_city
from wastewatch.city.citydata import load_city
from wastewatch.city.importer import import_city
from wastewatch.core.settings import Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.workbench.simulators.build import build_simulation
from wastewatch.workbench.simulators.errors import CityDataError, SimulatorError
from wastewatch.workbench.simulators.faults import FaultRates
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.plans import DbPlanSource
from wastewatch.workbench.simulators.publish import MqttTarget
from wastewatch.workbench.simulators.run import run_replay

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_replay_reaches_timescaledb_and_matches_the_truth(
    settings: Settings, tmp_path: Path
) -> None:
    tag, city_slug, own, _port = own_city(settings, "sim")
    end = int(time.time()) // 3600 * 3600 - 3600 * (int(tag, 16) % 1000)  # unique per run
    sim = build_simulation(
        city_slug,
        seed=int(tag, 16) % 10_000,
        start=end - 12 * 3600,
        end=end,
        bins=25,
        # Enough offline/reboot episodes, and every reconnect re-sends: with the
        # default re-send probability about one seed in ten sent no duplicate.
        faults=replace(FaultRates().scaled(40), offline=1.0, duplicate_per_reconnect=1.0),
        truth=tmp_path,
    )
    devices = [d.device_id for d in sim.devices]
    async with Bridge(own), Sink(own):
        result = await asyncio.to_thread(
            run_replay,
            sim,
            target=MqttTarget.from_url(settings.mqtt.url),
            publishers=1,
            client_prefix=f"sim-{tag}",
            progress=lambda _line: None,
        )
        assert result["acked"] == result["messages"]
        want = result["readings_published"]
        deadline = time.monotonic() + 45
        stored = -1
        while time.monotonic() < deadline:
            with psycopg.connect(settings.db.dsn) as conn:
                row = conn.execute(
                    "select count(*) from readings where device_id = any(%s)", [devices]
                ).fetchone()
            stored = int(row[0]) if row else 0
            if stored >= want:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # a duplicate stored twice would show up by now
        with psycopg.connect(settings.db.dsn) as conn:
            row = conn.execute(
                "select count(*), count(distinct (device_id, boot_counter, seq)) from readings "
                "where device_id = any(%s)",
                [devices],
            ).fetchone()
    assert row is not None
    assert result["duplicates_sent"] > 0  # the re-sends were really exercised
    assert (row[0], row[1]) == (want, want)
    manifest = (tmp_path / "manifest.json").read_text()
    assert f'"readings_published": {want}' in manifest


@pytest.fixture
def fresh_db(stack_env: object, test_db: SessionDb) -> Iterator[str]:
    """A database of this test's own, migrated, so registry rows do not leak."""
    from wastewatch.schema.migrate import migrate

    name = f"ww_simreg_{uuid.uuid4().hex[:8]}"
    server = test_db.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = test_db.dsn.rsplit("/", 1)[0] + "/" + name
    migrate(dsn)
    yield dsn
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _counts(dsn: str) -> tuple[int, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select (select count(*) from bins), (select count(*) from zones), "
            "(select count(*) from trucks), (select count(*) from depots), "
            "(select count(*) from landfill_sites), "
            "(select count(*) from landfill_stream_densities)"
        ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def test_bins_import_is_idempotent_and_all_or_nothing(fresh_db: str, tmp_path: Path) -> None:
    city = load_city([DEFAULT_CITY_DIR])
    counts = import_city(fresh_db, city)
    assert counts.bins == len(city.bins)
    first = _counts(fresh_db)
    assert first == (len(city.bins), 8, len(city.trucks), 1, 1, 4)
    import_city(fresh_db, city)
    assert _counts(fresh_db) == first
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            "select zone_id, stream, volume_l from bins where bin_id = 'kls-0001'"
        ).fetchone()
    reg = city.bins[0].reg
    assert row == (reg.zone, reg.waste_stream.value, reg.volume_l)

    # A file whose bins reference an unknown zone: an error naming it, and nothing written.
    lines = (DEFAULT_CITY_DIR / "bins.csv").read_text(encoding="utf-8").splitlines()
    changed = [lines[0], lines[1].replace("kls-0001,", "kls-9001,").replace("kls-bin-0001", "x-1")]
    changed.append(lines[2].replace(",kls-z0", ",kls-zz"))
    path = tmp_path / "bins.csv"
    path.write_text("\n".join(changed) + "\n", encoding="utf-8")
    with pytest.raises(CityDataError, match=r"field 'zone'"):
        import_city(fresh_db, load_city([path]))
    assert _counts(fresh_db) == first


def test_plan_reader_none_without_tables_then_latest_plan(fresh_db: str) -> None:
    source = DbPlanSource(fresh_db)
    day = date(2026, 3, 2)
    assert source.plans_for(day) is None
    schema = f"plans_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"create schema {schema}")
        conn.execute(
            f"create table {schema}.route_plans (plan_id text primary key, service_date date, "
            "truck_id text, waste_stream text, created_at timestamptz)"
        )
        conn.execute(
            f"create table {schema}.route_stops (plan_id text, sequence int, bin_id text, "
            "eta timestamptz)"
        )
        conn.execute(
            f"insert into {schema}.route_plans values "
            "('p1', '2026-03-02', 'kls-truck-01', 'general', '2026-03-01T20:00:00Z'), "
            "('p2', '2026-03-02', 'kls-truck-01', 'general', '2026-03-01T21:00:00Z')"
        )
        conn.execute(
            f"insert into {schema}.route_stops values "
            "('p1', 1, 'kls-0009', '2026-03-01T23:00:00Z'), "
            "('p2', 2, 'kls-0002', '2026-03-01T23:30:00Z'), "
            "('p2', 1, 'kls-0001', '2026-03-01T23:10:00Z')"
        )
    scoped = DbPlanSource(f"{fresh_db}?options=-csearch_path%3D{schema}")
    assert scoped.plans_for(date(2026, 3, 3)) is None
    plans = scoped.plans_for(day)
    assert plans is not None
    assert len(plans) == 1
    assert plans[0].plan_id == "p2"
    assert [b for b, _ in plans[0].stops] == ["kls-0001", "kls-0002"]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"alter table {schema}.route_stops rename column eta to arrive")
    with pytest.raises(SimulatorError, match="expected shape"):
        scoped.plans_for(day)
