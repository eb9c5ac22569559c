"""MQTT load for the ingest benchmark: publisher and subscriber worker processes.

Each worker is its own process (``multiprocessing`` with the ``spawn`` start
method), so publishing is not limited by one interpreter's GIL.  A publisher
process keeps one connection (MQTT 3.1.1, as the devices speak it) and
runs jobs sent to it over a queue; the parent gets back, per job, which message
numbers were published (and when) and which got a PUBACK.

Connections are the workbench's one publisher,
:class:`wastewatch.workbench.simulators.publish.Sender`
(made by :func:`wastewatch.workbench.simulators.publish.connect`: credentials, TLS): when the broker
restarts, a publisher reconnects with back-off, re-sends what had no PUBACK yet in
its original order, and the job carries on; the raw subscriber keeps a persistent
session and reconnects too, so a benchmark survives a broker restart.

Delivery semantics: QoS 1 on every publish and subscription.  A PUBACK comes
from Mosquitto once it holds the message, whoever subscribes; a message
counts as "acked" only when its PUBACK arrived (once, however often it was
re-sent), which is what a device relies on before dropping a reading from its
buffer.

In-flight window: at most ``window`` unacknowledged messages per publisher
(kept by the sender), which also keeps paho's 16-bit message ids from wrapping
onto a message still waiting for its PUBACK.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import queue
import signal
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from wastewatch.core import MqttTarget
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.payloads import device_id, payload
from wastewatch.workbench.simulators import (
    DEFAULT_BACKOFF,
    DEFAULT_WINDOW,
    Backoff,
    PublishError,
    Sender,
    configure_worker,
    connect,
    loop_once,
    stop_processes,
    worker_logging,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_WINDOW",
    "MqttTarget",
    "PublishJob",
    "PublishResult",
    "PublisherPool",
    "RawSubscriber",
    "SubscribeResult",
    "collect",
    "exited",
    "ignore_interrupts",
]

_CONNECT_TIMEOUT_S: Final = 15.0
_WORKER_READY_TIMEOUT_S: Final = 60.0
_WORKER_IDLE_TIMEOUT_S: Final = 3600.0
"""A worker whose parent sends nothing for this long assumes the parent is gone."""

_SPAWN: Final = multiprocessing.get_context("spawn")


def ignore_interrupts() -> None:
    """In a worker: leave Ctrl-C to the parent, which stops its workers in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def service(client: mqtt.Client, timeout_s: float, what: str) -> None:
    """One round of a hand-driven client's network loop; fail if disconnected."""
    rc = loop_once(client, timeout_s)
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise BenchError(f"{what} lost its MQTT connection: {mqtt.error_string(rc)}")


