"""A paho client that reads the broker's stream in large chunks.

paho reads an MQTT packet with several ``recv`` calls (one byte of command, the
length byte by byte, then the rest) and waits in ``select`` before every packet.
Under load that is four or five system calls per reading, and the bridge's paho
thread spent a third of its time in them (measured with py-spy, `bench ingest`).

:class:`BufferedReadClient` wraps the socket paho creates in a read buffer: one
``recv`` of up to 64 KiB feeds many packets, and after each read it keeps reading
packets that are already buffered (at most ``burst`` in a row, so PUBACK writes
and keep-alives are not held back).  Bytes and their order are unchanged, and
nothing is acknowledged differently: the buffer only changes how the same bytes
reach paho's parser.  It relies on two of paho 2.x's internals, ``_create_socket``
and ``_sock``, which the version range in pyproject.toml pins; a test checks the
client against the real broker.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["BufferedReadClient", "BufferedSocket"]

_CHUNK = 65_536


class BufferedSocket:
    """A socket whose ``recv`` serves from a buffer refilled in large chunks.

    ``pending()`` is the number of buffered bytes: paho asks it (as it does of TLS
    sockets) and skips waiting in ``select`` while there are any.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._offset = 0

    def recv(self, size: int) -> bytes:
        if self._offset >= len(self._buffer):
            chunk = self._sock.recv(_CHUNK)  # BlockingIOError / SSL errors propagate to paho
            if not chunk:
                return b""
            self._buffer = chunk
            self._offset = 0
        data = self._buffer[self._offset : self._offset + size]  # one copy: a slice of bytes
        self._offset += len(data)
        return data

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._offset + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedReadClient(paho.Client):
    """paho's Client with a buffered socket and bursts of buffered packets per read."""

    burst = 256

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(self.burst):
            sock = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket):
                break
            if sock.pending() == 0:
                break
            rc = super().loop_read(max_packets)
        return rc
