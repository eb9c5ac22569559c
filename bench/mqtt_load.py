"""MQTT load for the ingest benchmark: publisher and subscriber worker processes.

Each worker is its own process (``multiprocessing`` with the ``spawn`` start
method), so publishing is not limited by one interpreter's GIL.  A publisher
process keeps one paho connection (MQTT 3.1.1, as the devices speak it) and
runs jobs sent to it over a queue; the parent gets back, per job, which message
numbers were published (and when) and which got a PUBACK.

Delivery semantics: QoS 1 on every publish and subscription.  A PUBACK comes
from Mosquitto once it holds the message, whoever subscribes; a message
counts as "acked" only when its PUBACK arrived, which is what a device relies
on before dropping a reading from its buffer.

In-flight window: at most ``window`` unacknowledged messages per publisher
(paho's ``max_inflight_messages_set`` and our own bookkeeping agree), which
also keeps paho's 16-bit message ids from wrapping onto a message still
waiting for its PUBACK.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import queue
import signal
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from bench.errors import BenchError
from bench.payloads import device_id, payload
from wastewatch.mqtt_url import MqttTarget

if TYPE_CHECKING:
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "DEFAULT_WINDOW",
    "MqttTarget",
    "PublishJob",
    "PublishResult",
    "PublisherPool",
    "RawSubscriber",
    "SubscribeResult",
    "connect_client",
    "ignore_interrupts",
]

DEFAULT_WINDOW: Final = 2000
"""Unacknowledged QoS 1 messages per publisher: enough to hide the loopback round trip."""

_CONNECT_TIMEOUT_S: Final = 15.0
_WORKER_READY_TIMEOUT_S: Final = 60.0
_WORKER_IDLE_TIMEOUT_S: Final = 3600.0
"""A worker whose parent sends nothing for this long assumes the parent is gone."""

_SPAWN: Final = multiprocessing.get_context("spawn")


def connect_client(
    target: MqttTarget,
    client_id: str,
    *,
    threaded: bool = True,
    timeout_s: float = _CONNECT_TIMEOUT_S,
) -> mqtt.Client:
    """A connected paho client (clean session, MQTT 3.1.1).

    ``threaded``: paho's network thread runs (``loop_start``).  Without it the
    caller drives the network with ``loop()`` / ``loop_read()``: three to four
    times faster for a publisher, because the thread hand-off and the GIL
    ping-pong per message disappear.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set(ca_certs=target.ca_file)
    # 0 = no limit inside paho: the in-flight window is kept by the caller.  With
    # a limit, paho rescans every queued message on each PUBACK (O(window)).
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    connected = threading.Event()

    def on_connect(
        _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if not rc.is_failure:
            connected.set()

    client.on_connect = on_connect
    try:
        client.connect(target.host, target.port, keepalive=30)
    except OSError as exc:
        raise BenchError(f"cannot connect to MQTT {target.host}:{target.port}: {exc}") from exc
    deadline = time.monotonic() + timeout_s
    if threaded:
        client.loop_start()
        connected.wait(timeout_s)
    else:
        while not connected.is_set() and time.monotonic() < deadline:
            client.loop(0.1)
    if not connected.is_set():
        if threaded:
            client.loop_stop()
        raise BenchError(
            f"MQTT {target.host}:{target.port} did not accept {client_id} within {timeout_s:.0f} s"
        )
    return client


def ignore_interrupts() -> None:
    """In a worker: leave Ctrl-C to the parent, which stops its workers in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def service(client: mqtt.Client, timeout_s: float, what: str) -> None:
    """One round of paho's network loop for a non-threaded client; fail if disconnected."""
    rc = client.loop(timeout_s)
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise BenchError(f"{what} lost its MQTT connection: {mqtt.error_string(rc)}")


@dataclass(frozen=True, slots=True)
class PublishJob:
    """Publish messages ``k_base .. k_base+messages-1`` (see :mod:`bench.payloads`).

    ``topic_format`` has one ``{device}`` field.  ``rate_per_s`` is the offered
    rate of all publishers together (None: as fast as the window allows);
    ``deadline_s`` stops publishing that long after ``start_at`` (None: never).
    """

    topic_format: str
    device_prefix: str
    devices: int
    messages: int
    seq_base: int
    start_at: float
    rate_per_s: float | None = None
    deadline_s: float | None = None
    record_times: bool = False
    ack_timeout_s: float = 60.0

    @property
    def k_base(self) -> int:
        return self.seq_base * self.devices


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What one publisher did for one job; arrays are ``array('q')`` / ``array('d')`` bytes."""

    publisher: int
    first_publish: float
    """Wall time (``time.time()``) of the first publish, ``nan`` if nothing was published."""
    last_publish: float
    published: bytes
    """Message numbers in publish order."""
    publish_times: bytes
    """Wall time of each publish, aligned with ``published`` (only with ``record_times``)."""
    acked: bytes
    """Message numbers that got a PUBACK."""
    unacked_after_timeout: int

    def published_ks(self) -> array[int]:
        return _int_array(self.published)

    def acked_ks(self) -> array[int]:
        return _int_array(self.acked)

    def times(self) -> array[float]:
        out = array("d")
        out.frombytes(self.publish_times)
        return out


def _int_array(raw: bytes) -> array[int]:
    out = array("q")
    out.frombytes(raw)
    return out


class _Publisher:
    """One non-threaded paho connection plus the PUBACK bookkeeping.

    Everything, callbacks included, runs on the process's one thread, so the
    mid -> message-number map needs no lock: a PUBACK is only read (in
    ``loop``/``loop_read``) after ``publish`` returned and its mid was recorded.
    """

    def __init__(
        self, target: MqttTarget, client_id: str, index: int, count: int, window: int
    ) -> None:
        self.index = index
        self.count = count
        self.window = window
        self.name = f"publisher {index}"
        self._pending: dict[int, int] = {}
        self._acked: array[int] = array("q")
        self.client = connect_client(target, client_id, threaded=False)
        self.client.on_publish = self._on_publish

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, _rc: ReasonCode, _p: Properties
    ) -> None:
        k = self._pending.pop(mid, None)
        if k is not None:
            self._acked.append(k)

    def idle(self) -> None:
        """Keep the connection alive between jobs (keepalive pings, stray reads)."""
        service(self.client, 0, self.name)

    def _read(self) -> None:
        rc = self.client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BenchError(f"{self.name} lost its MQTT connection: {mqtt.error_string(rc)}")
        if self.client.want_write():
            self.client.loop_write()

    def _wait_for_room(self, stall_s: float) -> bool:
        """Block until the window has room; False when no PUBACK came for ``stall_s``."""
        before = len(self._pending)
        deadline = time.monotonic() + stall_s
        while len(self._pending) >= self.window:
            service(self.client, 0.05, self.name)
            if len(self._pending) < before:
                before, deadline = len(self._pending), time.monotonic() + stall_s
            elif time.monotonic() >= deadline:
                return False
        return True

    def _sleep_until(self, wall: float) -> None:
        while (left := wall - time.time()) > 0.0005:
            service(self.client, min(left, 0.05), self.name)

    def run(self, job: PublishJob) -> PublishResult:
        mine = range(self.index, job.devices, self.count)
        topics = [job.topic_format.format(device=device_id(job.device_prefix, d)) for d in mine]
        ids = [device_id(job.device_prefix, d).encode() for d in mine]
        k_end = job.k_base + job.messages
        interval = 0.0 if not job.rate_per_s else job.devices / (job.rate_per_s * max(len(mine), 1))
        self._pending.clear()
        self._acked = array("q")
        pending = self._pending
        published = array("q")
        times = array("d")
        stop_at = math.inf if job.deadline_s is None else job.start_at + job.deadline_s
        self._sleep_until(job.start_at)
        first = math.nan
        n = 0
        seq = job.seq_base
        done = not mine
        while not done:
            row = seq * job.devices
            for topic, dev_id, dev in zip(topics, ids, mine, strict=True):
                k = row + dev
                if k >= k_end:
                    done = True
                    break
                if interval:
                    self._sleep_until(job.start_at + n * interval)
                if len(pending) >= self.window and not self._wait_for_room(job.ack_timeout_s):
                    done = True  # PUBACKs stopped coming: report what we have
                    break
                now = time.time()
                if now >= stop_at:
                    done = True
                    break
                info = self.client.publish(topic, payload(dev_id, seq, int(now)), qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    raise BenchError(
                        f"{self.name}: publish to {topic} failed: {mqtt.error_string(info.rc)}"
                    )
                pending[info.mid] = k  # a mid still pending after 65535 more is overwritten
                published.append(k)
                if job.record_times:
                    times.append(now)
                if n == 0:
                    first = now
                n += 1
                if n % 32 == 0:
                    self._read()
                    if n % 4096 == 0:
                        service(self.client, 0, self.name)
            seq += 1
        last = time.time() if n else math.nan
        ack_deadline = time.monotonic() + job.ack_timeout_s
        while pending and time.monotonic() < ack_deadline:
            service(self.client, 0.05, self.name)
        return PublishResult(
            publisher=self.index,
            first_publish=first,
            last_publish=last,
            published=published.tobytes(),
            publish_times=times.tobytes(),
            acked=self._acked.tobytes(),
            unacked_after_timeout=len(pending),
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.loop(0.1)


def publisher_main(
    target: MqttTarget,
    client_id: str,
    index: int,
    count: int,
    window: int,
    commands: Queue[PublishJob | None],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """Entry point of a publisher process: connect, say ready, run jobs until None."""
    ignore_interrupts()
    publisher: _Publisher | None = None
    try:
        publisher = _Publisher(target, client_id, index, count, window)
        results.put(("ready", index, None))
        idle_since = time.monotonic()
        while True:
            try:
                job = commands.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() - idle_since > _WORKER_IDLE_TIMEOUT_S:
                    break  # the parent is gone
                publisher.idle()
                continue
            if job is None:
                break
            results.put(("done", index, publisher.run(job)))
            idle_since = time.monotonic()
    except Exception as exc:
        results.put(("error", index, f"publisher {index}: {type(exc).__name__}: {exc}"))
    finally:
        if publisher is not None:
            publisher.close()


def _collect(
    results: Queue[tuple[str, int, Any]],
    want: int,
    kind: str,
    timeout_s: float,
    what: str,
    alive: Callable[[], list[str]],
) -> dict[int, Any]:
    """Gather ``want`` answers of ``kind`` from workers, failing clearly on error or timeout."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout_s
    while len(got) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{what}: only {len(got)} of {want} answered within {timeout_s:.0f} s")
        try:
            tag, index, value = results.get(timeout=min(left, 1.0))
        except queue.Empty:
            dead = alive()
            if not dead:
                continue
            try:  # it may have answered just before exiting
                tag, index, value = results.get(timeout=1.0)
            except queue.Empty:
                raise BenchError(f"{what}: {', '.join(dead)} exited unexpectedly") from None
        if tag == "error":
            raise BenchError(f"{what}: {value}")
        if tag == kind:
            got[index] = value
    return got


class PublisherPool:
    """``count`` publisher processes that run the same job, each on its share of devices."""

    def __init__(
        self, target: MqttTarget, client_prefix: str, count: int, window: int = DEFAULT_WINDOW
    ) -> None:
        self.count = count
        self._results: Queue[tuple[str, int, Any]] = _SPAWN.Queue()
        self._commands: list[Queue[PublishJob | None]] = []
        self._procs: list[SpawnProcess] = []
        for i in range(count):
            commands: Queue[PublishJob | None] = _SPAWN.Queue()
            proc = _SPAWN.Process(
                target=publisher_main,
                args=(target, f"{client_prefix}-pub{i}", i, count, window, commands, self._results),
                name=f"bench-publisher-{i}",
                daemon=True,
            )
            self._commands.append(commands)
            self._procs.append(proc)

    def _dead(self) -> list[str]:
        return [f"{p.name} (exit {p.exitcode})" for p in self._procs if not p.is_alive()]

    def start(self) -> PublisherPool:
        for proc in self._procs:
            proc.start()
        _collect(
            self._results,
            self.count,
            "ready",
            _WORKER_READY_TIMEOUT_S,
            "starting the publisher processes",
            self._dead,
        )
        return self

    def run(self, job: PublishJob, *, timeout_s: float) -> list[PublishResult]:
        """Run ``job`` on every publisher; their results in publisher order."""
        for commands in self._commands:
            commands.put(job)
        got = _collect(self._results, self.count, "done", timeout_s, "publishing", self._dead)
        return [got[i] for i in range(self.count)]

    def close(self) -> None:
        """Ask the workers to exit, then stop any that do not; safe to call twice."""
        for commands in self._commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        _stop_processes(self._procs)


def _stop_processes(procs: list[SpawnProcess], grace_s: float = 10.0) -> None:
    deadline = time.monotonic() + grace_s
    for proc in procs:
        if proc.pid is None:
            continue
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.terminate()
            proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)


