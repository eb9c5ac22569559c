"""`wastewatch devices provision|revoke|list|refused`: one MQTT credential per bin sensor.

``provision`` creates the device's credential in the registry, gives it to the
running broker at once through Mosquitto's dynamic security plugin (no
restart: nobody else is disconnected) and writes the device's firmware
configuration: broker address, its user name and password, the CA certificate
for TLS, Wi-Fi placeholders and the bin's mounting.  The password exists only
in that file.  ``--rotate`` issues a new password to a provisioned device;
``revoke`` removes the credential and the broker closes the device's open
connection.  Many devices at once: ``--csv FILE`` or ``--from-bins`` (the bin
registry in the database), one firmware config per device in ``--out-dir``.

The registry is the local stack's (``.wastewatch/devices/``) unless
``--registry DIR`` names another, e.g. ``deploy/mosquitto/devices`` for
docker-compose.  The local registry's changes go to the local broker; another
registry's go to the broker that ``WW_MQTT_ADMIN_URL`` names in the
environment (never the local stack's env file, whose ww-admin is the local
broker's), or, when it is unset, only to the registry.  A bad argument is one
line and exit 2, as is every other error (printed once by ``wastewatch.cli.main``).

``refused`` lists, from the database (read-only role), each client the broker
refused in the last hours: publishes or subscriptions its ACL denied (under MQTT
3.1.1 a denied publish is acknowledged and dropped, so a device provisioned for the
wrong city or id looks fine to itself) and login floods.  The Fleet health board
shows the same list.

``broker-state`` writes the plugin's whole state file for a broker that is not
running yet, from the service passwords in the environment and a registry:
docker-compose's one-shot ``mqtt-auth`` service runs it before Mosquitto
starts.  Once the broker runs, the plugin keeps that file itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wastewatch.cli.options import Subparsers, add_action, add_json, command_group
from wastewatch.core import Settings, load_settings

if TYPE_CHECKING:
    from wastewatch.security import BrokerAddress, Device, Mounting

JSON_PER_LINE = "one JSON object per line"


def register(sub: Subparsers) -> None:
    actions = command_group(
        sub,
        "devices",
        "per-device MQTT credentials: provision, revoke, list, refused, broker-state",
    )

    prov = add_action(
        actions,
        "provision",
        provision,
        "create devices' credentials live on the broker and write their firmware configs",
        description="Creates each device's MQTT credential (user and client id = device id; "
        "publish its own telemetry and status, read its own config), applies it to the "
        "running broker at once (no restart) and writes the firmware's wastewatch.json "
        "(mode 600; the only copy of the password). One device with --device-id, many with "
        "--csv or --from-bins.",
    )
    which = prov.add_mutually_exclusive_group(required=True)
    which.add_argument("--device-id", metavar="ID", help="one device, e.g. kls-bin-0001")
    which.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="many devices: a CSV with a device_id column (optional: city, "
        "mounting_height_mm, usable_depth_mm)",
    )
    which.add_argument(
        "--from-bins",
        action="store_true",
        help="every active bin with a device in the database's bin registry",
    )
    prov.add_argument("--city", default=None, help="the devices' city (default: WW_CITY)")
    prov.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --device-id: the firmware config to write "
        "(default: .wastewatch/device-configs/ID.json)",
    )
    prov.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the firmware configs go, ID.json each (default: .wastewatch/device-configs)",
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
        help="the devices are provisioned already: issue new passwords (the old ones stop)",
    )
    _registry_arg(prov)

    rev = add_action(
        actions, "revoke", revoke, "remove a device's credential; the broker disconnects it at once"
    )
    rev.add_argument("--device-id", required=True, metavar="ID")
    _registry_arg(rev)

    lst = add_action(actions, "list", list_devices, "provisioned devices")
    add_json(lst, JSON_PER_LINE)
    _registry_arg(lst)

    refused = add_action(
        actions,
        "refused",
        list_refused,
        "clients the broker refused: denied publishes/subscriptions, login floods",
        description="Each client the MQTT broker refused in the last hours, one line each, "
        "latest first: what it was refused (publish, subscribe, login), how often, the last "
        "topic it tried and when. Under MQTT 3.1.1 the broker acknowledges a denied publish "
        "and drops it, so a device provisioned for the wrong city or id shows up here and "
        "nowhere else. Reads the database through the read-only role (WW_DB_READER_DSN).",
    )
    refused.add_argument(
        "--hours",
        type=_hours,
        default=24.0,
        metavar="H",
        help="how far back, in hours (default 24; at most 8760)",
    )
    add_json(refused, JSON_PER_LINE)

    state = add_action(
        actions,
        "broker-state",
        broker_state,
        "write the dynamic security plugin's file for a broker that is not running yet",
        description="Builds the plugin's whole state (service accounts, their roles, every "
        "device in the registry, each bound to its own client id) and writes it to FILE, mode "
        "600, in one rename. The service passwords come from the environment: "
        "WW_MQTT_BRIDGE_PASSWORD, WW_MQTT_SIM_PASSWORD, WW_MQTT_OPS_PASSWORD, "
        "WW_MQTT_WEIGHBRIDGE_PASSWORD and WW_MQTT_ADMIN_PASSWORD. docker-compose's mqtt-auth "
        "service runs it before Mosquitto starts; a running broker keeps the file itself.",
    )
    state.add_argument(
        "--registry",
        type=Path,
        required=True,
        metavar="DIR",
        help="device registry folder, e.g. deploy/mosquitto/devices",
    )
    state.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the plugin's config file (plugin_opt_config_file), e.g. "
        "/mosquitto/data/dynamic-security.json",
    )


def _hours(text: str) -> float:
    """``--hours``: a positive number of hours, at most a year."""
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not 0 < hours <= 8760:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 8760 hours")
    return hours


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


def _apply(settings: Settings, registry: Path, commands: list[dict[str, Any]]) -> str:
    """Send the plugin commands to the broker now; returns what was done, for the user."""
    from wastewatch.core import MqttTarget
    from wastewatch.security import BrokerUnreachableError, DynsecControl

    if registry == _local_registry(settings):
        # The local stack's env file names its broker's ww-admin account; the product
        # does not reach into the workbench to find it.
        if settings.mqtt.admin_url is None:
            return "no local broker is set up yet; it applies this when it starts"
        try:
            with DynsecControl(MqttTarget.from_url(settings.mqtt.admin_url)) as control:
                control.run(commands)
        except BrokerUnreachableError:
            return "the local broker is not running; it applies this when it starts"
        return "applied to the running local broker (no restart)"
    # Another registry's broker is named by the real environment only: the local stack's
    # env file (.wastewatch/env, read by default) holds the *local* broker's ww-admin, and
    # a compose registry's devices must never be created there.
    own = load_settings(_env_file=None)
    if own.mqtt.admin_url is None:
        return (
            f"the registry {registry} is not the local stack's: set WW_MQTT_ADMIN_URL to its "
            "broker's ww-admin account to apply changes live (the broker also rebuilds its "
            "accounts from the registry when its auth set-up runs)"
        )
    ca_file = own.mqtt.ca_file or settings.mqtt.ca_file  # the local CA signs both brokers
    target = MqttTarget.from_url(own.mqtt.admin_url, ca_file=ca_file)
    with DynsecControl(target) as control:
        control.run(commands)
    return f"applied to the broker at {target} (no restart)"


def _wanted(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str, Mounting | None]]:
    """(device id, city, mounting) for every device the arguments name."""
    from wastewatch.security import BadInputError, Mounting

    city = args.city or settings.city
    if args.device_id is not None:
        return [(args.device_id, city, None)]
    if args.csv is not None:
        try:
            with args.csv.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise BadInputError(f"cannot read {args.csv}: {exc.strerror}") from exc
        if not rows or "device_id" not in rows[0]:
            raise BadInputError(f"{args.csv} needs a header row with a device_id column")
        out: list[tuple[str, str, Mounting | None]] = []
        for line, row in enumerate(rows, start=2):
            try:
                mount = (
                    Mounting(int(row["mounting_height_mm"]), int(row["usable_depth_mm"]))
                    if row.get("mounting_height_mm") and row.get("usable_depth_mm")
                    else None
                )
            except ValueError as exc:
                raise BadInputError(f"{args.csv} line {line}: mounting is not a number") from exc
            out.append(((row["device_id"] or "").strip(), row.get("city") or city, mount))
        return out
    import psycopg

    dsn = settings.db.reader_dsn or settings.db.writer_dsn or settings.db.dsn
    try:
        with psycopg.connect(dsn, connect_timeout=settings.db.connect_timeout_s) as conn:
            rows_db = conn.execute(
                "select device_id, mounting_height_mm, usable_depth_mm from bins "
                "where device_id is not null and active order by device_id"
            ).fetchall()
    except psycopg.Error as exc:
        raise BadInputError(
            f"cannot read the bin registry ({str(exc).strip().splitlines()[0]}); is the "
            "database up and migrated (`wastewatch db migrate`, `wastewatch bins import`)?"
        ) from exc
    if not rows_db:
        raise BadInputError("the bin registry has no active bin with a device")
    return [(str(d), city, Mounting(int(h), int(u))) for d, h, u in rows_db]


def _broker(args: argparse.Namespace, settings: Settings) -> BrokerAddress:
    from wastewatch.security import BrokerAddress, LocalCA

    ca_pem: str | None = None
    if not args.no_tls:
        ca = LocalCA.for_state_dir(settings.state_dir)
        ca.ensure()
        ca_pem = ca.ca_cert.read_text()
    default_port = settings.stack.mqtt_port if args.no_tls else settings.stack.mqtt_tls_port
    return BrokerAddress(args.broker_host or "127.0.0.1", args.broker_port or default_port, ca_pem)


def provision(args: argparse.Namespace) -> int:
    from wastewatch.security import (
        BadInputError,
        DeviceRegistry,
        firmware_config,
        provision_commands,
        write_firmware_config,
    )

    started = time.monotonic()
    settings = load_settings()
    if args.broker_port is not None and not 1 <= args.broker_port <= 65535:
        raise BadInputError(f"--broker-port {args.broker_port} is not a TCP port")
    if args.out is not None and args.device_id is None:
        raise BadInputError("--out is for one device; use --out-dir with --csv/--from-bins")
    registry = DeviceRegistry(_registry(args, settings))
    wanted = _wanted(args, settings)
    done = registry.provision_many([(d, c) for d, c, _ in wanted], rotate=args.rotate)
    broker = _broker(args, settings)
    out_dir: Path = args.out_dir or settings.state_dir.resolve() / "device-configs"
    mountings = {d: m for d, _, m in wanted}
    commands: list[dict[str, Any]] = []
    for device, password in done:
        out = args.out if args.out is not None else out_dir / f"{device.device_id}.json"
        doc = firmware_config(device, password, broker, mountings.get(device.device_id))
        write_firmware_config(out, doc)
        commands += provision_commands(device.device_id, device.city, password, rotate=args.rotate)
    applied = _apply(settings, registry.directory, commands)
    _report(done, args, registry.directory, applied, out_dir, time.monotonic() - started)
    return 0


def _report(
    done: list[tuple[Device, str]],
    args: argparse.Namespace,
    registry: Path,
    applied: str,
    out_dir: Path,
    seconds: float,
) -> None:
    verb = "issued new passwords to" if args.rotate else "provisioned"
    if len(done) == 1:
        device = done[0][0]
        out = args.out or out_dir / f"{device.device_id}.json"
        print(f"{verb} {device.device_id} (city {device.city}) in {registry}")
        print(applied)
        print(
            f"wrote {out} (mode 600: it holds the password): copy it to the device as "
            "wastewatch.json, then set Wi-Fi and check the calibration (firmware/README.md)"
        )
        return
    print(f"{verb} {len(done)} devices in {registry} in {seconds:.1f} s")
    print(applied)
    print(f"wrote {len(done)} firmware configs (mode 600) to {out_dir}/ID.json")


def revoke(args: argparse.Namespace) -> int:
    from wastewatch.security import DeviceRegistry, revoke_commands

    settings = load_settings()
    registry = DeviceRegistry(_registry(args, settings))
    device = registry.revoke(args.device_id)
    config = settings.state_dir.resolve() / "device-configs" / f"{device.device_id}.json"
    config.unlink(missing_ok=True)
    applied = _apply(settings, registry.directory, revoke_commands(device.device_id))
    print(f"revoked {device.device_id}; {applied}")
    return 0


def list_devices(args: argparse.Namespace) -> int:
    from wastewatch.security import DeviceRegistry

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


REFUSED_HINT = (
    "compare the topic with `wastewatch devices list`; re-provision with the right --city: "
    "when the list has the city the device should use, `devices provision --device-id ID "
    "--rotate` writes it a new config with that city; when it does not, `devices revoke "
    "--device-id ID`, then `devices provision --device-id ID --city CITY`"
)
LOGIN_HINT = (
    "a login flood: find what runs at that address; if it persists, block it in the host "
    "firewall (deploy/README.md)"
)


def list_refused(args: argparse.Namespace) -> int:
    import psycopg

    from wastewatch.queries import DatabaseReadError
    from wastewatch.security import REFUSED_COLUMNS, refused_sql

    db = load_settings().db
    dsn = db.reader_dsn or db.writer_dsn or db.dsn
    sql = refused_sql("now()", "%(hours)s")
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=db.connect_timeout_s) as conn:
            rows = conn.execute(sql, {"hours": args.hours}).fetchall()
    except psycopg.Error as exc:
        raise DatabaseReadError.because(exc) from exc
    records = [dict(zip(REFUSED_COLUMNS, row, strict=True)) for row in rows]
    if args.json:
        for r in records:
            print(json.dumps({**r, "last_at": r["last_at"].isoformat()}, ensure_ascii=False))
        return 0
    span = f"{args.hours:g} h"
    if not records:
        print(f"the broker refused nobody in the last {span}")
        return 0
    print(f"refused by the MQTT broker in the last {span}, latest first (times Asia/Bangkok):")
    for r in records:
        print(_refused_line(r))
    kinds = {r["refused"] for r in records}
    if kinds - {"login"}:
        print(f"hint: {REFUSED_HINT}")
    if "login" in kinds:
        print(f"hint: {LOGIN_HINT}")
    return 0


def _refused_line(r: dict[str, Any]) -> str:
    """One client: who, what and how often, when last, the last topic."""
    from zoneinfo import ZoneInfo

    last = r["last_at"].astimezone(ZoneInfo("Asia/Bangkok")).strftime("%Y-%m-%d %H:%M:%S")
    who = f"user {r['username']!r}" + (f", bin {r['bin_id']}" if r["bin_id"] else "")
    if r["refused"] == "login":
        windows = f"{r['count']} window" + ("s" if r["count"] != 1 else "")
        return f"{r['client']} ({who}): logins refused in {windows}, last {last}"
    where = f" from {r['address']}" if r["address"] else ""
    return (
        f"{r['client']} ({who}){where}: {r['refused']} denied {r['count']}x, last {last}, "
        f"last topic {r['last_topic']}"
    )


def broker_state(args: argparse.Namespace) -> int:
    from wastewatch.security import (
        BadInputError,
        DeviceRegistry,
        SecurityError,
        config_document,
        passwords_from_environment,
    )

    passwords = passwords_from_environment(os.environ)
    registry = DeviceRegistry(args.registry.resolve())
    if not registry.directory.is_dir():
        raise BadInputError(f"the registry {registry.directory} is not a folder")
    try:
        grants = registry.grants()
    except (OSError, ValueError, TypeError) as exc:
        # A broker started without its devices would refuse the whole fleet: stop instead.
        raise SecurityError(f"cannot read the registry {registry.file}: {exc}") from exc
    document = config_document(passwords, grants)
    try:
        _replace_private(args.out, json.dumps(document, indent=1) + "\n")
    except OSError as exc:
        raise SecurityError(f"cannot write {args.out}: {exc}") from exc
    print(
        f"wrote {args.out} (mode 600): {len(passwords)} service accounts and "
        f"{len(grants)} devices from {registry.directory}"
    )
    return 0


def _replace_private(path: Path, text: str) -> None:
    """Replace ``path`` with a mode-600 file in one rename: a broker starting meanwhile reads
    the old file or the new one, never half of either.  The temporary name is not the
    plugin's own (``FILE.new``), so a running broker saving at the same moment is harmless."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
