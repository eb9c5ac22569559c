"""Capture MQTT messages with paho (MQTT 5): retain-as-published, persistent session."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from tests.mqtt_login import login


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    dup: bool


class Collector:
    """Subscribes to ``filters`` and keeps every message, surviving broker restarts.

    ``retainAsPublished`` keeps the publisher's retain flag on live messages, so a
    test can see that the node published its status retained.  The session outlives
    a broker restart (clean start off, 5 min expiry), so messages published while
    this client reconnects are queued for it, not lost.
    """

    def __init__(self, port: int, filters: list[str]) -> None:
        self.filters = filters
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fwtest-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        login(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("no SUBACK from the broker")

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        opts = SubscribeOptions(qos=1, retainAsPublished=True)
        client.subscribe([(f, opts) for f in self.filters])

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Message(msg.topic, bytes(msg.payload), bool(msg.retain), bool(msg.dup))
            )

    def on(self, suffix: str) -> list[Message]:
        """Messages so far whose topic ends with ``suffix``."""
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Poll ``done`` until true or ``timeout`` seconds passed."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done():
                return True
            time.sleep(0.05)
        return done()

    def close(self) -> None:
        """Disconnect and end the session (expiry 0); safe to call twice."""
        props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()


def fetch_retained(port: int, topic: str, timeout: float = 5) -> Message | None:
    """The retained message on ``topic`` as a new subscriber sees it, or None."""
    got: list[Message] = []
    ready = threading.Event()
    client = login(mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: ready.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), bool(msg.dup)))

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        ready.wait(timeout)
        end = time.monotonic() + 1.0
        while not got and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    """Publish ``payload`` retained at QoS 1 and wait until the broker has it (empty clears)."""
    client = login(mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
