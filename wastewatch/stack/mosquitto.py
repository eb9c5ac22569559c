"""Mosquitto from Debian's package, with a config file this project writes.

Persistence is on so that a persistent session's queued QoS 1 messages survive
a broker restart (the bridge reconnects with clean_start=False and receives
them).  Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path

from wastewatch.settings import Settings
from wastewatch.stack.apt import ensure_packages
from wastewatch.stack.errors import StackError
from wastewatch.stack.paths import service_dir
from wastewatch.stack.process import (
    LOOPBACK,
    ensure_port_free,
    is_alive,
    read_pid,
    spawn,
    stop_pid,
    wait_until,
)

SERVICE_USER = "mosquitto"
MARKER = "mosquitto"


class MosquittoService:
    """The local MQTT broker."""

    name = "mosquitto"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.port = settings.stack.mqtt_port
        self._state = settings.state_dir

    @property
    def pid_file(self) -> Path:
        return self._state.resolve() / "run" / "mosquitto.pid"

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def install(self) -> None:
        ensure_packages(["mosquitto"], log=self._state.resolve() / "logs" / "apt.log")

    def running(self) -> bool:
        return is_alive(read_pid(self.pid_file), MARKER)

    def answers(self) -> bool:
        return mqtt_ping(self.port)

    def start(self) -> None:
        if self.running():
            return
        ensure_port_free(self.port, step="start mosquitto", setting="WW_STACK_MQTT_PORT")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        home = service_dir(self._state, "mosquitto", SERVICE_USER)
        (home / "data").mkdir(exist_ok=True)
        _chown_tree(home)
        conf = home / "mosquitto.conf"
        conf.write_text(self.config(home))
        log = home / "mosquitto.log"
        spawn([binary, "-c", str(conf)], log=log, pid_file=self.pid_file)
        wait_until(
            self.answers,
            timeout_s=self._settings.stack.wait_s,
            step="start mosquitto",
            log=log,
            hint="read the log; `mosquitto -c CONF -v` by hand shows config errors",
        )

    def config(self, home: Path) -> str:
        return "\n".join(
            [
                "# Written by `wastewatch services up`; edits are overwritten.",
                f"listener {self.port} {LOOPBACK}",
                "allow_anonymous true",
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
            ]
        )

    def stop(self) -> bool:
        pid = read_pid(self.pid_file)
        stopped = pid is not None and stop_pid(pid, MARKER)
        self.pid_file.unlink(missing_ok=True)
        return stopped


def _chown_tree(home: Path) -> None:
    import os

    from wastewatch.stack.process import user_ids

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
