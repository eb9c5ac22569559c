"""`wastewatch devices provision|revoke|list`: one MQTT credential per bin sensor.

``provision`` creates the device's credential and ACL entry in the registry,
restarts the local broker so it takes effect (Mosquitto's reload is a restart,
see `wastewatch.stack.mosquitto`) and writes the device's firmware
configuration: broker address, its user name and password, the CA certificate
for TLS, and Wi-Fi and calibration placeholders for the technician.  The
password exists only in that file.  ``revoke`` removes the credential (the
broker restart also ends an open connection of the device).

The registry is the local stack's (``.wastewatch/devices/``) unless
``--registry DIR`` names another, e.g. ``deploy/mosquitto/devices`` for
docker-compose, whose broker then needs ``docker compose restart mosquitto``.
A bad argument is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wastewatch.settings import Settings, load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devices", help="per-device MQTT credentials: provision, revoke, list")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    prov = actions.add_parser(
        "provision",
        help="create a device's credential and ACL entry, apply it, write its firmware config",
        description="Creates the device's MQTT credential (user = device id) and ACL entry "
        "(publish its own telemetry and status, read its own config), restarts the local "
        "broker to apply it and writes the firmware's wastewatch.json (mode 600; the only "
        "copy of the password).",
    )
    prov.add_argument("--device-id", required=True, metavar="ID", help="e.g. kls-bin-0001")
    prov.add_argument("--city", default=None, help="the device's city (default: WW_CITY)")
    prov.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="firmware config to write (default: .wastewatch/device-configs/ID.json)",
    )
    prov.add_argument(
        "--broker-host", default=None, help="host the device connects to (default: 127.0.0.1)"
    )
    prov.add_argument(
        "--broker-port",
        type=int,
        default=None,
        help="port (default: the local TLS listener, or the plain one with --no-tls)",
    )
    prov.add_argument(
        "--no-tls", action="store_true", help="plain MQTT (no CA certificate in the config)"
    )
    prov.add_argument(
        "--rotate",
        action="store_true",
        help="the device is provisioned already: issue a new password (the old one stops)",
    )
    _registry_arg(prov)
    prov.set_defaults(handler=provision)

    rev = actions.add_parser("revoke", help="remove a device's credential and ACL entry")
    rev.add_argument("--device-id", required=True, metavar="ID")
    _registry_arg(rev)
    rev.set_defaults(handler=revoke)

    lst = actions.add_parser("list", help="provisioned devices")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    _registry_arg(lst)
    lst.set_defaults(handler=list_devices)


def _registry_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registry",
        type=Path,
        default=None,
        metavar="DIR",
        help="device registry folder (default: the local stack's .wastewatch/devices)",
    )


def _local_registry(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "devices"


def _registry(args: argparse.Namespace, settings: Settings) -> Path:
    return (args.registry or _local_registry(settings)).resolve()


def _bad(action: str, message: object) -> int:
    print(f"wastewatch devices {action}: {message}", file=sys.stderr)
    return 2


def _apply(settings: Settings, registry: Path) -> str:
    """Make the broker use the registry now; returns what was done, for the user."""
    if registry != _local_registry(settings):
        return (
            f"the registry {registry} is not the local stack's: restart its broker to apply "
            "it (docker-compose: `docker compose restart mosquitto`)"
        )
    from wastewatch.stack.mosquitto import MosquittoService

    if MosquittoService(settings).reload():
        return "restarted the local broker to apply it"
    return "the local broker is not running; it applies this when it starts"


def provision(args: argparse.Namespace) -> int:
    from wastewatch.security.devices import (
        BrokerAddress,
        DeviceRegistry,
        firmware_config,
        write_firmware_config,
    )
    from wastewatch.security.errors import BadInputError
    from wastewatch.security.tls import LocalCA

    settings = load_settings()
    registry = DeviceRegistry(_registry(args, settings))
    city = args.city or settings.city
    port = args.broker_port
    if port is not None and not 1 <= port <= 65535:
        return _bad("provision", f"--broker-port {port} is not a TCP port")
    ca_pem: str | None = None
    if not args.no_tls:
        ca = LocalCA.for_state_dir(settings.state_dir)
        ca.ensure()
        ca_pem = ca.ca_cert.read_text()
    default_port = settings.stack.mqtt_port if args.no_tls else settings.stack.mqtt_tls_port
    broker = BrokerAddress(args.broker_host or "127.0.0.1", port or default_port, ca_pem)
    out: Path = (
        args.out or settings.state_dir.resolve() / "device-configs" / f"{args.device_id}.json"
    )
    try:
        device, password = registry.provision(args.device_id, city, rotate=args.rotate)
    except BadInputError as exc:
        return _bad("provision", exc)
    write_firmware_config(out, firmware_config(device, password, broker))
    applied = _apply(settings, registry.directory)
    verb = "issued a new password to" if args.rotate else "provisioned"
    print(f"{verb} {device.device_id} (city {device.city}) in {registry.directory}")
    print(f"{applied}")
    print(
        f"wrote {out} (mode 600: it holds the password): copy it to the device as "
        "wastewatch.json, then set Wi-Fi and measure the calibration (firmware/README.md)"
    )
    return 0


def revoke(args: argparse.Namespace) -> int:
    from wastewatch.security.devices import DeviceRegistry
    from wastewatch.security.errors import BadInputError

    settings = load_settings()
    registry = DeviceRegistry(_registry(args, settings))
    try:
        device = registry.revoke(args.device_id)
    except BadInputError as exc:
        return _bad("revoke", exc)
    config = settings.state_dir.resolve() / "device-configs" / f"{device.device_id}.json"
    config.unlink(missing_ok=True)
    print(f"revoked {device.device_id}; {_apply(settings, registry.directory)}")
    return 0


def list_devices(args: argparse.Namespace) -> int:
    from wastewatch.security.devices import DeviceRegistry

    settings = load_settings()
    devices = DeviceRegistry(_registry(args, settings)).devices()
    for d in devices:
        if args.json:
            print(json.dumps({"device_id": d.device_id, "city": d.city, "since": d.provisioned_at}))
        else:
            print(f"{d.device_id:<24} {d.city:<12} {d.provisioned_at}")
    if not devices and not args.json:
        print("no devices provisioned")
    return 0
