"""Hostile input through the real pipeline: Mosquitto -> Bridge -> Kafka -> Sink -> TimescaleDB.

A real `Bridge` and `Sink` run in-process against the session's stack, each
test on a city of its own (the bridge subscribes to ``ww/<city>/bins/+/...``
only) and with devices whose ids start with a tag of its own, so tests never
see each other's traffic in MQTT, Kafka or the database.

The corpus is drawn from ``random.Random(SEED)``: deterministic, so a failure
reproduces, yet covering every kind of bad input the bridge must survive.
Hypothesis explores `classify` itself in tests/test_ingest_validate.py, where
thousands of cases cost milliseconds instead of a broker round trip each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import paho.mqtt.client as mqtt
import psycopg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.conftest import StackEnv
from tests.mqtt_login import login
from tests.pipeline_helpers import earliest_consumer
from wastewatch.core.settings import KafkaSettings, Settings
from wastewatch.ingest.bridge import Bridge
from wastewatch.ingest.sink import Sink
from wastewatch.ingest.validate import DLQ, READINGS
from wastewatch.schema.dlq import MAX_DLQ_PAYLOAD_BYTES, DeadLetter, DeadLetterReason
from wastewatch.schema.telemetry import MAX_PAYLOAD_BYTES
from wastewatch.schema.topics import status_topic, telemetry_topic

pytestmark = pytest.mark.integration

SEED = 20260101
WAIT_S = 30.0
MAX_FUTURE_S = 3600
Reason = DeadLetterReason


# --- the pipeline under test -----------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    bridge: Bridge
    sink: Sink
    city: str
    tag: str  # every device id of the test starts with it


def isolated(settings: Settings, **kafka: Any) -> tuple[Settings, str, str]:
    """Settings for one test: its own city, MQTT client id, sink group; no metrics ports."""
    tag = uuid4().hex[:8]
    city = f"t{tag}"
    return (
        settings.model_copy(
            update={
                "city": city,
                "mqtt": settings.mqtt.model_copy(update={"client_id": f"ww-test-bridge-{tag}"}),
                "kafka": settings.kafka.model_copy(update=kafka),
                "ingest": settings.ingest.model_copy(
                    update={
                        "bridge_metrics_port": 0,
                        "sink_metrics_port": 0,
                        "sink_group": f"ww-test-sink-{tag}",
                        # the bridge's persistent session outlives the test by a minute only
                        "session_expiry_s": 60,
                        "max_future_s": MAX_FUTURE_S,
                    }
                ),
            }
        ),
        city,
        tag,
    )


@contextlib.asynccontextmanager
async def pipeline(settings: Settings, stack_env: StackEnv) -> AsyncIterator[Pipeline]:
    """A running sink and bridge, the bridge's subscription proven live before yielding."""
    test_settings, city, tag = isolated(settings)
    async with Sink(test_settings) as sink, Bridge(test_settings) as bridge:
        running = Pipeline(test_settings, bridge, sink, city, tag)
        await wait_until_subscribed(running, stack_env)
        yield running


async def wait_until_subscribed(p: Pipeline, stack_env: StackEnv) -> None:
    """`Bridge.start` returns at CONNACK; SUBACK may still be on its way. A status message
    (not counted as a reading) is re-sent until the bridge has received one."""
    publisher = Publisher(stack_env.mqtt_port, f"ww-test-warmup-{p.tag}")
    topic = status_topic(p.city, f"{p.tag}-warmup")
    try:
        deadline = time.monotonic() + WAIT_S
        while received(p.bridge, "waste.status.v1") == 0:
            assert time.monotonic() < deadline, "the bridge never received a message"
            await asyncio.to_thread(publisher.publish_all, [(topic, b'{"state":"online"}')])
            for _ in range(10):
                if received(p.bridge, "waste.status.v1"):
                    break
                await asyncio.sleep(0.1)
    finally:
        publisher.close()


def received(bridge: Bridge, kind: str) -> float:
    value = bridge.metrics.registry.get_sample_value("ww_bridge_received_total", {"kind": kind})
    return value or 0.0


# --- an MQTT device (or a misbehaving one) -----------------------------------------------------


