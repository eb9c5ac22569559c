"""Mosquitto from Debian's package, with a config file this project writes.

Persistence is on so that a persistent session's queued QoS 1 messages survive
a broker restart (the bridge reconnects with clean_start=False and receives
them).  Listens on 127.0.0.1 only: plain MQTT on ``WW_STACK_MQTT_PORT`` for
local tools and TLS on ``WW_STACK_MQTT_TLS_PORT`` with a certificate from the
state dir's CA (`wastewatch.security.tls`).

No anonymous access: every client logs in, with a service account
(`wastewatch.security.accounts`) or a provisioned device's own
(`wastewatch.security.devices`), and the ACL file limits each to its topics.
The TLS listener also replaces a client's id with its user name, so a device
cannot take over another's session by connecting with its client id.

**Reload is a restart.**  Mosquitto 2.0.11 (Debian bookworm) can crash when a
SIGHUP reloads an ACL file whose per-user blocks changed (upstream
eclipse/mosquitto#3418), so after provisioning or revoking a device the broker
is stopped (SIGTERM: it saves its persistence file) and started again by its
pid.  Queued QoS 1 messages and persistent sessions survive; clients
reconnect (devices on their next wake, the bridge within seconds).  Connected
clients are disconnected, which also makes a revoked device's open connection
end at once.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
from pathlib import Path

from wastewatch.security.accounts import OPS, load_or_create_passwords, mqtt_url, service_acl
from wastewatch.security.devices import DeviceRegistry
from wastewatch.security.passwords import hash_password, verify_password
from wastewatch.security.tls import LocalCA
from wastewatch.settings import Settings
from wastewatch.stack.apt import ensure_packages
from wastewatch.stack.errors import StackError
from wastewatch.stack.paths import service_dir
from wastewatch.stack.process import (
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
        ensure_packages(["mosquitto"], log=self._state.resolve() / "logs" / "apt.log")

    def running(self) -> bool:
        return is_alive(read_pid(self.pid_file), MARKER)

    def answers(self) -> bool:
        ok = mqtt_ping(self.port, username=OPS, password=self.passwords[OPS])
        return ok and port_open(self.tls_port)

    def start(self) -> None:
        """Start the broker; a running one whose configuration changed is restarted."""
        home = service_dir(self._state, "mosquitto", SERVICE_USER)
        changed = self._write_files(home)
        if self.running():
            if not changed:
                return
            self.stop()
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
        )

    def reload(self) -> bool:
        """Apply the device registry now: rewrite the password and ACL files and, when the
        broker runs, restart it (see the module docstring for why not SIGHUP).

        Returns True when a running broker was restarted (a stopped one reads the
        registry when it starts).
        """
        if not self.running():
            return False
        self.stop()
        self.start()
        return True

    def _write_files(self, home: Path) -> bool:
        """Config, passwords, ACL and TLS files in ``home``; True when any of them changed."""
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
        files = {
            "mosquitto.conf": self.config(home),
            "passwd": self._passwd_text(home / "passwd"),
            "acl.conf": service_acl() + "\n" + self.devices.acl_text(),
        }
        for name, text in files.items():
            path = home / name
            if not path.exists() or path.read_text() != text:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                changed = True
        _chown_tree(home)
        return changed

    def _passwd_text(self, current: Path) -> str:
        """Service accounts and provisioned devices; a service hash that still matches its
        password is kept, so an unchanged file compares equal and needs no restart."""
        old: dict[str, str] = {}
        if current.exists():
            for line in current.read_text().splitlines():
                user, sep, hashed = line.partition(":")
                if sep:
                    old[user] = hashed
        lines = []
        for user, password in self.passwords.items():
            hashed = old.get(user, "")
            if not verify_password(password, hashed):
                hashed = hash_password(password)
            lines.append(f"{user}:{hashed}\n")
        return "".join(lines) + self.devices.passwd_text()

    def config(self, home: Path) -> str:
        tls = home / "tls"
        return "\n".join(
            [
                "# Written by `wastewatch services up`; edits are overwritten.",
                "per_listener_settings false",
                "allow_anonymous false",
                f"password_file {home / 'passwd'}",
                f"acl_file {home / 'acl.conf'}",
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
