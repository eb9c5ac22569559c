"""Helpers shared by the tests that run an in-process bridge and sink for one city."""

from __future__ import annotations

import uuid
from dataclasses import replace

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.mqtt_login import login
from wastewatch.city.citydata import CityData, SimBin
from wastewatch.core.settings import Settings


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


def publish_all(port: int, topic: str, payloads: list[bytes]) -> None:
    """Publish with QoS 1 and wait for each PUBACK (blocking: call via asyncio.to_thread)."""
    client = login(
        mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    for body in payloads:
        client.publish(topic, body, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


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
