"""The local stack's service account, and the one way tests make their paho clients.

Mosquitto accepts no anonymous client, so every test client logs in: with
``ww-sim`` (the account in ``WW_MQTT_URL``, which may publish and read every
``ww/`` topic), unless a test means to act as a device. Tests' MQTT 3.1.1 clients
are made by the workbench's own factory
(:func:`~wastewatch.workbench.simulators.publish.make_client`), through
:func:`local_client`; only tests that speak MQTT v5 build theirs by hand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import paho.mqtt.client as mqtt

from wastewatch.core.mqtt_url import MqttTarget
from wastewatch.core.settings import load_settings
from wastewatch.security.accounts import SIM
from wastewatch.workbench.simulators.publish import make_client
from wastewatch.workbench.stack.mosquitto import MosquittoService

LOCALHOST = "127.0.0.1"


@cache
def service_login() -> tuple[str, str]:
    """(user, password) of the simulator account of the stack the tests run against."""
    target = MqttTarget.from_url(load_settings().mqtt.url)
    if target.username is not None and target.password is not None:
        return target.username, target.password
    return SIM, MosquittoService(load_settings()).passwords[SIM]


def login(client: mqtt.Client) -> mqtt.Client:
    """Set the service account's user name and password on ``client``; returns it."""
    client.username_pw_set(*service_login())
    return client


def local_client(
    port: int,
    client_id: str | None = None,
    *,
    account: tuple[str | None, str | None] | None = None,
    ca_file: str | None = None,
    clean_session: bool = True,
) -> mqtt.Client:
    """A not yet connected MQTT 3.1.1 client for the local broker on ``port``, made by
    :func:`make_client`: logged in as ``account`` (user, password; default the service
    account, ``(None, None)`` anonymous), TLS with ``ca_file`` if given, ``client_id``
    a random ``pub-`` one unless given."""
    user, password = account if account is not None else service_login()
    target = MqttTarget(LOCALHOST, port, user, password, tls=ca_file is not None, ca_file=ca_file)
    return make_client(
        target, client_id or f"pub-{uuid.uuid4().hex[:8]}", clean_session=clean_session
    )


@contextmanager
def running(client: mqtt.Client, port: int) -> Iterator[mqtt.Client]:
    """``client`` connected to the local broker on ``port`` with paho's network thread
    running; stopped and disconnected on the way out."""
    client.connect(LOCALHOST, port)
    client.loop_start()
    try:
        yield client
    finally:
        client.loop_stop()
        client.disconnect()


def connack(client: mqtt.Client, port: int, *, timeout_s: float = 5.0, bind: str = "") -> str:
    """Connect ``client`` (from ``bind``, if given) and return the CONNACK's reason
    ("Success", "Not authorized", ...), "disconnected" or "no CONNACK"; disconnects."""
    outcome: list[str] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(str(rc))
    client.on_disconnect = lambda *_a: outcome.append("disconnected")
    try:
        client.connect(LOCALHOST, port, keepalive=10, bind_address=bind)
        deadline = time.monotonic() + timeout_s
        while not outcome and time.monotonic() < deadline:
            client.loop(0.05)
    finally:
        client.disconnect()
    return outcome[0] if outcome else "no CONNACK"
