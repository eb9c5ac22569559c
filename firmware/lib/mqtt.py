"""A small MQTT 3.1.1 client: QoS 1 publish that waits for PUBACK, subscribe, last will.

Written for this node rather than taken from ``umqtt.simple`` because the node
needs exactly: a deadline on every wait (a PUBACK that never comes must not
keep the radio on), a retained QoS 1 last will, user name and password, and
incoming QoS 1 publishes (the retained config) acknowledged while it waits for
its own PUBACKs.  Each outgoing packet is assembled in one fixed buffer and
written with one call.  Runs on the unix port (host tests) and the ESP32.

TLS: given the broker's CA certificate (DER, see :func:`pem_to_der`) the socket
is wrapped before CONNECT and the broker's certificate is verified against it
and the host name, as the local CA of ``wastewatch devices provision`` issues it.

Delivery: ``publish`` returns only after the broker's PUBACK for that packet
id; on any error or timeout it raises ``WWError`` and the caller keeps the
message (in the flash ring) for the next connection.  Sessions are clean: the
node's own store is the flash ring, not the broker session.
"""

import binascii
import ssl
import struct

from compat import select, socket, ticks_add, ticks_diff, ticks_ms
from micropython import const
from wwerr import MQTT, NET, TIMEOUT, WWError

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_DISCONNECT = const(0xE0)
_TX_SIZE = const(768)
_RX_SIZE = const(1024)

MYPY = False
if MYPY:  # annotations only
    from typing import Callable

    from _mpy_shed.time_mp import _TicksMs as Ticks

    Handler = Callable[[str, bytes], None]


def encode_length(buf: bytearray, at: int, n: int) -> int:
    """Write the MQTT remaining length ``n`` at ``buf[at]``; returns the index after it."""
    while True:
        byte = n & 0x7F
        n >>= 7
        buf[at] = byte | 0x80 if n else byte
        at += 1
        if not n:
            return at


