"""Helpers shared by the tests that run an in-process bridge and sink for one city."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from aiokafka import AIOKafkaConsumer

from tests.mqtt_login import local_client, running
from wastewatch.city.citydata import CityData, SimBin
from wastewatch.core.settings import DbSettings, Settings
from wastewatch.ingest.rows import Reject, reading_row, status_row, ticket_row
from wastewatch.ingest.store import prepare, write_batch
from wastewatch.ingest.validate import LANDFILL, READINGS, STATUS, Accepted


def isolated_settings(settings: Settings, city: str, tag: str) -> Settings:
    """The session's settings for one test: its own city (MQTT topics), MQTT client id and
    sink group, and no metrics ports, so tests never see each other's messages."""
    return settings.model_copy(
        update={
            "city": city,
            "mqtt": settings.mqtt.model_copy(update={"client_id": f"b-{tag}"}),
            "ingest": settings.ingest.model_copy(
                update={"bridge_metrics_port": 0, "sink_metrics_port": 0, "sink_group": f"s{tag}"}
            ),
        }
    )


def mqtt_port(settings: Settings) -> int:
    return int(settings.mqtt.url.rsplit(":", 1)[1])


class OwnCity(NamedTuple):
    """One test's random tag, its city (``<prefix>-<tag>``), its isolated settings and the
    broker's port."""

    tag: str
    city: str
    settings: Settings
    port: int


def own_city(settings: Settings, prefix: str) -> OwnCity:
    """A city of its own for one test (see :func:`isolated_settings`)."""
    tag = uuid.uuid4().hex[:8]
    city = f"{prefix}-{tag}"
    return OwnCity(tag, city, isolated_settings(settings, city, tag), mqtt_port(settings))


def publish_all(port: int, topic: str, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and wait for each PUBACK (blocking: call via asyncio.to_thread)."""
    with running(local_client(port), port) as client:
        for body in payloads:
            client.publish(topic, body, qos=1).wait_for_publish(10)


def tagged_city(city: CityData, p: str, bins_kept: int) -> CityData:
    """The city with every id prefixed by ``p`` and only its first ``bins_kept`` sensored
    bins, so that tests sharing one database never see each other's rows."""
    bins = [b for b in city.bins if b.reg.device_id][:bins_kept]
    return replace(
        city,
        zones=tuple(z.model_copy(update={"zone_id": p + z.zone_id}) for z in city.zones),
        bins=tuple(
            SimBin(
                reg=b.reg.model_copy(
                    update={
                        "bin_id": p + b.reg.bin_id,
                        "device_id": p + str(b.reg.device_id),
                        "zone": p + b.reg.zone,
                    }
                ),
                place=b.place,
            )
            for b in bins
        ),
        depots=tuple(d.model_copy(update={"depot_id": p + d.depot_id}) for d in city.depots),
        sites=tuple(s.model_copy(update={"site_id": p + s.site_id}) for s in city.sites),
        trucks=tuple(
            t.model_copy(
                update={
                    "truck_id": p + t.truck_id,
                    "depot_id": p + t.depot_id,
                    "site_id": p + t.site_id,
                    "zones": [p + z for z in t.zones],
                }
            )
            for t in city.trucks
        ),
        densities=tuple(d.model_copy(update={"site_id": p + d.site_id}) for d in city.densities),
        unmetered_kg_per_day={p + k: v for k, v in city.unmetered_kg_per_day.items()},
    )


PROCESSOR_TABLES = {
    "collections": "select time, event_id, bin_id, device_id, zone_id, stream, fill_before, "
    "fill_after, volume_l, mass_kg, confidence from collections order by event_id",
    "bin_state": "select bin_id, fill_level, rate_per_h, threshold_at, threshold_early, "
    "threshold_late, urgency, collect_by, last_reading_at, last_collection_at, refill_h "
    "from bin_state "
    "order by bin_id",
    "fill_forecasts": "select * from fill_forecasts order by bin_id, time",
    "alerts": "select alert_id, kind, severity, state, bin_id, device_id, site_id, opened_at, "
    "resolved_at, message_en, message_th, details from alerts order by alert_id",
    "bin_hourly": "select * from bin_hourly order by bin_id, bucket",
    "zone_stream_daily": "select * from zone_stream_daily order by day, zone_id, stream",
    "landfill_daily": "select * from landfill_daily order by site_id, day, stream",
    "landfill_projections": "select site_id, as_of, used_m3, remaining_m3, days_left, full_date "
    "from landfill_projections order by site_id, as_of",
    "processor_state": "select processor, key, state from processor_state order by 1, 2",
}
"""What the processors write, each as a query with a stable order: two runs over the
same input must give equal results table by table."""


def snapshot(db: DbSettings) -> dict[str, list[Any]]:
    """Every table of :data:`PROCESSOR_TABLES` as rows."""
    with psycopg.connect(db.dsn) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in PROCESSOR_TABLES.items()}