class Publisher:
    """A paho MQTT v5 client with its own network thread; QoS 1 publishes wait for PUBACK."""

    def __init__(self, port: int, client_id: str, *, session_expiry_s: int = 0) -> None:
        self.disconnected = threading.Event()
        self.disconnect_reason: str | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        login(self.client)
        self.client.max_inflight_messages_set(100)
        self.client.on_disconnect = self._on_disconnect
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        connected = threading.Event()
        self.session_present: bool | None = None
        self.max_packet_size: int | None = None  # the broker's, from CONNACK

        def on_connect(client, userdata, flags, reason, properties):  # type: ignore[no-untyped-def]
            self.session_present = bool(flags.session_present)
            self.max_packet_size = getattr(properties, "MaximumPacketSize", None)
            connected.set()

        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", port, clean_start=session_expiry_s == 0, properties=props)
        self.client.loop_start()
        if not connected.wait(10):
            self.close()
            raise AssertionError(f"MQTT client {client_id} got no CONNACK in 10 s")

    def _on_disconnect(self, client, userdata, flags, reason, properties):  # type: ignore[no-untyped-def]
        self.disconnect_reason = str(reason)
        self.disconnected.set()

    def publish_all(self, messages: list[tuple[str, bytes]], timeout_s: float = WAIT_S) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        deadline = time.monotonic() + timeout_s
        for (topic, payload), info in zip(messages, infos, strict=True):
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), (
                f"no PUBACK for {len(payload)} bytes on {topic} "
                f"(disconnected: {self.disconnect_reason})"
            )

    def drop(self) -> None:
        """Vanish without DISCONNECT, as a device losing power or radio does."""
        self.client.loop_stop()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- what came out ---------------------------------------------------------------------------


