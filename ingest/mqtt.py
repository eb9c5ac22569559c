"""A thin asyncio adapter over paho-mqtt 2.x with manual acknowledgements.

Why not aiomqtt: it has no manual-ack API, and with a bounded queue it drops
messages after paho already acknowledged them.  Here paho runs its network
loop in its own thread with ``manual_ack=True``; each message is handed to
asyncio through ``call_soon_threadsafe`` and acknowledged only when the
consumer calls :meth:`MqttSource.ack`.

Flow control has two layers.  MQTT v5's Receive Maximum asks the broker to
keep at most that many unacknowledged QoS 1 messages in flight to us (when
acks stop because Kafka is slow or down, the broker queues the rest in our
persistent session, clean_start=False with a Session Expiry Interval).  Not
every broker holds to it while draining a backlog (Mosquitto 2.0.11 here sends
the whole backlog once acks resume), so the hand-off itself is bounded too:
at most ``capacity`` messages, and when it is full paho's thread waits
instead of reading the socket, which pushes back on the broker over TCP.  A
message is never dropped for lack of room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from wastewatch.core import MqttTarget, MqttUrlError, redact
from wastewatch.ingest.errors import MqttConnectError
from wastewatch.ingest.paho_buffered import BufferedReadClient

log = logging.getLogger(__name__)
_PUBACK = struct.Struct("!BBH")  # PUBACK, remaining length 2, packet id (reason 0 implied)


@dataclass(frozen=True, slots=True)
class Message:
    """One PUBLISH as received; ``received_at`` is the bridge's wall clock (s)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    received_at: float


