"""One MQTT credential per bin sensor: provision, revoke, list.

A registry is a folder holding ``devices.json`` (device id, city, password
hash, when).  The local stack's registry is ``.wastewatch/devices/``;
docker-compose mounts ``deploy/mosquitto/devices/`` (git-ignored contents).
Only the hash is kept: the password itself goes once into the firmware
configuration file that `provision` writes, and a lost one is replaced with
``--rotate``.

The broker learns of a change at once, without a restart, through its dynamic
security plugin (`wastewatch.security.dynsec`); the registry is what the
plugin's state is rebuilt from whenever the broker starts.  A device may
connect only with its own id as client id, publish only its own telemetry and
status (also its last will) and read only its own config.  The ``ww-`` prefix
is reserved for service accounts.
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

from wastewatch.schema import CITY_PATTERN, DEVICE_ID_PATTERN
from wastewatch.security.accounts import RESERVED_PREFIX
from wastewatch.security.dynsec import DeviceGrant
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

    def grant(self) -> DeviceGrant:
        """What the broker's dynamic security plugin needs of it."""
        return DeviceGrant(self.device_id, self.city, self.password_hash)


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
        return self.provision_many([(device_id, city)], rotate=rotate)[0]

    def provision_many(
        self, wanted: list[tuple[str, str]], *, rotate: bool = False
    ) -> list[tuple[Device, str]]:
        """`provision` for many (device id, city) pairs under one lock and one write.

        All or nothing: one bad or already-provisioned id refuses the whole list.
        """
        for device_id, city in wanted:
            check_device_id(device_id)
            check_city(city)
        ids = [d for d, _ in wanted]
        if len(set(ids)) != len(ids):
            twice = sorted({d for d in ids if ids.count(d) > 1})
            raise BadInputError(f"device ids listed twice: {', '.join(twice[:5])}")
        out: list[tuple[Device, str]] = []
        with self._locked():
            known = {d.device_id: d for d in self.devices()}
            for device_id, city in wanted:
                old = known.get(device_id)
                if old is not None and not rotate:
                    raise BadInputError(
                        f"device {device_id!r} is already provisioned; --rotate issues it a "
                        "new password (the old one stops working)"
                    )
                if old is None and rotate:
                    raise UnknownDeviceError(device_id, str(self.directory))
                password = new_password()
                device = Device(
                    device_id=device_id,
                    city=old.city if old is not None else city,
                    password_hash=hash_password(password),
                    provisioned_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
                known[device_id] = device
                out.append((device, password))
            self._write(known)
        return out

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

    def grants(self) -> list[DeviceGrant]:
        return [d.grant() for d in self.devices()]

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


@dataclass(frozen=True, slots=True)
class Mounting:
    """Where the sensor sits in its bin (the registry's values, or typical ones)."""

    mounting_height_mm: int = 1050
    usable_depth_mm: int = 800
    dead_zone_mm: int = 250


def firmware_config(
    device: Device, password: str, broker: BrokerAddress, mounting: Mounting | None = None
) -> dict[str, Any]:
    """The device's ``wastewatch.json`` (firmware/README.md, "Configuration").

    Wi-Fi is a placeholder for the technician; the calibration is the bin
    registry's mounting when known, else the shipped bins' typical geometry, to
    be measured at installation either way.
    """
    mount = mounting or Mounting()
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
        "calibration": {
            "mounting_height_mm": mount.mounting_height_mm,
            "usable_depth_mm": mount.usable_depth_mm,
            "dead_zone_mm": mount.dead_zone_mm,
        },
        "report_interval_s": 900,
        "nearly_full_interval_s": 300,
        "heartbeat_interval_s": 3600,
    }


def write_firmware_config(path: Path, doc: dict[str, Any]) -> None:
    """Write the config (it holds the device's password: mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
