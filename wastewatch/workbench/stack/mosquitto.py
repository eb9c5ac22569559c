"""Mosquitto from Debian's package, with a config file this project writes.

Persistence is on so that a persistent session's queued QoS 1 messages survive
a broker restart (the bridge reconnects with clean_start=False and receives
them).  Listens on 127.0.0.1 only: plain MQTT on ``WW_STACK_MQTT_PORT`` for
local tools and TLS on ``WW_STACK_MQTT_TLS_PORT`` with a certificate from the
state dir's CA (`wastewatch.security.tls`).

No anonymous access: every client logs in, with a service account
(`wastewatch.security.accounts`) or a provisioned device's own
(`wastewatch.security.devices`).  Accounts, client-id bindings and ACLs live in
Mosquitto's dynamic security plugin (`wastewatch.security.dynsec`): a device
may connect only with its own id as client id, on either listener, so no
device can take over another's session or the bridge's.  The TLS listener also
replaces a client's id with its user name.

**Changes are live.**  Provisioning, revoking and rotating a device are plugin
commands sent by the ``ww-admin`` account to the running broker (`apply`): no
restart, nobody else disconnected; a revoked device's open connection is
closed by the plugin.  When the broker is not running, its plugin file is
rebuilt from the service passwords and the device registry at the next start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
from pathlib import Path
from typing import Any

from wastewatch.core import MqttTarget, Settings
from wastewatch.security import (
    ADMIN,
    OPS,
    DeviceRegistry,
    DynsecControl,
    LocalCA,
    config_document,
    load_or_create_passwords,
    mqtt_url,
    plugin_path,
)
from wastewatch.workbench.stack.apt import ensure_packages
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.mosquitto_guard import GuardPlugins, ensure_guard
from wastewatch.workbench.stack.paths import service_dir
from wastewatch.workbench.stack.process import (
    LOOPBACK,
    ensure_port_free,
    is_alive,
    port_open,
    read_pid,
    spawn,
    stop_pid,
    user_ids,
    wait_until,
)

SERVICE_USER = "mosquitto"
DYNSEC_FILE = "dynamic-security.json"
MARKER = "mosquitto"
TLS_HOSTS = [LOOPBACK, "localhost"]


class MosquittoService:
    """The local MQTT broker."""

    name = "mosquitto"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.port = settings.stack.mqtt_port
        self.tls_port = settings.stack.mqtt_tls_port
        self._state = settings.state_dir
        state = self._state.resolve()
        self.passwords = load_or_create_passwords(state / "secrets" / "mqtt.json")
        self.ca = LocalCA.for_state_dir(state)
        self.devices = DeviceRegistry(state / "devices")
        self._guard: GuardPlugins | None = None

    @property
    def pid_file(self) -> Path:
        return self._state.resolve() / "run" / "mosquitto.pid"

    @property
    def address(self) -> str:
        """Where it listens, without credentials (for status lines)."""
        return f"mqtt://{LOOPBACK}:{self.port} mqtts://{LOOPBACK}:{self.tls_port}"

    def url(self, account: str, *, tls: bool = False) -> str:
        """``mqtt://account:password@127.0.0.1:port`` (mqtts:// and the TLS port with ``tls``)."""
        port = self.tls_port if tls else self.port
        return mqtt_url(account, self.passwords[account], LOOPBACK, port, tls=tls)

    def install(self) -> None:
        log = self._state.resolve() / "logs" / "apt.log"
        ensure_packages(["mosquitto"], log=log)
        self._guard = ensure_guard(log=self._state.resolve() / "logs" / "mosquitto-guard.log")

    def running(self) -> bool:
        return is_alive(read_pid(self.pid_file), MARKER)

    def answers(self) -> bool:
        ok = mqtt_ping(self.port, username=OPS, password=self.passwords[OPS])
        return ok and port_open(self.tls_port)

    def start(self) -> None:
        """Start the broker; a running one whose configuration changed is restarted.

        A broker that is not running gets its plugin state rebuilt from the service
        passwords and the device registry first (the registry is the source of truth).
        """
        home = service_dir(self._state, "mosquitto", SERVICE_USER)
        changed = self._write_files(home)
        if self.running():
            if not changed:
                return
            self.stop()
        self._write_dynsec(home)
        ensure_port_free(self.port, step="start mosquitto", setting="WW_STACK_MQTT_PORT")
        ensure_port_free(self.tls_port, step="start mosquitto", setting="WW_STACK_MQTT_TLS_PORT")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = home / "mosquitto.log"
        spawn([binary, "-c", str(home / "mosquitto.conf")], log=log, pid_file=self.pid_file)
        wait_until(
            self.answers,
            timeout_s=self._settings.stack.wait_s,
            step="start mosquitto",
            log=log,
            hint="read the log; `mosquitto -c CONF -v` by hand shows config errors",
            show_tail=True,
        )

    def admin_target(self) -> MqttTarget:
        """The ``ww-admin`` account's address: the only one that may change accounts."""
        return MqttTarget.from_url(self.url(ADMIN))

    def apply(self, commands: list[dict[str, Any]], *, tolerate: tuple[str, ...] = ()) -> bool:
        """Send dynamic-security commands to the running broker; False when it is not running
        (its plugin state is rebuilt from the registry when it starts)."""
        if not self.running():
            return False
        with DynsecControl(self.admin_target()) as control:
            control.run(commands, tolerate=tolerate)
        return True

    def _write_files(self, home: Path) -> bool:
        """Config and TLS files in ``home``; True when any of them changed."""
        (home / "data").mkdir(exist_ok=True)
        tls = home / "tls"
        tls.mkdir(exist_ok=True)
        changed = False
        self.ca.ensure()
        if not self.ca.server_cert_current(tls / "server.pem", TLS_HOSTS):
            self.ca.issue_server(TLS_HOSTS, tls / "server.pem", tls / "server.key")
            changed = True
        ca_copy = tls / "ca.pem"
        if not ca_copy.exists() or ca_copy.read_bytes() != self.ca.ca_cert.read_bytes():
            ca_copy.write_bytes(self.ca.ca_cert.read_bytes())
            changed = True
        text = self.config(home)
        path = home / "mosquitto.conf"
        if not path.exists() or path.read_text() != text:
            _write_private(path, text)
            changed = True
        _chown_tree(home)
        return changed

    def _write_dynsec(self, home: Path) -> None:
        """The plugin's state from the service passwords and the registry (broker stopped)."""
        document = config_document(self.passwords, self.devices.grants())
        _write_private(home / "data" / DYNSEC_FILE, json.dumps(document, indent=1) + "\n")
        _chown_tree(home)

    def config(self, home: Path) -> str:
        tls = home / "tls"
        if self._guard is None:
            self.install()
        assert self._guard is not None
        stack = self._settings.stack
        return "\n".join(
            [
                "# Written by `wastewatch services up`; edits are overwritten.",
                "per_listener_settings false",
                "allow_anonymous false",
                "# Plugins are asked in this order (ww_guard.c says why it is two).",
                "# 1. Login flood guard: too many attempts from one address are refused.",
                f"plugin {self._guard.login_guard}",
                f"plugin_opt_max_attempts {stack.mqtt_login_max_attempts}",
                f"plugin_opt_window_s {stack.mqtt_login_window_s}",
                f"plugin_opt_exempt {' '.join(stack.mqtt_login_exempt)}",
                "# 2. Accounts, client-id bindings and ACLs: changed live by ww-admin.",
                f"plugin {plugin_path()}",
                f"plugin_opt_config_file {home / 'data' / DYNSEC_FILE}",
                "# 3. What dynsec denies is reported on $SYS/broker/wastewatch/denied.",
                f"plugin {self._guard.denial_watch}",
                "persistence true",
                f"persistence_location {home / 'data'}/",
                "autosave_interval 30",
                "autosave_on_changes false",
                # A bridge that is down must not lose QoS 1 traffic queued for it.
                "max_queued_messages 1000000",
                "max_queued_bytes 0",
                "max_inflight_messages 1000",
                # Big enough that an oversize device payload reaches the bridge and lands in
                # the DLQ with a reason, instead of the broker silently cutting the device off.
                "max_packet_size 2097152",
                "persistent_client_expiration 14d",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "connection_messages true",
                f"user {SERVICE_USER}",
                "",
                "# Plain MQTT for local tools (still with user name and password).",
                f"listener {self.port} {LOOPBACK}",
                "",
                "# TLS with the state dir's CA; the client id is the user name here.",
                f"listener {self.tls_port} {LOOPBACK}",
                f"cafile {tls / 'ca.pem'}",
                f"certfile {tls / 'server.pem'}",
                f"keyfile {tls / 'server.key'}",
                "tls_version tlsv1.2",
                "use_username_as_clientid true",
                "",
            ]
        )

    def stop(self) -> bool:
        pid = read_pid(self.pid_file)
        stopped = pid is not None and stop_pid(pid, MARKER)
        self.pid_file.unlink(missing_ok=True)
        return stopped


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _chown_tree(home: Path) -> None:
    uid, gid = user_ids(SERVICE_USER)
    for path in [home, *home.rglob("*")]:
        try:
            os.chown(path, uid, gid)
        except OSError as exc:  # pragma: no cover - only on odd filesystems
            raise StackError("prepare mosquitto", f"cannot chown {path}: {exc}") from exc


def mqtt_ping(
    port: int, host: str = LOOPBACK, username: str | None = None, password: str | None = None
) -> bool:
    """Connect with MQTT 3.1.1 and expect a CONNACK that accepts us.

    Raw bytes on purpose: readiness is checked before any client library's
    reconnect logic could mask a broker that rejects connections.
    """
    flags = 0x02
    payload = _mqtt_str("ww-stack-probe")
    if username is not None:
        flags |= 0x80
        payload += _mqtt_str(username)
        if password is not None:
            flags |= 0x40
            payload += _mqtt_str(password)
    variable = _mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 10)
    body = variable + payload
    packet = bytes([0x10]) + _varint(len(body)) + body
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(packet)
        reply = sock.recv(4)
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return len(reply) == 4 and reply[0] == 0x20 and reply[3] == 0


def _mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
