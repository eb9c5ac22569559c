"""Weighbridge tickets: MQTT -> bridge -> waste.landfill.v1 -> sink -> landfill_deliveries,
once each, even when the weighbridge sends a ticket twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.mqtt_login import login
from tests.pipeline_helpers import own_city, publish_all, settled_rows
from wastewatch.core.settings import Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.schema.topics import landfill_ticket_topic

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_tickets_are_stored_once(settings: Settings) -> None:
    tag, city, test_settings, port = own_city(settings, "wb")
    site = f"site-{tag}"
    weighed = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(minutes=30)

    def ticket(n: int, net: float) -> bytes:
        return json.dumps(
            {
                "ticket_id": f"T-{n:04d}",
                "site_id": site,
                "truck_id": "kls-truck-01",
                "weighed_at": (weighed + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
                "gross_kg": 9000.0 + net,
                "tare_kg": 9000.0,
                "net_kg": net,
                "waste_stream": "organic",
            }
        ).encode()

    topic = landfill_ticket_topic(city, site)
    async with Bridge(test_settings), Sink(test_settings):
        await asyncio.to_thread(publish_all, port, topic, [ticket(1, 4200.0), ticket(2, 3900.5)])
        await asyncio.to_thread(publish_all, port, topic, [ticket(1, 4200.0)])  # sent again
        rows = await settled_rows(
            settings.db.dsn,
            "select ticket_id, net_kg, stream from landfill_deliveries "
            "where site_id = %s order by ticket_id",
            [site],
            2,
        )
    assert rows == [("T-0001", 4200.0, "organic"), ("T-0002", 3900.5, "organic")]


def _old_session(port: int, client_id: str, city: str) -> None:
    """A persistent session as a bridge from before ticket forwarding left it: telemetry
    only (blocking: call via asyncio.to_thread)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from wastewatch.schema.topics import DeviceTopicKind, device_filter

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    login(client)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 60
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    result, _ = client.subscribe(device_filter(DeviceTopicKind.TELEMETRY, city), qos=1)
    assert result == mqtt.MQTT_ERR_SUCCESS
    time.sleep(0.5)  # the SUBACK
    client.disconnect()
    client.loop_stop()


@pytest.mark.asyncio
async def test_a_bridge_session_from_before_tickets_still_gets_them(settings: Settings) -> None:
    """The bridge subscribes on every connect: a session kept by the broker from an older
    bridge must not hide a topic filter added since."""
    tag, city, test_settings, port = own_city(settings, "wb")
    site = f"site-{tag}"
    await asyncio.to_thread(_old_session, port, test_settings.mqtt.bridge_client_id(), city)
    body = json.dumps(
        {
            "ticket_id": "T-0001",
            "site_id": site,
            "truck_id": "kls-truck-01",
            "weighed_at": (datetime.now(tz=UTC).replace(microsecond=0) - timedelta(minutes=5))
            .isoformat()
            .replace("+00:00", "Z"),
            "gross_kg": 13000.0,
            "tare_kg": 9000.0,
            "net_kg": 4000.0,
            "waste_stream": "general",
        }
    ).encode()
    rows: list[tuple[str]] = []
    async with Bridge(test_settings), Sink(test_settings):
        await asyncio.to_thread(publish_all, port, landfill_ticket_topic(city, site), [body])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not rows:
            with psycopg.connect(settings.db.dsn) as conn:
                rows = conn.execute(
                    "select ticket_id from landfill_deliveries where site_id = %s", [site]
                ).fetchall()
            await asyncio.sleep(0.3)
    assert rows == [("T-0001",)]
