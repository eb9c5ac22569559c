"""Publishing simulated messages over MQTT: fast replay workers and the live client pool.

Delivery semantics: every message is published with QoS 1 (status messages
retained, as the firmware does). A message counts as delivered only when its
PUBACK arrived; the totals report published and acknowledged counts, and a
run fails when PUBACKs stop coming for ``ack_timeout_s``.

Speed: paho's network loop is driven by hand (``loop_read`` / ``loop_write``
between publishes, no ``loop_start`` thread), which is three to four times
faster than the threaded loop for a publisher (see ``bench/mqtt_load.py``).
Replay spreads messages over worker processes; a device is always published by
the same worker, so each device's messages keep their order (the bridge keys
Kafka by device, the sink and processors rely on per-device order).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import socket
import threading
import time
from collections.abc import Sequence
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from simulators.errors import PublishError
from wastewatch.mqtt_url import MqttTarget

if TYPE_CHECKING:
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "DEFAULT_WINDOW",
    "MqttTarget",
    "Outbox",
    "PublisherPool",
    "Sender",
    "connect",
    "drop_connection",
]

DEFAULT_WINDOW: Final = 2000
"""Unacknowledged QoS 1 messages per connection; also keeps paho's 16-bit ids from wrapping
onto one still in flight."""
_CONNECT_TIMEOUT_S: Final = 15.0
_SPAWN: Final = multiprocessing.get_context("spawn")

Outbox = list[tuple[str, bytes, bool]]
"""(topic, payload, retained) in publish order."""


def connect(
    target: MqttTarget,
    client_id: str,
    *,
    will: tuple[str, bytes] | None = None,
    timeout_s: float = _CONNECT_TIMEOUT_S,
) -> mqtt.Client:
    """A connected, non-threaded paho client (MQTT 3.1.1, as the devices speak)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
    )
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set(ca_certs=target.ca_file)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    # No limits inside paho: the window is ours (paho rescans its queue per PUBACK otherwise).
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(
        _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        else:
            connected.set()

    client.on_connect = on_connect
    try:
        client.connect(target.host, target.port, keepalive=30)
    except OSError as exc:
        raise PublishError(
            f"cannot connect to MQTT {target.host}:{target.port}: {exc}; is the broker up "
            "(`wastewatch services up`) and WW_MQTT_URL right?"
        ) from exc
    deadline = time.monotonic() + timeout_s
    while not connected.is_set() and not refused and time.monotonic() < deadline:
        client.loop(0.05)
    if not connected.is_set():
        why = f"refused: {refused[0]}" if refused else f"no CONNACK within {timeout_s:.0f} s"
        raise PublishError(f"MQTT {target.host}:{target.port} did not accept {client_id}: {why}")
    return client


class Sender:
    """One connection with a bounded in-flight window and PUBACK counting."""

    def __init__(
        self,
        client: mqtt.Client,
        name: str,
        window: int = DEFAULT_WINDOW,
        ack_timeout_s: float = 60,
    ) -> None:
        self.client = client
        self.name = name
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.pending: set[int] = set()
        self.published = 0
        self.acked = 0
        self._n = 0
        client.on_publish = self._on_publish

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, _rc: ReasonCode, _p: Properties
    ) -> None:
        if mid in self.pending:
            self.pending.discard(mid)
            self.acked += 1

    def service(self, timeout_s: float = 0.0) -> None:
        """One round of the network loop; fails when the connection is gone."""
        rc = self.client.loop(timeout_s)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PublishError(f"{self.name} lost its MQTT connection: {mqtt.error_string(rc)}")

    def _read(self) -> None:
        rc = self.client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PublishError(f"{self.name} lost its MQTT connection: {mqtt.error_string(rc)}")
        if self.client.want_write():
            self.client.loop_write()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """QoS 1; waits while the window is full (that is the backpressure)."""
        if len(self.pending) >= self.window:
            deadline = time.monotonic() + self.ack_timeout_s
            before = len(self.pending)
            while len(self.pending) >= self.window:
                self.service(0.05)
                if len(self.pending) < before:
                    before, deadline = len(self.pending), time.monotonic() + self.ack_timeout_s
                elif time.monotonic() > deadline:
                    raise PublishError(
                        f"{self.name}: no PUBACK for {self.ack_timeout_s:.0f} s with "
                        f"{len(self.pending)} messages in flight; is the broker overloaded?"
                    )
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PublishError(
                f"{self.name}: publish to {topic} failed: {mqtt.error_string(info.rc)}"
            )
        self.pending.add(info.mid)
        self.published += 1
        self._n += 1
        if self._n % 32 == 0:
            self._read()
            if self._n % 4096 == 0:
                self.service(0)

    def drain(self) -> None:
        """Wait for the outstanding PUBACKs (up to ``ack_timeout_s`` without progress)."""
        deadline = time.monotonic() + self.ack_timeout_s
        before = len(self.pending)
        while self.pending and time.monotonic() < deadline:
            self.service(0.05)
            if len(self.pending) < before:
                before, deadline = len(self.pending), time.monotonic() + self.ack_timeout_s

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.loop(0.1)


# ----------------------------------------------------------------------- replay workers


