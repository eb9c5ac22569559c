"""Helpers shared by the tests that run an in-process bridge and sink for one city."""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wastewatch.settings import Settings


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
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    for body in payloads:
        client.publish(topic, body, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
