"""Publishing simulated messages over MQTT: the one reconnecting publisher, replay workers.

This module is the workbench's one MQTT publisher: the simulator's replay workers
and live clients, the benchmarks' publisher processes and the evaluations' legs all
publish through :class:`Sender`, and every client of theirs is made by
:func:`connect` / :func:`new_client` / :func:`make_client` (MQTT 3.1.1 as the devices
speak it, user name and password, TLS with the deployment's CA, optional last will).

Delivery semantics: every message is published with QoS 1 (status messages
retained, as the firmware does). A message counts as delivered only when its
PUBACK arrived, and counts once however often it was sent. A sender keeps each
message until its PUBACK; when the connection drops (a broker restart, a cut
TCP connection) it reconnects with bounded exponential back-off (0.2 s doubling
to 5 s; it gives up with :class:`~wastewatch.workbench.simulators.errors.BrokerUnreachableError`
after
120 s without a connection) and first re-sends every unacknowledged message, in
the order they were first published, then carries on. QoS 1 allows the
duplicates this makes (the sink stores each natural key once); the order per
connection, and so per device, holds. A run fails when PUBACKs stop coming for
``ack_timeout_s`` while connected.

Speed: paho's network loop is driven by hand (``loop_read`` / ``loop_write``
between publishes, a ``select`` of our own, never ``loop()`` or ``loop_start``),
which is three to four times faster than the threaded loop for a publisher
(see ``bench/mqtt_load.py``); ``loop()`` is avoided because once called it
makes paho write a byte to a socket pair on every publish.
Replay spreads messages over worker processes; a device is always published by
the same worker, so each device's messages keep their order (the bridge keys
Kafka by device, the sink and processors rely on per-device order).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import select
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any, Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from wastewatch.core import MqttTarget
from wastewatch.workbench.simulators.errors import (
    BrokerUnreachableError,
    LoginRefusedError,
    PublishError,
)

if TYPE_CHECKING:
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_BACKOFF",
    "DEFAULT_WINDOW",
    "Backoff",
    "Connector",
    "MqttTarget",
    "Outbox",
    "PublisherPool",
    "Sender",
    "configure_worker",
    "connect",
    "loop_once",
    "make_client",
    "new_client",
    "stop_processes",
    "target_from_env",
    "worker_logging",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW: Final = 2000
"""Unacknowledged QoS 1 messages per connection; also keeps paho's 16-bit ids from wrapping
onto one still in flight."""
CONNECT_TIMEOUT_S: Final = 15.0
_SUCCESS: Final = MQTTErrorCode.MQTT_ERR_SUCCESS
_SPAWN: Final = multiprocessing.get_context("spawn")

Outbox = list[tuple[str, bytes, bool]]
"""(topic, payload, retained) in publish order."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How a lost connection is re-made: waits of ``initial_s`` doubling up to ``max_s``
    between attempts, and no more attempts once ``give_up_s`` passed since it was lost."""

    initial_s: float = 0.2
    max_s: float = 5.0
    give_up_s: float = 120.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (0 = the first)."""
        return min(self.max_s, self.initial_s * 2.0 ** min(attempt, 30))


DEFAULT_BACKOFF: Final = Backoff()


def new_client(
    target: MqttTarget,
    client_id: str,
    *,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
    on_message: Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None] | None = None,
) -> mqtt.Client:
    """A configured, not yet connected paho client: MQTT 3.1.1, the target's user name and
    password, TLS with its CA file, the last will (QoS 1, retained) if given.

    ``on_message`` is set before connecting: a persistent session's queued messages
    may come right behind the CONNACK, and paho acknowledges and drops a message
    that arrives with no callback set.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if target.username is not None:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set(ca_certs=target.ca_file)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    if on_message is not None:
        client.on_message = on_message
    # No limits inside paho: the window is ours (paho rescans its queue per PUBACK otherwise).
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    return client


def target_from_env(env: Mapping[str, str]) -> MqttTarget:
    """The broker a workbench run publishes to: ``WW_MQTT_URL`` (user name, password,
    ``mqtts://`` for TLS) and ``WW_MQTT_CA_FILE``, as the stack hands them out."""
    return MqttTarget.from_url(env["WW_MQTT_URL"], ca_file=env.get("WW_MQTT_CA_FILE"))


def make_client(
    url: str | MqttTarget,
    client_id: str,
    *,
    ca_file: str | None = None,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
    on_message: Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None] | None = None,
) -> mqtt.Client:
    """:func:`new_client` for a broker URL (``mqtt[s]://user:password@host:port``, parsed
    by :mod:`wastewatch.core.mqtt_url`; ``ca_file`` for TLS) or a parsed target."""
    target = url if isinstance(url, MqttTarget) else MqttTarget.from_url(url, ca_file=ca_file)
    return new_client(
        target, client_id, will=will, clean_session=clean_session, on_message=on_message
    )