@dataclass(frozen=True, slots=True)
class PublishJob:
    """Publish messages ``k_base .. k_base+messages-1`` (see
    :mod:`wastewatch.workbench.bench.payloads`).

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
    """One reconnecting connection (:class:`~wastewatch.workbench.simulators.publish.Sender`) and
    the record of
    which message numbers were published and acknowledged.

    Everything, callbacks included, runs on the process's one thread: a PUBACK is
    only read (inside the sender's ``publish`` / ``service``) after the message's
    number was handed to it as the token.
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        index: int,
        count: int,
        window: int,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.index = index
        self.count = count
        self.name = f"publisher {index}"
        self._acked: array[int] = array("q")
        self.sender = Sender(
            target, client_id, name=self.name, window=window, backoff=backoff, on_ack=self._ack
        )
        self.sender.start()

    def _ack(self, k: int) -> None:
        self._acked.append(k)

    def idle(self) -> None:
        """Keep the connection alive between jobs (keepalive pings, stray reads)."""
        self.sender.service(0)

    def _sleep_until(self, wall: float) -> None:
        while (left := wall - time.time()) > 0.0005:
            self.sender.service(min(left, 0.05))

    def run(self, job: PublishJob) -> PublishResult:
        mine = range(self.index, job.devices, self.count)
        topics = [job.topic_format.format(device=device_id(job.device_prefix, d)) for d in mine]
        ids = [device_id(job.device_prefix, d).encode() for d in mine]
        k_end = job.k_base + job.messages
        interval = 0.0 if not job.rate_per_s else job.devices / (job.rate_per_s * max(len(mine), 1))
        sender = self.sender
        self._acked = array("q")
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
                if sender.in_flight >= sender.window and not sender.wait_for_room(
                    job.ack_timeout_s
                ):
                    done = True  # PUBACKs stopped coming: report what we have
                    break
                now = time.time()
                if now >= stop_at:
                    done = True
                    break
                sender.publish(topic, payload(dev_id, seq, int(now)), token=k)
                published.append(k)
                if job.record_times:
                    times.append(now)
                if n == 0:
                    first = now
                n += 1
            seq += 1
        last = time.time() if n else math.nan
        sender.drain(job.ack_timeout_s)
        return PublishResult(
            publisher=self.index,
            first_publish=first,
            last_publish=last,
            published=published.tobytes(),
            publish_times=times.tobytes(),
            acked=self._acked.tobytes(),
            unacked_after_timeout=sender.in_flight,
        )

    def close(self) -> None:
        self.sender.close()


def publisher_main(
    target: MqttTarget,
    client_id: str,
    index: int,
    count: int,
    window: int,
    logging_setup: tuple[str, str],
    commands: Queue[PublishJob | None],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """Entry point of a publisher process: connect, say ready, run jobs until None."""
    configure_worker(logging_setup)
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


def exited(*procs: BaseProcess) -> Callable[[], list[str]]:
    """For :func:`collect`: which of ``procs`` have exited, with their exit codes."""
    return lambda: [f"{p.name} (exit {p.exitcode})" for p in procs if not p.is_alive()]


def collect(
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
        setup = worker_logging()
        for i in range(count):
            commands: Queue[PublishJob | None] = _SPAWN.Queue()
            proc = _SPAWN.Process(
                target=publisher_main,
                args=(
                    target,
                    f"{client_prefix}-pub{i}",
                    i,
                    count,
                    window,
                    setup,
                    commands,
                    self._results,
                ),
                name=f"bench-publisher-{i}",
                daemon=True,
            )
            self._commands.append(commands)
            self._procs.append(proc)

    def _dead(self) -> list[str]:
        return exited(*self._procs)()

    def start(self) -> PublisherPool:
        for proc in self._procs:
            proc.start()
        collect(
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
        got = collect(self._results, self.count, "done", timeout_s, "publishing", self._dead)
        return [got[i] for i in range(self.count)]

    def close(self) -> None:
        """Ask the workers to exit, then stop any that do not; safe to call twice."""
        for commands in self._commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        stop_processes(self._procs)


def subscribe(client: mqtt.Client, topic_filter: str) -> None:
    """Subscribe with QoS 1 and wait for the SUBACK (hand-driven client)."""
    subscribed: list[bool] = []
    client.on_subscribe = lambda *_args: subscribed.append(True)
    client.subscribe(topic_filter, qos=1)
    deadline = time.monotonic() + _CONNECT_TIMEOUT_S
    while not subscribed and time.monotonic() < deadline:
        service(client, 0.1, "the subscriber")
    if not subscribed:
        raise BenchError(f"no SUBACK for {topic_filter} within {_CONNECT_TIMEOUT_S:.0f} s")


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What the raw-leg subscriber saw."""

    received: int
    first_receive: float
    last_receive: float
    reconnects: int = 0


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


class _Subscription:
    """The raw subscriber's connection: a persistent session (clean session off), so the
    broker keeps queueing for it while it is away, re-made with back-off when lost.

    A message the broker re-delivers after a reconnect counts again (QoS 1).
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        topic_filter: str,
        counter: _Counter,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.target = target
        self.client_id = client_id
        self.topic_filter = topic_filter
        self.counter = counter
        self.backoff = backoff
        self.reconnects = 0
        self.client = self._connect()

    def _connect(self) -> mqtt.Client:
        client = connect(
            self.target, self.client_id, clean_session=False, on_message=self.counter.on_message
        )
        subscribe(client, self.topic_filter)  # again after a restart that lost the session
        return client

    def service(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s``, then read everything buffered (not one select() per
        message, paho's default); reconnect when the connection is gone."""
        client = self.client
        rc = loop_once(client, timeout_s)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            before = self.counter.received
            rc = client.loop_read()
            if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and client.want_write():
                rc = client.loop_write()
            if self.counter.received == before:
                break
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._reconnect(mqtt.error_string(rc))

    def _reconnect(self, why: str) -> None:
        log.warning("the raw subscriber lost its MQTT connection (%s); reconnecting", why)
        started = time.monotonic()
        attempt = 0
        while True:
            if attempt:
                time.sleep(self.backoff.delay(attempt - 1))
            attempt += 1
            try:
                self.client = self._connect()
            except (PublishError, BenchError) as exc:
                elapsed = time.monotonic() - started
                retriable = not isinstance(exc, PublishError) or exc.retriable
                if not retriable or elapsed >= self.backoff.give_up_s:
                    raise BenchError(
                        f"the raw subscriber lost its MQTT connection ({why}) and could not "
                        f"connect again in {elapsed:.0f} s: {exc}"
                    ) from exc
                continue
            self.reconnects += 1
            log.info(
                "the raw subscriber reconnected after %.1f s (%d attempts)",
                time.monotonic() - started,
                attempt,
            )
            return

    def close(self) -> None:
        """Disconnect and end the session (a clean-session login with the same id)."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        with contextlib.suppress(Exception):
            connect(self.target, self.client_id, clean_session=True).disconnect()


def _receive(
    subscription: _Subscription, counter: _Counter, commands: Queue[int], idle_timeout_s: float
) -> None:
    """Receive until the parent's expected count arrived or nothing came for a while."""
    expected: int | None = None
    started = seen_at = time.monotonic()
    seen = 0
    while expected is None or counter.received < expected:
        subscription.service(0.05)
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
    logging_setup: tuple[str, str],
    commands: Queue[int],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """Entry point of the raw-leg subscriber: count QoS 1 messages until told how many."""
    configure_worker(logging_setup)
    subscription: _Subscription | None = None
    counter = _Counter()
    try:
        subscription = _Subscription(target, client_id, topic_filter, counter)
        results.put(("ready", 0, None))
        _receive(subscription, counter, commands, idle_timeout_s)
        got = SubscribeResult(
            counter.received, counter.first, counter.last, subscription.reconnects
        )
        results.put(("done", 0, got))
    except Exception as exc:
        results.put(("error", 0, f"subscriber: {type(exc).__name__}: {exc}"))
    finally:
        if subscription is not None:
            subscription.close()


class RawSubscriber:
    """The raw leg's one subscriber process."""

    def __init__(
        self, target: MqttTarget, client_id: str, topic_filter: str, idle_timeout_s: float
    ) -> None:
        self._results: Queue[tuple[str, int, Any]] = _SPAWN.Queue()
        self._commands: Queue[int] = _SPAWN.Queue()
        self._proc = _SPAWN.Process(
            target=subscriber_main,
            args=(
                target,
                client_id,
                topic_filter,
                idle_timeout_s,
                worker_logging(),
                self._commands,
                self._results,
            ),
            name="bench-subscriber",
            daemon=True,
        )

    def _dead(self) -> list[str]:
        return exited(self._proc)()

    def start(self) -> RawSubscriber:
        self._proc.start()
        collect(
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
        got = collect(self._results, 1, "done", timeout_s, "the raw subscriber", self._dead)
        result: SubscribeResult = got[0]
        return result

    def close(self) -> None:
        stop_processes([self._proc])