def seed_registry(
    dsn: str, *, zone: str, site: str, depot: str, truck: str, bins: list[tuple[str, str]]
) -> None:
    """A one-zone registry for the processors: the zone, a landfill site, a depot, one
    general-waste truck and ``bins`` as (bin id, device id), all 240 l general bins."""
    with psycopg.connect(dsn) as conn:
        conn.execute("insert into zones (zone_id, name_en, name_th) values (%s, 'z', 'z')", [zone])
        conn.execute(
            "insert into landfill_sites (site_id, name, latitude, longitude, capacity_m3, "
            "used_m3, surveyed_on) values (%s, 'lf', 16.47, 103.48, 250000, 221000, "
            "'2025-12-15')",
            [site],
        )
        conn.execute(
            "insert into depots (depot_id, name, latitude, longitude) "
            "values (%s, 'd', 16.4, 103.5)",
            [depot],
        )
        conn.execute(
            "insert into trucks (truck_id, name, depot_id, site_id, stream, capacity_l, "
            "capacity_kg, tare_kg, zones, service_days, shift_start) values (%s, 't', %s, %s, "
            "'general', 25000, 7000, 9500, %s, '{mon}', '05:00')",
            [truck, depot, site, [zone]],
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into bins (bin_id, device_id, zone_id, stream, latitude, longitude, "
                "volume_l, mounting_height_mm, usable_depth_mm) values (%s, %s, %s, 'general', "
                "16.43, 103.51, 240, 1250, 1000)",
                [(bin_id, device, zone) for bin_id, device in bins],
            )


async def settled_rows(
    dsn: str, sql: str, params: list[Any], want: int, *, timeout_s: float = 30
) -> list[Any]:
    """The rows of ``sql`` once there are ``want`` of them (or the time is up), read once
    more a second later, so that a row stored twice has had time to show up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            if len(conn.execute(sql, params).fetchall()) >= want:
                break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass
class SinkRows:
    """The sink's rows for accepted messages, written as the sink's batch writer does
    (no MQTT, no Kafka): for tests that need a city's worth of stored data."""

    readings: list[Any] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    tickets: list[Any] = field(default_factory=list)

    def add(self, verdict: Accepted, received: datetime) -> None:
        maker = {READINGS: reading_row, STATUS: status_row, LANDFILL: ticket_row}
        row = maker[verdict.topic](verdict.value, received)
        assert not isinstance(row, Reject), row
        {READINGS: self.readings, STATUS: self.statuses, LANDFILL: self.tickets}[
            verdict.topic
        ].append(row)

    async def write(self, writer_dsn: str) -> None:
        async with await psycopg.AsyncConnection.connect(writer_dsn) as conn:
            await prepare(conn)
            for i in range(0, max(len(self.readings), 1), 5000):
                await write_batch(
                    conn,
                    self.readings[i : i + 5000],
                    self.statuses if i == 0 else [],
                    self.tickets if i == 0 else [],
                )


def earliest_consumer(bootstrap: str, *topics: str) -> AIOKafkaConsumer:
    """A consumer of ``topics`` from their beginning, in no group and committing nothing:
    how a test reads back what the pipeline wrote, without moving anyone's offsets."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