def connect(
    target: MqttTarget,
    client_id: str,
    *,
    will: tuple[str, bytes] | None = None,
    clean_session: bool = True,
    on_message: Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None] | None = None,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> mqtt.Client:
    """A connected, non-threaded client (see :func:`new_client`); drive it with
    :func:`loop_once` or ``loop_read`` / ``loop_write``, never ``loop_start``.

    Raises :class:`BrokerUnreachableError` (no TCP connection or no CONNACK within
    ``timeout_s``) or :class:`LoginRefusedError` (the CONNACK refused us).
    """
    client = new_client(
        target, client_id, will=will, clean_session=clean_session, on_message=on_message
    )
    accepted: list[bool] = []
    refused: list[str] = []

    def on_connect(
        _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        else:
            accepted.append(True)

    client.on_connect = on_connect
    client.connect_timeout = min(timeout_s, 5.0)
    try:
        client.connect(target.host, target.port, keepalive=30)
    except (OSError, ValueError) as exc:
        raise BrokerUnreachableError(
            f"cannot connect to MQTT {target}: {exc}; is the broker up "
            "(`wastewatch services up`) and WW_MQTT_URL right?"
        ) from exc
    deadline = time.monotonic() + timeout_s
    lost = ""
    while not accepted and not refused and not lost and time.monotonic() < deadline:
        rc = loop_once(client, 0.05)
        if rc != _SUCCESS:
            lost = mqtt.error_string(rc)
    client.on_connect = None
    if accepted:
        return client
    _drop(client)
    if refused:
        raise LoginRefusedError(f"MQTT {target} refused {client_id}: {refused[0]}")
    why = f"connection closed before the CONNACK ({lost})" if lost else "no CONNACK"
    raise BrokerUnreachableError(
        f"MQTT {target} did not accept {client_id}: {why} within {timeout_s:.0f} s"
    )


def loop_once(client: mqtt.Client, timeout_s: float) -> MQTTErrorCode:
    """One round of a non-threaded client's network loop: wait up to ``timeout_s`` for
    the socket, read, write what is queued, keepalive. Not paho's ``loop()`` (see the
    module docstring)."""
    sock = client.socket()
    if sock is None:
        return MQTTErrorCode.MQTT_ERR_NO_CONN
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted, select misses them
    wait = 0.0 if pending is not None and pending() else timeout_s
    writers = [sock] if client.want_write() else []
    try:
        readable, _, _ = select.select([sock], writers, [], wait)
    except (OSError, ValueError):  # closed under us
        return MQTTErrorCode.MQTT_ERR_CONN_LOST
    if readable or wait == 0.0:
        rc = client.loop_read()
        if rc != _SUCCESS:
            return rc
    if client.want_write():
        rc = client.loop_write()
        if rc != _SUCCESS:
            return rc
    return client.loop_misc()


def _drop(client: mqtt.Client) -> None:
    """Close the TCP connection without DISCONNECT (the broker publishes the last will)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


class Connector(Protocol):
    """What :class:`Sender` connects with (:func:`connect`; a fake in unit tests)."""

    def __call__(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> mqtt.Client: ...


_Entry = tuple[str, bytes, bool, Any]
"""(topic, payload, retained, the caller's token) of a message waiting for its PUBACK."""


class Sender:
    """One MQTT connection that publishes QoS 1 with a bounded in-flight window, counts
    PUBACKs and survives the broker going away (see the module docstring).

    ``start()`` connects (once: a broker that is down or refuses us at the start is an
    error at once, with the reason); ``close()`` disconnects and is safe twice; also a
    context manager. Every message is kept until its PUBACK, with the caller's
    ``token``; ``on_ack(token)`` is called once per acknowledged message. Single
    threaded: callbacks run inside ``publish`` / ``service`` / ``drain``.
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        name: str | None = None,
        will: tuple[str, bytes] | None = None,
        window: int = DEFAULT_WINDOW,
        ack_timeout_s: float = 60.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        on_ack: Callable[[Any], None] | None = None,
        connector: Connector = connect,
    ) -> None:
        self.target = target
        self.client_id = client_id
        self.name = name or client_id
        self.will = will
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.backoff = backoff
        self._on_ack = on_ack
        self._connector = connector
        self._client: mqtt.Client | None = None
        self._inflight: dict[int, _Entry] = {}
        self.published = 0
        """Messages handed to ``publish`` (a re-send does not count again)."""
        self.acked = 0
        """Messages whose PUBACK arrived (each once)."""
        self.reconnects = 0
        """Connections re-made after a loss (not after a deliberate ``cut``)."""
        self.resent = 0
        """Messages sent again after a reconnect."""
        self._n = 0
        self._cut = False
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> Sender:
        """Connect; after a ``cut``, reconnect and re-send what was unacknowledged."""
        if self._client is None and not self._closed:
            if self._cut:
                self._reconnect("cut on purpose", quiet=True)
                self._cut = False
            else:
                self._attach(self._connector(self.target, self.client_id, will=self.will))
        return self

    def __enter__(self) -> Sender:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """DISCONNECT (no last will) and forget the connection; safe to call twice."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
                loop_once(client, 0.1)

    stop = close

    def cut(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a device losing its network
        does (the broker publishes the last will). Nothing reconnects until the next
        ``publish``, which first re-sends what was still unacknowledged."""
        client, self._client = self._client, None
        if client is not None:
            _drop(client)
        self._cut = True

    @property
    def in_flight(self) -> int:
        """Messages published and not acknowledged yet."""
        return len(self._inflight)

    @property
    def connected(self) -> bool:
        return self._client is not None

    # --- publishing ----------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, retain: bool = False, token: Any = None) -> None:
        """QoS 1; waits while the window is full (that is the backpressure) or the
        connection is being re-made."""
        if self._client is None:
            self._revive()
        if len(self._inflight) >= self.window and not self.wait_for_room():
            raise PublishError(
                f"{self.name}: no PUBACK for {self.ack_timeout_s:.0f} s with "
                f"{len(self._inflight)} messages in flight; is the broker overloaded?"
            )
        client = self._client
        assert client is not None
        info = client.publish(topic, payload, qos=1, retain=retain)
        self._inflight[info.mid] = (topic, payload, retain, token)
        self.published += 1
        if info.rc != _SUCCESS:
            self._recover(mqtt.error_string(info.rc))  # re-sends this one too
            return
        self._n += 1
        if self._n % 32 == 0:
            self._read()
            if self._n % 4096 == 0:
                self.service(0)

    def service(self, timeout_s: float = 0.0) -> None:
        """One round of the network loop (up to ``timeout_s``); a lost connection is
        re-made here. A cut or closed sender only waits."""
        client = self._client
        if client is None:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return
        rc = loop_once(client, timeout_s)
        if rc != _SUCCESS:
            self._recover(mqtt.error_string(rc))

    def wait_for_room(self, stall_s: float | None = None) -> bool:
        """Until the window has room; False when no PUBACK came for ``stall_s`` (default
        ``ack_timeout_s``) while connected."""
        return self._wait(lambda: len(self._inflight) < self.window, stall_s)

    def drain(self, stall_s: float | None = None) -> bool:
        """Wait for the outstanding PUBACKs; False when some are missing after ``stall_s``
        (default ``ack_timeout_s``) without progress, or the sender is cut or closed."""
        return self._wait(lambda: not self._inflight, stall_s)

    def _wait(self, done: Callable[[], bool], stall_s: float | None) -> bool:
        stall = self.ack_timeout_s if stall_s is None else stall_s
        mark = (self.acked, self.reconnects)
        deadline = time.monotonic() + stall
        while not done():
            if self._client is None:
                return False
            self.service(0.05)
            now_mark = (self.acked, self.reconnects)
            if now_mark != mark:
                mark, deadline = now_mark, time.monotonic() + stall
            elif time.monotonic() > deadline:
                return False
        return True

    # --- internals -----------------------------------------------------------------------
    def _attach(self, client: mqtt.Client) -> None:
        client.on_publish = self._on_publish
        self._client = client

    def _on_publish(
        self, client: mqtt.Client, _u: object, mid: int, _rc: ReasonCode, _p: Properties
    ) -> None:
        if client is not self._client:
            return  # a PUBACK read from a connection given up: its messages were re-sent
        entry = self._inflight.pop(mid, None)
        if entry is not None:
            self.acked += 1
            if self._on_ack is not None:
                self._on_ack(entry[3])

    def _read(self) -> None:
        client = self._client
        assert client is not None
        rc = client.loop_read()
        if rc == _SUCCESS and client.want_write():
            rc = client.loop_write()
        if rc != _SUCCESS:
            self._recover(mqtt.error_string(rc))

    def _revive(self) -> None:
        if self._closed:
            raise PublishError(f"{self.name}: publish after close()")
        self.start()

    def _recover(self, why: str) -> None:
        """The connection is gone: log it, reconnect, re-send (or raise after the limit)."""
        if self._closed:
            raise PublishError(f"{self.name}: connection lost after close() ({why})")
        log.warning(
            "%s: MQTT connection to %s lost (%s) with %d messages unacknowledged; reconnecting",
            self.name,
            self.target,
            why,
            len(self._inflight),
        )
        self._reconnect(why)

    def _reconnect(self, why: str, *, quiet: bool = False) -> None:
        """Connect again with back-off, then re-send every unacknowledged message in its
        original order before anything new."""
        old, self._client = self._client, None
        if old is not None:
            _drop(old)
        give_up_s = self.backoff.give_up_s
        started = time.monotonic()
        attempt = 0
        while True:
            if attempt:
                elapsed = time.monotonic() - started
                time.sleep(max(0.0, min(self.backoff.delay(attempt - 1), give_up_s - elapsed)))
            attempt += 1
            left = give_up_s - (time.monotonic() - started)
            try:
                client = self._connector(
                    self.target,
                    self.client_id,
                    will=self.will,
                    timeout_s=max(1.0, min(CONNECT_TIMEOUT_S, left)),
                )
            except PublishError as exc:
                if not exc.retriable or time.monotonic() - started >= give_up_s:
                    raise self._gave_up(why, started, attempt, str(exc)) from exc
                continue
            self._attach(client)
            waiting = list(self._inflight.values())
            self._inflight = {}
            for entry in waiting:
                info = client.publish(entry[0], entry[1], qos=1, retain=entry[2])
                self._inflight[info.mid] = entry
            if client.socket() is None:  # lost again while re-sending: the order still holds
                self._client = None
                if time.monotonic() - started >= give_up_s:
                    raise self._gave_up(why, started, attempt, "lost again while re-sending")
                continue
            self.reconnects += 0 if quiet else 1
            self.resent += len(waiting)
            (log.debug if quiet else log.info)(
                "%s: MQTT reconnected to %s after %.1f s (%d attempts), re-sent %d "
                "unacknowledged messages",
                self.name,
                self.target,
                time.monotonic() - started,
                attempt,
                len(waiting),
            )
            return

    def _gave_up(self, why: str, started: float, attempts: int, last: str) -> PublishError:
        return BrokerUnreachableError(
            f"{self.name}: lost its MQTT connection to {self.target} ({why}) and could not "
            f"connect again in {time.monotonic() - started:.0f} s ({attempts} attempts, last: "
            f"{last}); messages without a PUBACK: {len(self._inflight)}. Is the broker up "
            "(`wastewatch services status`)?"
        )


# ----------------------------------------------------------------------- replay workers


def worker_logging() -> tuple[str, str]:
    """(level, format) of this process's logging, for a spawned worker to copy."""
    from wastewatch.core import JsonFormatter

    root = logging.getLogger()
    json_format = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return logging.getLevelName(root.getEffectiveLevel()), "json" if json_format else "text"


def configure_worker(logging_setup: tuple[str, str]) -> None:
    """In a spawned worker: leave Ctrl-C to the parent (it stops its workers in order) and
    log like the parent, so a reconnect shows on stderr."""
    from wastewatch.core import configure

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(*logging_setup)


def _worker(
    target: MqttTarget,
    client_id: str,
    index: int,
    window: int,
    backoff: Backoff,
    logging_setup: tuple[str, str],
    inbox: Queue[Outbox | None],
    results: Queue[tuple[str, int, Any]],
) -> None:
    """A publisher process: connect, publish every batch it is sent, report PUBACKs."""
    configure_worker(logging_setup)
    sender = Sender(target, client_id, name=f"publisher {index}", window=window, backoff=backoff)
    try:
        sender.start()
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
        results.put(("done", index, (sender.published, sender.acked, sender.reconnects)))
    except Exception as exc:
        results.put(("error", index, f"publisher {index}: {type(exc).__name__}: {exc}"))
    finally:
        sender.close()


class PublisherPool:
    """``count`` publisher processes; messages are routed by key so a device keeps its order.

    ``start()`` / ``close()`` (also a context manager); ``close()`` is safe twice
    and leaves no process behind. Each worker publishes through a :class:`Sender`,
    so a broker restart costs a pause, not the run.
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
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.count = count
        self.batch = batch
        self._results: Queue[tuple[str, int, Any]] = _SPAWN.Queue()
        self._inboxes: list[Queue[Outbox | None]] = [
            _SPAWN.Queue(maxsize=queue_batches) for _ in range(count)
        ]
        self._buffers: list[Outbox] = [[] for _ in range(count)]
        setup = worker_logging()
        self._procs: list[SpawnProcess] = [
            _SPAWN.Process(
                target=_worker,
                args=(
                    target,
                    f"{client_prefix}-p{i}",
                    i,
                    window,
                    backoff,
                    setup,
                    self._inboxes[i],
                    self._results,
                ),
                name=f"ww-sim-publisher-{i}",
                daemon=True,
            )
            for i in range(count)
        ]
        self.progress: dict[int, tuple[int, int]] = {}
        self.done: dict[int, tuple[int, int]] = {}
        self.reconnects = 0
        """Reconnects of all workers together (known once ``finish`` returned)."""
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
            self._take(tag, index, value)
            return tag, index, value

    def _take(self, tag: str, index: int, value: Any) -> None:
        if tag == "error":
            raise PublishError(str(value))
        if tag == "progress":
            self.progress[index] = value
        elif tag == "done":
            published, acked, reconnects = value
            self.done[index] = (published, acked)
            self.reconnects += reconnects

    def poll(self) -> None:
        """Take in progress reports without waiting; raise a worker's error."""
        while True:
            try:
                tag, index, value = self._results.get_nowait()
            except queue.Empty:
                return
            self._take(tag, index, value)

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
        """Send what is buffered, wait for every worker's PUBACKs; (published, acked).

        ``timeout_s`` counts from the last answer of any worker, so a worker that waits
        for the broker to come back (up to its back-off limit) is not cut short.
        """
        for i in range(self.count):
            if self._buffers[i]:
                self._put(i)
            self._inboxes[i].put(None)
        while len(self.done) < self.count:
            self._get(time.monotonic() + timeout_s)
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
        stop_processes(self._procs)


def stop_processes(procs: Sequence[BaseProcess], grace_s: float = 10.0) -> None:
    """Wait up to ``grace_s`` in all for ``procs`` to exit (after being asked to), then
    terminate, then kill those still alive; processes never started are skipped."""
    deadline = time.monotonic() + grace_s
    for proc in procs:
        if proc.pid is None:
            continue
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
