"""Mosquitto's dynamic security plugin: who may connect, with which client id, and where.

Why the plugin rather than ``password_file``/``acl_file``: those are read at
start only, and Mosquitto 2.0.11 crashes on a SIGHUP reload with per-user ACL
changes (upstream eclipse/mosquitto#3418), so provisioning a device meant
restarting the broker and disconnecting the whole city.  The plugin (shipped in
Debian's ``mosquitto`` package) changes accounts and ACLs while the broker runs,
through MQTT commands on ``$CONTROL/dynamic-security/v1`` that only the
``ww-admin`` account may send.

Session takeover is closed by client id binding: each device's account only
connects with its own device id as client id (the plugin's ``clientid``), so no
device can take another's persistent session or the bridge's.  The weighbridge
account is bound to ``ww-weighbridge``.  Service accounts that run many clients
(``ww-sim``, ``ww-ops``) are not bound; they run on the city's servers, not in
the field, and the bridge's client id is derived from its password
(`wastewatch.core.settings.MqttSettings.bridge_client_id`), so nobody without that
password can guess it.

The plugin keeps its state in a JSON file.  While the broker is stopped, the
project regenerates that file from the service passwords and the device
registry (`config_document`), so the registry stays the source of truth; while
it runs, `DynsecControl` applies each change live and the registry records it.
Password hashes use the same PBKDF2-SHA512 as Mosquitto's ``$7$`` format, so a
registry hash converts without the password (`client_entry`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wastewatch.core import MqttTarget
from wastewatch.schema import config_topic, status_topic, telemetry_topic
from wastewatch.security.accounts import (
    ADMIN,
    SERVICE_ACCOUNTS,
    WEIGHBRIDGE,
    ServiceAccount,
)
from wastewatch.security.errors import SecurityError
from wastewatch.security.passwords import hash_password

CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = CONTROL_TOPIC + "/response"
PLUGIN_NAME: Final = "mosquitto_dynamic_security.so"
BATCH: Final = 100
"""Commands per control message: one message per device would be 600 round trips."""

BOUND_CLIENT_IDS: Final[dict[str, str]] = {WEIGHBRIDGE: WEIGHBRIDGE}
"""Service accounts that may connect only with this client id."""

DEFAULT_ACL_ACCESS: Final = {
    "publishClientSend": False,
    "publishClientReceive": True,
    "subscribe": False,
    "unsubscribe": True,
}
"""Deny publishing and subscribing unless a role grants it; what a client may
receive is limited by what it may subscribe to."""


class DynsecError(SecurityError):
    """The broker refused a dynamic-security command, or did not answer it."""


def plugin_path() -> str:
    """The plugin shipped with Debian's mosquitto package."""
    found = sorted(Path("/usr/lib").glob(f"*/{PLUGIN_NAME}"))
    if not found:
        raise DynsecError(
            "Mosquitto's dynamic security plugin (mosquitto_dynamic_security.so) is not "
            "installed; it ships in Debian's mosquitto package: apt-get install -y mosquitto"
        )
    return str(found[0])


def device_role(device_id: str) -> str:
    return f"device-{device_id}"


def device_acls(city: str, device_id: str) -> list[dict[str, Any]]:
    """Its own telemetry and status (also its last will) to publish, its config to read."""
    return [
        _acl("publishClientSend", telemetry_topic(city, device_id)),
        _acl("publishClientSend", status_topic(city, device_id)),
        _acl("subscribePattern", config_topic(city, device_id)),
        _acl("publishClientReceive", config_topic(city, device_id)),
    ]


def service_acls(account: ServiceAccount) -> list[dict[str, Any]]:
    """The account's grants as plugin ACLs; read grants also cover shared subscriptions."""
    acls: list[dict[str, Any]] = []
    for access, topic in account.grants:
        if access in ("read", "readwrite"):
            acls.append(_acl("subscribePattern", topic))
            acls.append(_acl("publishClientReceive", topic))
            if not topic.startswith("$"):
                # The plugin checks a shared subscription's filter with its $share prefix.
                acls.append(_acl("subscribePattern", f"$share/+/{topic}"))
        if access in ("write", "readwrite"):
            acls.append(_acl("publishClientSend", topic))
    return acls


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def client_entry(
    username: str,
    password_hash: str,
    *,
    roles: Sequence[str],
    clientid: str | None = None,
    textname: str = "",
) -> dict[str, Any]:
    """A plugin client from a ``$7$`` hash (same PBKDF2-SHA512; only the layout differs)."""
    parts = password_hash.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        raise DynsecError(f"the password hash of {username!r} is not in Mosquitto's $7$ format")
    entry: dict[str, Any] = {
        "username": username,
        "textName": textname,
        "password": parts[4],
        "salt": parts[3],
        "iterations": int(parts[2]),
        "roles": [{"rolename": r} for r in roles],
    }
    if clientid is not None:
        entry["clientid"] = clientid
    return entry


class BrokerUnreachableError(DynsecError):
    """Nothing answers at the broker's address: it is not running, or the address is
    wrong (the message names it)."""

    hint = "start the broker (local stack: `wastewatch services up`) or fix WW_MQTT_ADMIN_URL"


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    """What the plugin needs of a provisioned device."""

    device_id: str
    city: str
    password_hash: str