async def consume_until(
    settings: Settings,
    topic: str,
    keep: Callable[[ConsumerRecord[bytes, bytes]], bool],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    timeout_s: float = WAIT_S,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``topic`` from the beginning that ``keep`` selects, until ``done`` or timeout."""
    consumer = earliest_consumer(settings.kafka.bootstrap, topic)
    await consumer.start()
    kept: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not done(kept) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            kept.extend(r for records in batch.values() for r in records if keep(r))
    finally:
        await consumer.stop()
    return kept


NaturalKey = tuple[str, int, int, int]


async def stored_readings(settings: Settings, tag: str) -> list[NaturalKey]:
    async with await psycopg.AsyncConnection.connect(settings.db.dsn) as conn:
        cur = await conn.execute(
            "select device_id, boot_counter, seq, extract(epoch from time)::bigint "
            "from readings where device_id like %s",
            (f"{tag}-%",),
        )
        return [tuple(row) for row in await cur.fetchall()]


async def wait_for_readings(settings: Settings, tag: str, n: int) -> list[NaturalKey]:
    deadline = time.monotonic() + WAIT_S
    rows = await stored_readings(settings, tag)
    while len(rows) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        rows = await stored_readings(settings, tag)
    return rows


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    kind: str
    topic: str
    payload: bytes
    reasons: frozenset[DeadLetterReason]


@dataclass(frozen=True)
class Good:
    topic: str
    payload: bytes
    key: NaturalKey


def wire(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def splice(body: dict[str, Any], key: str, token: str) -> bytes:
    """``body`` as JSON with the value of ``key`` replaced by raw JSON text."""
    text = wire(body | {key: "@@splice@@"}).decode()
    return text.replace('"@@splice@@"', token).encode()


class Corpus:
    """Valid readings of a few devices and bad messages of every kind, shuffled together."""

    def __init__(self, city: str, tag: str, *, n_good: int, n_bad: int, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.city = city
        self.devices = [f"{tag}-bin-{i:02d}" for i in range(5)]
        self.now = int(time.time())
        self.seq = Counter[str]()
        self.good = [self.valid() for _ in range(n_good)]
        makers = [
            self.random_bytes,
            self.truncated,
            self.huge_number,
            self.nan_or_infinity,
            self.string_for_number,
            self.missing_field,
            self.extra_field,
            self.oversize,
            self.unknown_version,
            self.other_device,
            self.bad_topic,
            self.future_timestamp,
            self.not_an_object,
            self.bad_status,
        ]
        self.bad = [makers[i % len(makers)]() for i in range(n_bad)]

    def shuffled(self) -> list[Good | Bad]:
        messages: list[Good | Bad] = [*self.good, *self.bad]
        self.rng.shuffle(messages)
        return messages

    def body(self, device: str | None = None) -> dict[str, Any]:
        rng = self.rng
        device = device or rng.choice(self.devices)
        seq = self.seq[device]
        self.seq[device] += 1
        body: dict[str, Any] = {
            "v": 1,
            "id": device,
            "boot": 3,
            "seq": seq,
            "ts": self.now - rng.randint(0, 86_400),
            "d_mm": rng.choice([None, rng.randint(0, 20_000)]),
            "fill": rng.choice([None, round(rng.random(), 3)]),
        }
        optional = {
            "t_c": round(rng.uniform(-40, 150), 1),
            "bat_mv": rng.randint(0, 5000),
            "rssi": rng.randint(-127, 0),
            "fl": rng.randint(0, 0xFFFF),
            "drop": rng.randint(0, 1000),
        }
        body.update({k: v for k, v in optional.items() if rng.random() < 0.6})
        return body

    def topic(self, body: dict[str, Any]) -> str:
        return telemetry_topic(self.city, body["id"])

    def valid(self) -> Good:
        body = self.body()
        key = (body["id"], body["boot"], body["seq"], body["ts"])
        return Good(self.topic(body), wire(body), key)

    def make_bad(self, kind: str, payload: bytes, *reasons: Reason, topic: str = "") -> Bad:
        return Bad(
            kind, topic or telemetry_topic(self.city, self.devices[0]), payload, frozenset(reasons)
        )

    def random_bytes(self) -> Bad:
        payload = self.rng.randbytes(self.rng.randint(0, 300))
        # a few random bytes can be a JSON number ("7"): not an object, so invalid
        return self.make_bad("random-bytes", payload, Reason.NOT_JSON, Reason.INVALID)

    def truncated(self) -> Bad:
        body = self.body()
        whole = wire(body)
        cut = whole[: self.rng.randint(0, len(whole) - 1)]
        return self.make_bad("truncated", cut, Reason.NOT_JSON, topic=self.topic(body))

    def huge_number(self) -> Bad:
        body = self.body()
        key = self.rng.choice(["boot", "seq", "ts", "d_mm", "bat_mv", "drop", "fl"])
        token = self.rng.choice([str(10 ** self.rng.randint(12, 80)), "9" * 40, "1e400", "-1e308"])
        return self.make_bad(
            "huge-number", splice(body, key, token), Reason.INVALID, topic=self.topic(body)
        )

    def nan_or_infinity(self) -> Bad:
        body = self.body()
        key = self.rng.choice(["fill", "t_c", "seq", "d_mm"])
        token = self.rng.choice(["NaN", "Infinity", "-Infinity"])
        return self.make_bad(
            "nan-inf", splice(body, key, token), Reason.INVALID, topic=self.topic(body)
        )

    def string_for_number(self) -> Bad:
        # Non-numeric strings only: numeric ones ("42") are accepted in lax mode and then break
        # the sink (see test_lax_typed_reading_does_not_stop_the_sink).
        body = self.body()
        key = self.rng.choice(["boot", "seq", "ts", "d_mm", "fill", "t_c", "bat_mv"])
        body[key] = self.rng.choice(["abc", "", "full", "1,5", "twelve"])
        return self.make_bad(
            "string-for-number", wire(body), Reason.INVALID, topic=self.topic(body)
        )

    def missing_field(self) -> Bad:
        body = self.body()
        del body[self.rng.choice(["v", "boot", "seq", "ts", "d_mm", "fill"])]
        return self.make_bad("missing-field", wire(body), Reason.INVALID, topic=self.topic(body))

    def extra_field(self) -> Bad:
        body = self.body()
        body[self.rng.choice(["hum", "lat", "id2", "x"])] = self.rng.randint(0, 100)
        return self.make_bad("extra-field", wire(body), Reason.INVALID, topic=self.topic(body))

    def oversize(self) -> Bad:
        body = self.body()
        whole = wire(body)
        padded = whole[:-1] + b" " * self.rng.randint(MAX_PAYLOAD_BYTES, 4000) + b"}"
        return self.make_bad("oversize", padded, Reason.OVERSIZE, topic=self.topic(body))

    def unknown_version(self) -> Bad:
        body = self.body() | {"v": self.rng.choice([0, 2, 3, 99])}
        return self.make_bad(
            "unknown-version", wire(body), Reason.UNKNOWN_VERSION, topic=self.topic(body)
        )

    def other_device(self) -> Bad:
        body = self.body()
        topic_device = self.rng.choice([d for d in self.devices if d != body["id"]])
        return self.make_bad(
            "other-device",
            wire(body),
            Reason.DEVICE_MISMATCH,
            topic=telemetry_topic(self.city, topic_device),
        )

    def bad_topic(self) -> Bad:
        body = self.body()
        level = self.rng.choice([body["id"].upper(), body["id"].replace("-", "_"), "x"])
        topic = f"ww/{self.city}/bins/{level}/telemetry"  # still matches the bridge's filter
        return self.make_bad("bad-topic", wire(body), Reason.BAD_TOPIC, topic=topic)

    def future_timestamp(self) -> Bad:
        body = self.body()
        body["ts"] = self.now + MAX_FUTURE_S + self.rng.randint(600, 10**6)
        return self.make_bad(
            "future-ts", wire(body), Reason.FUTURE_TIMESTAMP, topic=self.topic(body)
        )

    def not_an_object(self) -> Bad:
        body = self.body()
        payload = self.rng.choice([wire([body]), b"42", b'"full"', b"null", b"true"])
        return self.make_bad("not-an-object", payload, Reason.INVALID, topic=self.topic(body))

    def bad_status(self) -> Bad:
        device = self.rng.choice(self.devices)
        payload = wire({"state": self.rng.choice(["asleep", "ONLINE", ""])})
        return self.make_bad(
            "bad-status", payload, Reason.INVALID, topic=status_topic(self.city, device)
        )


def dlq_records_of(city: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    def keep(record: ConsumerRecord[bytes, bytes]) -> bool:
        return record.value is not None and f'"ww/{city}/'.encode() in record.value

    return keep


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bad_input_goes_to_the_dlq_and_good_input_to_the_database(
    settings: Settings, stack_env: StackEnv
) -> None:
    async with pipeline(settings, stack_env) as p:
        corpus = Corpus(p.city, p.tag, n_good=150, n_bad=150)
        # one more oversize message, just under Mosquitto's max_packet_size
        big = corpus.make_bad("60-kB", random.Random(SEED).randbytes(60 * 1024), Reason.OVERSIZE)
        messages = corpus.shuffled()
        half = len(messages) // 2
        messages[half:half] = [big]
        bad = [m for m in messages if isinstance(m, Bad)]
        good = [m for m in messages if isinstance(m, Good)]

        publisher = Publisher(stack_env.mqtt_port, f"ww-test-dev-{p.tag}")
        try:
            await asyncio.to_thread(
                publisher.publish_all, [(m.topic, m.payload) for m in messages[:half]]
            )
            # A 1 MB message, from a throwaway client: when the broker's max_packet_size
            # is below it (wastewatch/workbench/stack/mosquitto.py has set 65536 and 2 MiB),
            # Mosquitto
            # disconnects the sender ("Packet too large") and the bridge never sees it;
            # otherwise it must become a truncated oversize dead letter.  Either way the
            # bridge must carry on with everything published after it.
            huge = await asyncio.to_thread(publish_one_megabyte, stack_env.mqtt_port, p)
            if huge is not None:
                bad.append(huge)
            await asyncio.to_thread(
                publisher.publish_all, [(m.topic, m.payload) for m in messages[half:]]
            )
        finally:
            publisher.close()

        rows = await wait_for_readings(p.settings, p.tag, len(good))
        expected = Counter(m.key for m in good)
        assert Counter(rows) == expected, (
            f"{len(rows)} rows for {len(good)} valid readings; "
            f"missing {sorted((expected - Counter(rows)).elements())[:5]}, "
            f"extra {sorted((Counter(rows) - expected).elements())[:5]}"
        )

        letters_raw = await consume_until(
            p.settings,
            p.settings.kafka.topic_prefix + DLQ,
            dlq_records_of(p.city),
            lambda kept: len(kept) >= len(bad),
        )
        letters = [DeadLetter.model_validate_json(r.value) for r in letters_raw if r.value]
        assert len(letters) == len(bad), f"{len(letters)} dead letters for {len(bad)} bad messages"
        by_message = {(m.topic, m.payload[:MAX_DLQ_PAYLOAD_BYTES]): m for m in bad}
        got = Counter((letter.source_topic, letter.original_bytes) for letter in letters)
        sent_keys = Counter((m.topic, m.payload[:MAX_DLQ_PAYLOAD_BYTES]) for m in bad)
        assert got == sent_keys, (
            f"dead letters without a bad message: {len(got - sent_keys)}, "
            f"bad messages without a dead letter: {len(sent_keys - got)}"
        )
        for letter in letters:
            sent = by_message[(letter.source_topic, letter.original_bytes)]
            assert letter.reason in sent.reasons, (
                f"{sent.kind} {sent.payload[:80]!r}: reason {letter.reason}, "
                f"expected one of {sorted(sent.reasons)} ({letter.detail})"
            )
            assert letter.payload_size == len(sent.payload)
            assert letter.truncated is (len(sent.payload) > MAX_DLQ_PAYLOAD_BYTES)
        sizes = {letter.payload_size for letter in letters if letter.reason is Reason.OVERSIZE}
        assert 60 * 1024 in sizes
        assert (1 << 20 in sizes) is (huge is not None)

        assert received(p.bridge, READINGS) == len(good)
        assert received(p.bridge, "invalid") == len(bad)
        assert p.bridge.health()["status"] == "ok", p.bridge.health()
        assert p.bridge.health()["in_flight"] == 0, p.bridge.health()
        assert p.sink.health()["status"] == "ok", p.sink.health()


def publish_one_megabyte(port: int, p: Pipeline) -> Bad | None:
    """Publish 1 MiB; the message the DLQ must hold, or None when the broker refused it."""
    topic = telemetry_topic(p.city, f"{p.tag}-bin-00")
    payload = random.Random(SEED).randbytes(1 << 20)
    victim = Publisher(port, f"ww-test-huge-{p.tag}")
    try:
        limit = victim.max_packet_size
        info = victim.client.publish(topic, payload, qos=1)
        if limit is not None and limit < len(payload):
            assert victim.disconnected.wait(10), f"broker (max_packet_size {limit}) took 1 MiB"
            assert not info.is_published()
            return None
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"no PUBACK for 1 MiB ({victim.disconnect_reason})"
        return Bad("1-MiB", topic, payload, frozenset({Reason.OVERSIZE}))
    finally:
        victim.client.loop_stop()  # paho would re-send a refused message on every reconnect
        if not victim.disconnected.is_set():
            victim.client.disconnect()


@pytest.mark.asyncio
async def test_reconnecting_publisher_resending_readings_makes_no_duplicate_rows(
    settings: Settings, stack_env: StackEnv
) -> None:
    n = 40
    async with pipeline(settings, stack_env) as p:
        corpus = Corpus(p.city, p.tag, n_good=n, n_bad=0)
        messages = [(m.topic, m.payload) for m in corpus.good]
        client_id = f"ww-test-dup-{p.tag}"

        first = Publisher(stack_env.mqtt_port, client_id, session_expiry_s=60)
        await asyncio.to_thread(first.publish_all, messages)
        first.drop()  # no DISCONNECT: the device lost power right after

        again = Publisher(stack_env.mqtt_port, client_id, session_expiry_s=60)
        try:
            assert again.session_present, "the broker should have kept the device's session"
            await asyncio.to_thread(again.publish_all, messages)
        finally:
            again.close()

        # both copies went through the bridge and Kafka: the sink removes the duplicates
        records = await consume_until(
            p.settings,
            p.settings.kafka.topic_prefix + READINGS,
            lambda r: r.key is not None and r.key.startswith(p.tag.encode()),
            lambda kept: len(kept) >= 2 * n,
        )
        assert len(records) == 2 * n, f"{len(records)} records in Kafka for 2 x {n} publishes"
        rows = await wait_for_readings(p.settings, p.tag, n)
        await asyncio.sleep(1.0)  # give a wrongly inserted duplicate the chance to show up
        rows = await stored_readings(p.settings, p.tag)
        assert sorted(rows) == sorted(m.key for m in corpus.good), f"{len(rows)} rows for {n}"
        skipped = p.sink.metrics.registry.get_sample_value("ww_sink_duplicates_skipped_total")
        assert (skipped or 0) >= n, f"the sink skipped {skipped} duplicates, expected >= {n}"
        assert p.bridge.health()["status"] == "ok"


@pytest.mark.asyncio
async def test_lax_typed_reading_does_not_stop_the_sink(
    settings: Settings, stack_env: StackEnv, own_topics: KafkaSettings
) -> None:
    # Topics of its own: a poison record in the session's readings topic would be replayed
    # by every later sink of the session (each test's sink group starts from the earliest).
    test_settings, city, tag = isolated(settings, topic_prefix=own_topics.topic_prefix)
    device = f"{tag}-bin-00"
    now = int(time.time())

    def reading(seq: Any) -> bytes:
        return wire(
            {"v": 1, "id": device, "boot": 1, "seq": seq, "ts": now, "d_mm": 5, "fill": 0.5}
        )

    sink = Sink(test_settings)
    await sink.start()
    try:
        async with Bridge(test_settings) as bridge:
            p = Pipeline(test_settings, bridge, sink, city, tag)
            await wait_until_subscribed(p, stack_env)
            publisher = Publisher(stack_env.mqtt_port, f"ww-test-lax-{tag}")
            try:
                topic = telemetry_topic(city, device)
                await asyncio.to_thread(
                    publisher.publish_all,
                    [(topic, reading(1)), (topic, reading("2")), (topic, reading(3))],
                )
            finally:
                publisher.close()
            deadline = time.monotonic() + WAIT_S
            rows = await stored_readings(test_settings, tag)
            while len(rows) < 2 and sink.health()["running"] and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                rows = await stored_readings(test_settings, tag)
            assert sink.health()["running"], "the sink loop died on a reading the bridge accepted"
            assert {r[2] for r in rows} >= {1, 3}, rows
    finally:
        await sink.stop()


@pytest.mark.asyncio
async def test_poison_records_in_kafka_go_to_the_dlq(
    settings: Settings, own_topics: KafkaSettings
) -> None:
    """Records nobody validated (produced to the topics by something other than the
    bridge) are dead-lettered by the sink, which keeps storing the good ones."""
    prefix = own_topics.topic_prefix
    test_settings, _city, tag = isolated(settings, topic_prefix=prefix)
    device = f"{tag}-bin-00"
    now = int(time.time())
    good = wire({"v": 1, "id": device, "boot": 1, "seq": 7, "ts": now, "d_mm": 5, "fill": 0.5})
    poison = [
        (
            READINGS,
            wire({"v": 1, "id": device, "boot": 1, "seq": "8", "ts": now, "d_mm": 5, "fill": 0.5}),
        ),
        (READINGS, b"\xff\xfe not json"),
        ("waste.status.v1", b'["offline"]'),
        ("waste.status.v1", b"null"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=test_settings.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for topic, value in poison:
            await producer.send_and_wait(
                prefix + topic, value, key=device.encode(), headers=[("received_at_ms", b"9" * 400)]
            )
        await producer.send_and_wait(prefix + READINGS, good, key=device.encode())
    finally:
        await producer.stop()
    async with Sink(test_settings) as sink:
        rows = await wait_for_readings(test_settings, tag, 1)
        assert [r[2] for r in rows] == [7]
        letters = await consume_until(
            test_settings,
            prefix + "waste.dlq.v1",
            lambda r: True,
            lambda kept: len(kept) >= len(poison),
        )
        assert sink.health()["running"]
    decoded = [DeadLetter.model_validate_json(r.value) for r in letters]
    assert sorted(d.original_bytes for d in decoded) == sorted(v for _, v in poison)
    assert all(d.source_topic.startswith("kafka:") for d in decoded)
    assert all(d.reason == DeadLetterReason.INVALID for d in decoded)