def _worker(
    target: MqttTarget,
    client_id: str,
    index: int,
    window: int,
    inbox: Queue[Outbox | None],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """A publisher process: connect, publish every batch it is sent, report PUBACKs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers in order
    sender: Sender | None = None
    try:
        sender = Sender(connect(target, client_id), f"publisher {index}", window)
        results.put(("ready", index, None))
        last_report = time.monotonic()
        while True:
            try:
                batch = inbox.get(timeout=0.2)
            except queue.Empty:
                sender.service(0)
                continue
            if batch is None:
                break
            for topic, payload, retain in batch:
                sender.publish(topic, payload, retain)
            now = time.monotonic()
            if now - last_report > 0.5:
                results.put(("progress", index, (sender.published, sender.acked)))
                last_report = now
        sender.drain()
        results.put(("done", index, (sender.published, sender.acked)))
    except Exception as exc:
        results.put(("error", index, f"publisher {index}: {type(exc).__name__}: {exc}"))
    finally:
        if sender is not None:
            sender.close()


class PublisherPool:
    """``count`` publisher processes; messages are routed by key so a device keeps its order.

    ``start()`` / ``close()`` (also a context manager); ``close()`` is safe twice
    and leaves no process behind.
    """

    def __init__(
        self,
        target: MqttTarget,
        client_prefix: str,
        count: int,
        *,
        window: int = DEFAULT_WINDOW,
        batch: int = 4000,
        queue_batches: int = 8,
    ) -> None:
        self.count = count
        self.batch = batch
        self._results: Queue[tuple[str, int, Any]] = _SPAWN.Queue()
        self._inboxes: list[Queue[Outbox | None]] = [
            _SPAWN.Queue(maxsize=queue_batches) for _ in range(count)
        ]
        self._buffers: list[Outbox] = [[] for _ in range(count)]
        self._procs: list[SpawnProcess] = [
            _SPAWN.Process(
                target=_worker,
                args=(target, f"{client_prefix}-p{i}", i, window, self._inboxes[i], self._results),
                name=f"ww-sim-publisher-{i}",
                daemon=True,
            )
            for i in range(count)
        ]
        self.progress: dict[int, tuple[int, int]] = {}
        self.done: dict[int, tuple[int, int]] = {}
        self._closed = False

    def __enter__(self) -> PublisherPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> PublisherPool:
        for proc in self._procs:
            proc.start()
        ready = 0
        deadline = time.monotonic() + 60
        while ready < self.count:
            tag, _, _ = self._get(deadline)
            if tag == "ready":
                ready += 1
        return self

    def _get(self, deadline: float) -> tuple[str, int, Any]:
        while True:
            try:
                tag, index, value = self._results.get(timeout=0.5)
            except queue.Empty:
                dead = [p.name for p in self._procs if not p.is_alive() and p.exitcode]
                if dead:
                    raise PublishError(f"publisher processes exited: {', '.join(dead)}") from None
                if time.monotonic() > deadline:
                    raise PublishError("publisher processes did not answer in time") from None
                continue
            if tag == "error":
                raise PublishError(str(value))
            if tag == "progress":
                self.progress[index] = value
            return tag, index, value

    def poll(self) -> None:
        """Take in progress reports without waiting; raise a worker's error."""
        while True:
            try:
                tag, index, value = self._results.get_nowait()
            except queue.Empty:
                return
            if tag == "error":
                raise PublishError(str(value))
            if tag == "progress":
                self.progress[index] = value
            elif tag == "done":
                self.done[index] = value

    def send(self, messages: Sequence[tuple[int, str, bytes, bool, int]]) -> None:
        """Route emissions to workers by key (device index; -1 goes to worker 0)."""
        count = self.count
        buffers = self._buffers
        for _, topic, payload, retain, key in messages:
            i = key % count if key >= 0 else 0
            buf = buffers[i]
            buf.append((topic, payload, retain))
            if len(buf) >= self.batch:
                self._put(i)

    def _put(self, i: int) -> None:
        batch, self._buffers[i] = self._buffers[i], []
        while True:
            try:
                self._inboxes[i].put(batch, timeout=0.5)
            except queue.Full:
                self.poll()
                if not self._procs[i].is_alive():
                    raise PublishError(f"{self._procs[i].name} exited") from None
            else:
                return

    def finish(self, timeout_s: float = 300.0) -> tuple[int, int]:
        """Send what is buffered, wait for every worker's PUBACKs; (published, acked)."""
        for i in range(self.count):
            if self._buffers[i]:
                self._put(i)
            self._inboxes[i].put(None)
        deadline = time.monotonic() + timeout_s
        while len(self.done) < self.count:
            tag, index, value = self._get(deadline)
            if tag == "done":
                self.done[index] = value
        return (sum(p for p, _ in self.done.values()), sum(a for _, a in self.done.values()))

    def acked(self) -> int:
        return sum(a for _, a in (self.done or self.progress).values())

    def close(self) -> None:
        """Stop every worker (politely, then by force); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for inbox in self._inboxes:
            with contextlib.suppress(Exception):
                inbox.put_nowait(None)
        deadline = time.monotonic() + 10
        for proc in self._procs:
            if proc.pid is None:
                continue
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def drop_connection(client: mqtt.Client) -> None:
    """Cut the TCP connection without DISCONNECT, so the broker publishes the last will."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
