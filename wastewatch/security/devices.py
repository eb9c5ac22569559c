"""One MQTT credential and ACL entry per bin sensor: provision, revoke, list.

A registry is a folder holding ``devices.json`` (device id, city, password
hash, when) and, generated from it, the broker's share: ``passwd`` (Mosquitto
password-file lines) and ``acl.conf`` (one ``user`` block per device).  The
local stack's registry is ``.wastewatch/devices/``; docker-compose mounts
``deploy/mosquitto/devices/`` (git-ignored contents).  Only the hash is kept:
the password itself goes once into the firmware configuration file that
`provision` writes, and a lost one is replaced with ``--rotate``.

A device may publish only its own telemetry and status and read only its own
config::

    user kls-bin-0001
    topic write ww/kalasin/bins/kls-bin-0001/telemetry
    topic write ww/kalasin/bins/kls-bin-0001/status
    topic read ww/kalasin/bins/kls-bin-0001/config

(the status topic is also its last will, which the broker checks against the
same grant).  The ``ww-`` prefix is reserved for service accounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schema.common import CITY_PATTERN, DEVICE_ID_PATTERN
from schema.topics import config_topic, status_topic, telemetry_topic
from wastewatch.security.accounts import RESERVED_PREFIX
from wastewatch.security.errors import BadInputError, UnknownDeviceError
from wastewatch.security.passwords import hash_password, new_password

_DEVICE_RE = re.compile(DEVICE_ID_PATTERN)
_CITY_RE = re.compile(CITY_PATTERN)


@dataclass(frozen=True, slots=True)
class Device:
    """A provisioned device as the registry keeps it (no password, only its hash)."""

    device_id: str
    city: str
    password_hash: str
    provisioned_at: str

    def acl(self) -> list[str]:
        return [
            f"user {self.device_id}",
            f"topic write {telemetry_topic(self.city, self.device_id)}",
            f"topic write {status_topic(self.city, self.device_id)}",
            f"topic read {config_topic(self.city, self.device_id)}",
        ]


def check_device_id(device_id: str) -> str:
    """The id if it can be a device's MQTT user and topic level; BadInputError otherwise."""
    if not _DEVICE_RE.fullmatch(device_id):
        raise BadInputError(
            f"device id {device_id!r} must be 3-64 lower-case letters, digits or '-', "
            "starting with a letter or digit"
        )
    if device_id.startswith(RESERVED_PREFIX):
        raise BadInputError(
            f"device id {device_id!r} starts with {RESERVED_PREFIX!r}, which is reserved for "
            "service accounts"
        )
    return device_id


def check_city(city: str) -> str:
    if not _CITY_RE.fullmatch(city):
        raise BadInputError(f"city {city!r} must be 2-32 lower-case letters, digits or '-'")
    return city


class DeviceRegistry:
    """The provisioned devices of one broker, kept in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def file(self) -> Path:
        return self.directory / "devices.json"

    @property
    def passwd_file(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.directory / "acl.conf"

    def devices(self) -> list[Device]:
        """Every provisioned device, by id."""
        if not self.file.exists():
            return []
        data: dict[str, dict[str, Any]] = json.loads(self.file.read_text())
        return [Device(**data[k]) for k in sorted(data)]

    def get(self, device_id: str) -> Device | None:
        return next((d for d in self.devices() if d.device_id == device_id), None)

    def provision(self, device_id: str, city: str, *, rotate: bool = False) -> tuple[Device, str]:
        """Add a device (or, with ``rotate``, give a provisioned one a new password).

        Returns the entry and the new password, which is not stored anywhere.
        """
        check_device_id(device_id)
        check_city(city)
        with self._locked():
            known = {d.device_id: d for d in self.devices()}
            old = known.get(device_id)
            if old is not None and not rotate:
                raise BadInputError(
                    f"device {device_id!r} is already provisioned; --rotate issues it a new "
                    "password (the old one stops working)"
                )
            if old is None and rotate:
                raise UnknownDeviceError(device_id, str(self.directory))
            password = new_password()
            device = Device(
                device_id=device_id,
                city=city,
                password_hash=hash_password(password),
                provisioned_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            known[device_id] = device
            self._write(known)
        return device, password

    def revoke(self, device_id: str) -> Device:
        """Remove a device's credential and ACL entry."""
        check_device_id(device_id)
        with self._locked():
            known = {d.device_id: d for d in self.devices()}
            device = known.pop(device_id, None)
            if device is None:
                raise UnknownDeviceError(device_id, str(self.directory))
            self._write(known)
        return device

    def passwd_text(self) -> str:
        return "".join(f"{d.device_id}:{d.password_hash}\n" for d in self.devices())

    def acl_text(self) -> str:
        lines = ["# Devices (wastewatch devices provision): each its own topics only."]
        for d in self.devices():
            lines += ["", f"# provisioned {d.provisioned_at}", *d.acl()]
        return "\n".join(lines) + "\n"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (two provisioning commands at once must not lose one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write(self, known: dict[str, Device]) -> None:
        data = {k: asdict(known[k]) for k in sorted(known)}
        _write_private(self.file, json.dumps(data, indent=2) + "\n")
        _write_private(self.passwd_file, self.passwd_text())
        _write_private(self.acl_file, self.acl_text())


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a mode-600 file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the firmware connects: host, port, TLS and the CA that signed the broker."""

    host: str
    port: int
    ca_pem: str | None = None

    @property
    def tls(self) -> bool:
        return self.ca_pem is not None


def firmware_config(device: Device, password: str, broker: BrokerAddress) -> dict[str, Any]:
    """The device's ``wastewatch.json`` (firmware/README.md, "Configuration").

    Wi-Fi and calibration are placeholders for the technician: the calibration
    values are the shipped bins' typical geometry, to be measured at installation.
    """
    broker_doc: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "username": device.device_id,
        "password": password,
    }
    if broker.ca_pem is not None:
        broker_doc["tls"] = True
        broker_doc["ca"] = broker.ca_pem
    return {
        "device_id": device.device_id,
        "city": device.city,
        "wifi": {"ssid": "change-me", "password": "change-me"},
        "broker": broker_doc,
        "ntp_host": "th.pool.ntp.org",
        "calibration": {"mounting_height_mm": 1050, "usable_depth_mm": 800, "dead_zone_mm": 250},
        "report_interval_s": 900,
        "nearly_full_interval_s": 300,
        "heartbeat_interval_s": 3600,
    }


def write_firmware_config(path: Path, doc: dict[str, Any]) -> None:
    """Write the config (it holds the device's password: mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