class MqttSource:
    """Subscribe with QoS 1 and a persistent session; deliver to an asyncio queue."""

    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        subscriptions: list[str],
        receive_maximum: int,
        optional_subscriptions: list[str] | None = None,
        session_expiry_s: int,
        keepalive_s: int = 30,
        ca_file: str | None = None,
        capacity: int | None = None,
    ) -> None:
        try:
            self._address = MqttTarget.from_url(url)
        except MqttUrlError as exc:
            raise MqttConnectError(redact(url), str(exc)) from exc
        self._url = redact(url)  # for messages: never the password
        self._subscriptions = subscriptions
        self._optional = list(optional_subscriptions or ())
        self.refused: frozenset[str] = frozenset()
        """Optional filters the broker refused at the last SUBACK (the account may not read
        them); the required ones refused fail `subscribed` instead."""
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._ca_file = ca_file
        self.client_id = client_id
        self.capacity = capacity or max(4 * receive_maximum, 1024)
        self._room = threading.Event()
        self._paho_waiting = False
        self._ready = asyncio.Event()
        self._closing = False
        self.waits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._connected: asyncio.Event = asyncio.Event()
        self._connack: asyncio.Future[None] | None = None
        self._suback: asyncio.Future[None] | None = None
        self.connects = 0
        self.received = 0
        self._inbox: deque[Message] = deque()
        self._wake_pending = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, *, timeout_s: float = 15.0) -> None:
        """Connect and wait for the SUBACK; for a consumer that reads only after start.

        A consumer that must drain a persistent session's backlog calls
        :meth:`connect`, starts reading, then awaits :meth:`subscribed`.
        """
        await self.connect(timeout_s=timeout_s)
        await self.subscribed(idle_timeout_s=timeout_s)

    async def connect(self, *, timeout_s: float = 15.0) -> None:
        """Start paho's thread and wait for the CONNACK (not for the SUBACK).

        Right after the CONNACK a persistent session's queued messages arrive, ahead
        of the SUBACK: read them (the hand-off is bounded) while awaiting
        :meth:`subscribed`, or paho's thread blocks on a full hand-off and never
        reads the SUBACK.
        """
        self._loop = asyncio.get_running_loop()
        self._connack = self._loop.create_future()
        self._suback = self._loop.create_future()
        client = BufferedReadClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        client.max_inflight_messages_set(self._receive_maximum)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if self._address.username is not None:
            client.username_pw_set(self._address.username, self._address.password)
        if self._address.tls:
            context = ssl.create_default_context(cafile=self._ca_file)
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        self._client = client
        try:
            client.connect_async(
                self._address.host,
                self._address.port,
                keepalive=self._keepalive_s,
                clean_start=False,
                properties=props,
            )
        except (OSError, ValueError) as exc:
            raise MqttConnectError(self._url, str(exc)) from exc
        client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self._connack), timeout_s)
        except TimeoutError as exc:
            await self.stop()
            raise MqttConnectError(self._url, f"no CONNACK within {timeout_s:.0f} s") from exc
        except MqttConnectError:
            await self.stop()
            raise

    async def subscribed(self, *, idle_timeout_s: float = 15.0) -> None:
        """Wait for the SUBACK of the first connection's subscriptions.

        A backlog of any size may come first, so the deadline is for silence, not
        for the whole wait: it fails only when neither the SUBACK nor any message
        arrived for ``idle_timeout_s``.
        """
        suback = self._suback
        if suback is None:
            raise MqttConnectError(self._url, "subscribed() before connect()")
        while True:
            seen = self.received
            try:
                await asyncio.wait_for(asyncio.shield(suback), idle_timeout_s)
            except TimeoutError as exc:
                if self.received != seen:
                    continue  # still draining the session's backlog
                await self.stop()
                raise MqttConnectError(
                    self._url,
                    f"connected, but no SUBACK for {', '.join(self._subscriptions)} and no "
                    f"message within {idle_timeout_s:.0f} s",
                ) from exc
            except MqttConnectError:
                await self.stop()
                raise
            return

    async def stop(self) -> None:
        """Disconnect (the session and its queue stay on the broker) and end paho's thread."""
        client, self._client = self._client, None
        if client is None:
            return
        self._closing = True  # a paho thread waiting for room gives up; the broker redelivers
        with contextlib.suppress(Exception):
            client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)
        self._connected.clear()

    def ack(self, mid: int) -> None:
        """Send the PUBACK for ``mid`` (paho queues it for its network thread)."""
        client = self._client
        if client is not None:
            client.ack(mid, 1)

    def ack_many(self, mids: list[int]) -> None:
        """PUBACKs for several messages, in the order given, as one write.

        paho's ``ack()`` queues one packet and wakes its network thread with a
        syscall per PUBACK; at thousands of messages a second that is the
        bridge's largest single cost.  The PUBACKs of one released run are
        concatenated into one queued write instead (same bytes on the wire).
        ``_packet_queue`` is paho 2.x's internal; without it we fall back to
        ``ack()`` per message.
        """
        client = self._client
        if client is None or not mids:
            return
        queue_packet = getattr(client, "_packet_queue", None)
        if queue_packet is None:
            for mid in mids:
                client.ack(mid, 1)
            return
        packet = b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids])
        queue_packet(0x40, packet, mids[-1], 1)

    # --- paho thread -------------------------------------------------------------------
    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        loop = self._loop
        if loop is None:
            return
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            error = MqttConnectError(self._url, str(reason))
            loop.call_soon_threadsafe(_resolve, self._connack, error)
            return
        self.connects += 1
        log.info("MQTT connected (session present: %s)", flags.session_present)
        loop.call_soon_threadsafe(self._connected.set)
        loop.call_soon_threadsafe(_resolve, self._connack, None)
        # Subscribe on every connect, also when the broker kept the session: a session an
        # older bridge left may lack a filter added since (weighbridge tickets were), and
        # subscribing to a filter the session has only replaces it (its queue stays).
        # `subscribed` returns once the SUBACK says they are in place, so nothing published
        # after it can miss the bridge. retainHandling=1: retained status only when
        # the subscription is new, so a reconnect does not replay every device's
        # retained status.
        options = SubscribeOptions(qos=1, retainHandling=1)
        wanted = self._subscriptions + self._optional
        client.subscribe([(topic, options) for topic in wanted])

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        loop = self._loop
        if loop is None:
            return
        # One reason code per filter, in the order subscribed: required, then optional.
        wanted = self._subscriptions + self._optional
        refused = [(f, rc) for f, rc in zip(wanted, reason_codes, strict=False) if rc.is_failure]
        optional = frozenset(f for f, _ in refused if f in self._optional)
        if optional and optional != self.refused:
            log.warning(
                "MQTT subscription to %s refused (the account may not read it); carrying "
                "on without it",
                ", ".join(sorted(optional)),
            )
        self.refused = optional
        failed = [f"{f}: {rc}" for f, rc in refused if f not in optional]
        if failed:
            log.error("MQTT subscription refused: %s", ", ".join(failed))
            error = MqttConnectError(self._url, f"subscription refused: {', '.join(failed)}")
            loop.call_soon_threadsafe(_resolve, self._suback, error)
            return
        loop.call_soon_threadsafe(_resolve, self._suback, None)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.clear)
        log.warning("MQTT disconnected: %s", reason)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        loop = self._loop
        if loop is None:
            return
        if len(self._inbox) >= self.capacity:
            self.waits += 1
            log.warning("hand-off full (%d messages): pausing reads from the broker", self.capacity)
            self._room.clear()
            self._paho_waiting = True
            while len(self._inbox) >= self.capacity:
                self._room.wait(0.5)
                if self._closing:
                    return  # not acked: the broker redelivers it to the next session
            self._paho_waiting = False
        self._inbox.append(
            Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.dup), time.time())
        )
        self.received += 1
        if self._wake_pending:
            return
        # One wake-up of the event loop per burst, not per message: each wake-up is a
        # syscall, and at thousands of messages a second that adds up.
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: we are shutting down, the broker redelivers
            return

    # --- asyncio thread ----------------------------------------------------------------
    def _wake(self) -> None:
        # ``_wake_pending`` stays set while the consumer drains the inbox, so a burst
        # costs one wake-up (one self-pipe write) rather than one per message; the
        # consumer clears it only when it finds the inbox empty (`_arm`).
        self._ready.set()

    def _arm(self) -> bool:
        """About to wait for a message: re-arm the wake-up; True if one came meanwhile.

        The flag is cleared before the inbox is looked at again, so a message that
        paho appended while the flag was still set (and so woke nobody) is seen here,
        and one appended after it wakes the loop.
        """
        self._wake_pending = False
        return bool(self._inbox)

    def empty(self) -> bool:
        return not self._inbox

    def get_nowait(self) -> Message:
        """The oldest received message (IndexError when there is none)."""
        message = self._inbox.popleft()
        if self._paho_waiting and len(self._inbox) < self.capacity // 2:
            self._room.set()
        return message

    async def wait_for_message(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` for a message to be available; True if one is.

        ``_ready`` can be set by a wake-up whose message the consumer already took
        with ``get_nowait``, so a set event alone proves nothing: the inbox decides.
        """
        deadline = time.monotonic() + timeout_s
        while not self._inbox:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._arm():
                return True
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except TimeoutError:
                return bool(self._inbox)
        return True

    async def get(self) -> Message:
        """Wait for the next received message."""
        while not self._inbox:
            if self._arm():
                break
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()


def _resolve(fut: asyncio.Future[None] | None, error: Exception | None) -> None:
    """Settle a connect/subscribe future once; later connects do not touch it."""
    if fut is None or fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