class MQTTClient:
    """One connection to one broker; ``close()`` is safe to call twice."""

    def __init__(
        self,
        client_id: str,
        host: str,
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 60,
        timeout_ms: int = 5000,
        ca_der: bytes | None = None,
    ) -> None:
        self.client_id = client_id
        self.ca_der = ca_der
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.keepalive_s = keepalive_s
        self.timeout_ms = timeout_ms
        self._sock: socket.socket | None = None
        self._poll = select.poll()
        self._tx = bytearray(_TX_SIZE)
        self._rx = bytearray(_RX_SIZE)
        self._pid = 0
        self._last_flags = 0
        self._will: tuple[str, bytes] | None = None
        self._handler: "Handler | None" = None

    def set_last_will(self, topic: str, msg: bytes) -> None:
        """Retained QoS 1 will, published by the broker if the connection dies without DISCONNECT."""
        self._will = (topic, msg)

    def set_callback(self, handler: "Handler") -> None:
        """``handler(topic, payload)`` for messages on subscribed topics."""
        self._handler = handler

    # -- connection -------------------------------------------------------

    def connect(self) -> None:
        """Open the socket, send CONNECT (clean session) and wait for CONNACK."""
        self.close()
        try:
            addr = socket.getaddrinfo(self.host, self.port)[0][-1]
            sock = socket.socket()
            self._sock = sock
            sock.settimeout(self.timeout_ms / 1000)
            sock.connect(addr)
            if self.ca_der is not None:
                sock = _wrap_tls(sock, self.host, self.ca_der)
                self._sock = sock
        except (OSError, ValueError) as exc:  # ValueError: a CA certificate TLS cannot load
            self.close()
            raise WWError(NET, "connect %s:%d: %s" % (self.host, self.port, exc))
        self._poll.register(sock, select.POLLIN)
        self._send(self._connect_packet())
        deadline = ticks_add(ticks_ms(), self.timeout_ms)
        ptype, n = self._read_packet(deadline)
        if ptype != _CONNACK or n != 2:
            raise WWError(MQTT, "expected CONNACK")
        if self._rx[1]:
            code = self._rx[1]
            self.close()
            raise WWError(MQTT, "connection refused, code %d" % code)

    def _connect_packet(self) -> bytes:
        flags = 0x02  # clean session
        body = bytearray(b"\x00\x04MQTT\x04\x00")
        body += struct.pack("!H", self.keepalive_s)
        body += _string(self.client_id)
        if self._will:
            flags |= 0x04 | 0x08 | 0x20  # will, QoS 1, retain
            body += _string(self._will[0])
            body += struct.pack("!H", len(self._will[1])) + self._will[1]
        if self.username is not None:
            flags |= 0x80
            body += _string(self.username)
            if self.password is not None:
                flags |= 0x40
                body += _string(self.password)
        body[7] = flags
        return _frame(_CONNECT, body)

    def disconnect(self) -> None:
        """Clean DISCONNECT (the broker discards the will), then close."""
        if self._sock is not None:
            try:
                self._sock.write(b"\xe0\x00")
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        """Drop the socket without DISCONNECT (the broker then sends the will)."""
        sock = self._sock
        self._sock = None
        if sock is not None:
            try:
                self._poll.unregister(sock)
            except (OSError, ValueError, KeyError):
                pass
            sock.close()

    # -- messages ---------------------------------------------------------

    def publish(self, topic: str, msg: bytes, retain: bool = False) -> None:
        """QoS 1 publish; returns after its PUBACK, raises WWError otherwise."""
        pid = self._next_pid()
        tb = topic.encode()
        size = 2 + len(tb) + 2 + len(msg)
        buf = self._tx
        if size + 5 > _TX_SIZE:
            raise WWError(MQTT, "message too large")
        buf[0] = _PUBLISH | 0x02 | (1 if retain else 0)
        i = encode_length(buf, 1, size)
        struct.pack_into("!H", buf, i, len(tb))
        i += 2
        buf[i : i + len(tb)] = tb
        i += len(tb)
        struct.pack_into("!H", buf, i, pid)
        i += 2
        buf[i : i + len(msg)] = msg
        self._send(memoryview(buf)[: i + len(msg)])
        self._wait_ack(_PUBACK, pid)

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for SUBACK; retained messages arrive right after it."""
        pid = self._next_pid()
        body = struct.pack("!H", pid) + _string(topic) + b"\x01"
        self._send(_frame(_SUBSCRIBE, body))
        self._wait_ack(_SUBACK, pid)
        if self._rx[2] == 0x80:
            raise WWError(MQTT, "subscription refused")

    def check_msg(self, wait_ms: int = 0) -> None:
        """Handle packets already waiting (or arriving within ``wait_ms``)."""
        while self._sock is not None and self._poll.poll(wait_ms):
            deadline = ticks_add(ticks_ms(), self.timeout_ms)
            ptype, n = self._read_packet(deadline)
            if ptype == _PUBLISH:
                self._on_publish(n)

    # -- internals ----------------------------------------------------------

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _wait_ack(self, kind: int, pid: int) -> None:
        deadline = ticks_add(ticks_ms(), self.timeout_ms)
        while True:
            ptype, n = self._read_packet(deadline)
            if ptype == _PUBLISH:
                self._on_publish(n)
            elif ptype == kind and n >= 2 and (self._rx[0] << 8 | self._rx[1]) == pid:
                return

    def _on_publish(self, n: int) -> None:
        # self._rx[:n] holds variable header + payload; flags were kept in _last_flags.
        if n > _RX_SIZE:
            return  # too large for us: dropped unacknowledged (clean session discards it)
        rx = self._rx
        tlen = rx[0] << 8 | rx[1]
        at = 2 + tlen
        qos = (self._last_flags >> 1) & 3
        if qos:
            pid = rx[at] << 8 | rx[at + 1]
            at += 2
        if self._handler is not None:
            self._handler(bytes(rx[2 : 2 + tlen]).decode(), bytes(rx[at:n]))
        if qos == 1:
            self._send(struct.pack("!BBH", _PUBACK, 2, pid))

    def _send(self, data: "bytes | memoryview") -> None:
        sock = self._sock
        if sock is None:
            raise WWError(NET, "not connected")
        try:
            view = memoryview(data)
            while len(view):
                n = sock.write(view)
                if not n:
                    raise OSError(-1)
                view = view[n:]
        except OSError as exc:
            self.close()
            raise WWError(NET, "send: %s" % exc)

    def _read_exact(self, into: memoryview, deadline: "Ticks") -> None:
        got = 0
        want = len(into)
        sock = self._sock
        while got < want:
            left = ticks_diff(deadline, ticks_ms())
            if sock is None or left <= 0:
                self.close()
                raise WWError(TIMEOUT, "no answer from broker")
            try:
                if not self._poll.poll(left):
                    continue
                n = sock.readinto(into[got:])
            except OSError as exc:
                self.close()
                raise WWError(NET, "receive: %s" % exc)
            if not n:
                self.close()
                raise WWError(NET, "connection closed by broker")
            got += n

    def _read_packet(self, deadline: "Ticks") -> tuple[int, int]:
        """Read one packet; returns (type, body length) with the body in self._rx.

        Bodies longer than the receive buffer are read and thrown away (length
        returned as more than the buffer holds, so handlers ignore them).
        """
        head = memoryview(self._rx)
        self._read_exact(head[0:1], deadline)
        first = self._rx[0]
        n = 0
        shift = 0
        while True:
            self._read_exact(head[0:1], deadline)
            n |= (self._rx[0] & 0x7F) << shift
            if not self._rx[0] & 0x80:
                break
            shift += 7
            if shift > 21:
                raise WWError(MQTT, "bad remaining length")
        self._last_flags = first & 0x0F
        if n <= _RX_SIZE:
            self._read_exact(head[0:n], deadline)
        else:
            left = n
            while left:
                step = min(left, _RX_SIZE)
                self._read_exact(head[0:step], deadline)
                left -= step
        return first & 0xF0, n


def pem_to_der(pem: str) -> bytes:
    """The first certificate of a PEM text as DER (what MicroPython's TLS loads)."""
    body = []
    inside = False
    for line in pem.split("\n"):
        line = line.strip()
        if line.startswith("-----BEGIN"):
            inside = True
        elif line.startswith("-----END"):
            break
        elif inside and line:
            body.append(line)
    if not body:
        raise WWError(MQTT, "no certificate in broker.ca")
    return binascii.a2b_base64("".join(body))


def _wrap_tls(sock: "socket.socket", host: str, ca_der: bytes) -> "socket.socket":
    """TLS client side: verify the broker with ``ca_der`` and its name ``host``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # not in the stubs
    ctx.load_verify_locations(cadata=ca_der)
    wrapped: socket.socket = ctx.wrap_socket(sock, server_hostname=host)
    return wrapped


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _frame(ptype: int, body: "bytes | bytearray") -> bytes:
    head = bytearray(5)
    head[0] = ptype
    i = encode_length(head, 1, len(body))
    return bytes(head[:i]) + bytes(body)