def subscribe(client: mqtt.Client, topic_filter: str, *, threaded: bool = True) -> None:
    """Subscribe with QoS 1 and wait for the SUBACK."""
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    client.subscribe(topic_filter, qos=1)
    deadline = time.monotonic() + _CONNECT_TIMEOUT_S
    while not subscribed.is_set() and time.monotonic() < deadline:
        if threaded:
            subscribed.wait(0.1)
        else:
            service(client, 0.1, "the subscriber")
    if not subscribed.is_set():
        raise BenchError(f"no SUBACK for {topic_filter} within {_CONNECT_TIMEOUT_S:.0f} s")


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What the raw-leg subscriber saw."""

    received: int
    first_receive: float
    last_receive: float


class _Counter:
    """Counts received messages and when the first and last arrived."""

    def __init__(self) -> None:
        self.received = 0
        self.first = math.nan
        self.last = math.nan

    def on_message(self, _c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        now = time.time()
        if not self.received:
            self.first = now
        self.received += 1
        self.last = now


def _drain(client: mqtt.Client, counter: _Counter) -> None:
    """Read every buffered message without one select() per message (paho's default)."""
    while True:
        before = counter.received
        if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BenchError("the raw subscriber lost its MQTT connection")
        if client.want_write():
            client.loop_write()
        if counter.received == before:
            return


def _receive(
    client: mqtt.Client, counter: _Counter, commands: Queue[int], idle_timeout_s: float
) -> None:
    """Receive until the parent's expected count arrived or nothing came for a while."""
    expected: int | None = None
    started = seen_at = time.monotonic()
    seen = 0
    while expected is None or counter.received < expected:
        service(client, 0.05, "the raw subscriber")
        _drain(client, counter)
        now = time.monotonic()
        if counter.received != seen:
            seen, seen_at = counter.received, now
        if expected is None:
            with contextlib.suppress(queue.Empty):
                expected = commands.get_nowait()
                seen_at = now
            if now - started > _WORKER_IDLE_TIMEOUT_S:
                raise BenchError("the raw subscriber was never told how many to expect")
        elif now - seen_at > idle_timeout_s:
            return


def subscriber_main(
    target: MqttTarget,
    client_id: str,
    topic_filter: str,
    idle_timeout_s: float,
    commands: Queue[int],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """Entry point of the raw-leg subscriber: count QoS 1 messages until told how many."""
    ignore_interrupts()
    client: mqtt.Client | None = None
    counter = _Counter()
    try:
        client = connect_client(target, client_id, threaded=False)
        client.on_message = counter.on_message
        subscribe(client, topic_filter, threaded=False)
        results.put(("ready", 0, None))
        _receive(client, counter, commands, idle_timeout_s)
        results.put(("done", 0, SubscribeResult(counter.received, counter.first, counter.last)))
    except Exception as exc:
        results.put(("error", 0, f"subscriber: {type(exc).__name__}: {exc}"))
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
                client.loop(0.1)


class RawSubscriber:
    """The raw leg's one subscriber process."""

    def __init__(
        self, target: MqttTarget, client_id: str, topic_filter: str, idle_timeout_s: float
    ) -> None:
        self._results: Queue[tuple[str, int, Any]] = _SPAWN.Queue()
        self._commands: Queue[int] = _SPAWN.Queue()
        self._proc = _SPAWN.Process(
            target=subscriber_main,
            args=(target, client_id, topic_filter, idle_timeout_s, self._commands, self._results),
            name="bench-subscriber",
            daemon=True,
        )

    def _dead(self) -> list[str]:
        p = self._proc
        return [] if p.is_alive() else [f"{p.name} (exit {p.exitcode})"]

    def start(self) -> RawSubscriber:
        self._proc.start()
        _collect(
            self._results,
            1,
            "ready",
            _WORKER_READY_TIMEOUT_S,
            "starting the subscriber process",
            self._dead,
        )
        return self

    def result(self, expected: int, *, timeout_s: float) -> SubscribeResult:
        """Wait until ``expected`` messages arrived (or the subscriber went idle)."""
        self._commands.put(expected)
        got = _collect(self._results, 1, "done", timeout_s, "the raw subscriber", self._dead)
        result: SubscribeResult = got[0]
        return result

    def close(self) -> None:
        _stop_processes([self._proc])
