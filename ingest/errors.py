"""The root error of the ingest package and its few subclasses."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class IngestError(WastewatchError):
    """Anything the bridge or the sink cannot do; the message says what and why."""


class MqttConnectError(IngestError):
    """The MQTT broker refused or did not answer the bridge's connection."""

    hint = "check the broker WW_MQTT_URL names, and the user and password in it"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot connect to MQTT broker {url}: {reason}")


class KafkaUnavailableError(IngestError):
    """No Kafka broker can be reached at start."""

    hint = "check that Kafka is up and that WW_KAFKA_BOOTSTRAP names it"
