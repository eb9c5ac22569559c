"""The local stack's service account for tests' own paho clients.

Mosquitto accepts no anonymous client, so every test client logs in: with
``ww-sim`` (the account in ``WW_MQTT_URL``, which may publish and read every
``ww/`` topic), unless a test means to act as a device.
"""

from __future__ import annotations

from functools import cache

import paho.mqtt.client as mqtt

from wastewatch.core.mqtt_url import MqttTarget
from wastewatch.core.settings import load_settings
from wastewatch.security.accounts import SIM
from wastewatch.workbench.stack.mosquitto import MosquittoService


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