def config_document(
    service_passwords: dict[str, str], devices: Iterable[DeviceGrant]
) -> dict[str, Any]:
    """The plugin's whole state: service accounts, the admin, and every device."""
    clients = []
    roles = []
    for account in SERVICE_ACCOUNTS:
        clients.append(
            client_entry(
                account.name,
                hash_password(service_passwords[account.name]),
                roles=[account.name],
                clientid=BOUND_CLIENT_IDS.get(account.name),
                textname=account.purpose,
            )
        )
        roles.append({"rolename": account.name, "acls": service_acls(account)})
    for device in devices:
        clients.append(
            client_entry(
                device.device_id,
                device.password_hash,
                roles=[device_role(device.device_id)],
                clientid=device.device_id,
                textname=f"bin sensor in {device.city}",
            )
        )
        roles.append(
            {
                "rolename": device_role(device.device_id),
                "acls": device_acls(device.city, device.device_id),
            }
        )
    return {
        "clients": clients,
        "roles": roles,
        "groups": [],
        "defaultACLAccess": DEFAULT_ACL_ACCESS,
    }


def provision_commands(
    device_id: str, city: str, password: str, *, rotate: bool = False
) -> list[dict[str, Any]]:
    """Commands that give a device its account and role (or, with ``rotate``, a new password)."""
    if rotate:
        return [{"command": "setClientPassword", "username": device_id, "password": password}]
    role = device_role(device_id)
    return [
        {"command": "createRole", "rolename": role, "acls": device_acls(city, device_id)},
        {
            "command": "createClient",
            "username": device_id,
            "password": password,
            "clientid": device_id,
            "textname": f"bin sensor in {city}",
            "roles": [{"rolename": role}],
        },
    ]


def revoke_commands(device_id: str) -> list[dict[str, Any]]:
    """Delete the account (the plugin disconnects a connected device) and its role."""
    return [
        {"command": "deleteClient", "username": device_id},
        {"command": "deleteRole", "rolename": device_role(device_id)},
    ]


class DynsecControl:
    """A short-lived admin connection that sends plugin commands and awaits the answers.

    Commands go in batches of `BATCH` per message, each with a correlation id; an
    error answer raises `DynsecError` unless its text is in ``tolerate``.
    """

    def __init__(self, target: MqttTarget, *, timeout_s: float = 15.0) -> None:
        self._target = target
        self._timeout_s = timeout_s
        self._client: mqtt.Client | None = None
        self._lock = threading.Condition()
        self._answers: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count()

    def __enter__(self) -> DynsecControl:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{ADMIN}-{time.monotonic_ns():x}",
            protocol=mqtt.MQTTv5,
        )
        if self._target.username is not None:
            client.username_pw_set(self._target.username, self._target.password)
        if self._target.tls:
            client.tls_set(ca_certs=self._target.ca_file)
        subscribed = threading.Event()
        refused: list[str] = []

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: Any) -> None:
            if rc.is_failure:
                refused.append(str(rc))
                subscribed.set()
                return
            c.subscribe(RESPONSE_TOPIC, qos=1)

        client.on_connect = on_connect
        client.on_subscribe = lambda *_a: subscribed.set()
        client.on_message = self._on_message
        try:
            client.connect(self._target.host, self._target.port, keepalive=30)
        except OSError as exc:
            raise BrokerUnreachableError(
                f"cannot reach the MQTT broker at {self._target.host}:{self._target.port} "
                f"to change its accounts: {exc}"
            ) from exc
        client.loop_start()
        self._client = client
        if not subscribed.wait(self._timeout_s) or refused:
            self.__exit__()
            why = refused[0] if refused else f"no answer within {self._timeout_s:.0f} s"
            raise DynsecError(f"the broker refused the {ADMIN} account: {why}")
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            for answer in responses:
                key = answer.get("correlationData")
                if isinstance(key, str):
                    self._answers[key] = answer
            self._lock.notify_all()

    def run(
        self, commands: Sequence[dict[str, Any]], *, tolerate: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Send ``commands`` (in order, batched) and return their answers."""
        client = self._client
        if client is None:
            raise DynsecError("DynsecControl used outside `with`")
        accepted = tuple(tolerate)
        answers: list[dict[str, Any]] = []
        for start in range(0, len(commands), BATCH):
            batch = []
            for command in commands[start : start + BATCH]:
                batch.append({**command, "correlationData": f"ww{next(self._ids)}"})
            info = client.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=1)
            info.wait_for_publish(self._timeout_s)
            keys = [c["correlationData"] for c in batch]
            deadline = time.monotonic() + self._timeout_s
            with self._lock:
                while not all(k in self._answers for k in keys):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise DynsecError(
                            f"the broker did not answer {len(keys)} dynamic-security commands "
                            f"within {self._timeout_s:.0f} s"
                        )
                    self._lock.wait(left)
                got = [self._answers.pop(k) for k in keys]
            for command, answer in zip(batch, got, strict=True):
                error = answer.get("error")
                if error and not any(t in str(error) for t in accepted):
                    raise DynsecError(
                        f"the broker refused {command['command']} ({_subject(command)}): {error}"
                    )
            answers.extend(got)
        return answers

    def clients(self) -> set[str]:
        """User names of every account the plugin knows."""
        answer = self.run([{"command": "listClients", "verbose": False, "count": -1}])[0]
        return {str(c) for c in answer.get("data", {}).get("clients", [])}


def _subject(command: dict[str, Any]) -> str:
    return str(command.get("username") or command.get("rolename") or "")


__all__ = [
    "BOUND_CLIENT_IDS",
    "CONTROL_TOPIC",
    "DeviceGrant",
    "DynsecControl",
    "DynsecError",
    "client_entry",
    "config_document",
    "device_acls",
    "device_role",
    "plugin_path",
    "provision_commands",
    "revoke_commands",
    "service_acls",
]
