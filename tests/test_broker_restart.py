"""Every long-running publisher survives a broker restart, and what it got a PUBACK for
arrives (issue 17, item 3).

The integration tests run against a private Mosquitto of this module's own (its own
state dir under pytest's tmp folder and free ports, started by the same
``MosquittoService`` as ``wastewatch services up``), so the session's shared broker
is not disturbed. While each kind of publisher works, the broker is restarted twice:
stopped and started (SIGTERM: it saves its persistence file, the watcher's session
and queue included), then killed with ``kill -9`` and started (it comes back from
that save). Every publisher must finish without error with every message
acknowledged (those in flight re-sent after each reconnect). A watcher with a
persistent session (QoS 1, clean session off, re-subscribing on every connect)
checks what arrived, per topic (one device each) in publish order:

* each topic's messages first arrive in the order they were published;
* every acknowledged message arrives, with one exception Mosquitto itself makes:
  ``kill -9`` loses what the broker had acknowledged but held only in memory,
  not yet written to the watcher (seen: up to ~60 messages of the last 10 ms; a
  save happens only every ``autosave_interval``, 30 s, and on a clean stop). Such
  a loss may only sit in the seam of the kill: after everything the watcher got
  from the killed broker and before everything it got from the new one, per
  topic. The stop + start must lose nothing at all.

The unit tests drive :class:`wastewatch.workbench.simulators.publish.Sender` with a fake paho
client:
re-sending in order after a lost connection, counting each PUBACK once, back-off,
giving up, a deliberate cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode

from tests.conftest import SessionDb, StackEnv, free_port_block
from tests.pipeline_faults import pipeline_env, run_with_fault, running_pipeline
from wastewatch.core.settings import KafkaSettings, Settings, StackSettings, load_settings
from wastewatch.security.accounts import BRIDGE, SIM
from wastewatch.workbench.bench.mqtt_load import PublisherPool as BenchPool
from wastewatch.workbench.bench.mqtt_load import PublishJob, RawSubscriber
from wastewatch.workbench.bench.payloads import device_id
from wastewatch.workbench.simulators.build import build_simulation
from wastewatch.workbench.simulators.errors import BrokerUnreachableError, LoginRefusedError
from wastewatch.workbench.simulators.faults import FaultRates
from wastewatch.workbench.simulators.publish import (
    Backoff,
    MqttTarget,
    PublisherPool,
    Sender,
    new_client,
)
from wastewatch.workbench.simulators.run import LiveOptions, run_live
from wastewatch.workbench.stack.mosquitto import MosquittoService
from wastewatch.workbench.stack.process import is_alive, read_pid

# --------------------------------------------------------------------------- the broker


@dataclass
class Broker:
    """The private Mosquitto and how to restart it."""

    service: MosquittoService
    target: MqttTarget

    def stop_and_start(self) -> None:
        assert self.service.stop()
        self.service.start()

    def kill_and_start(self) -> None:
        pid = read_pid(self.service.pid_file)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while is_alive(pid, "mosquitto"):  # a zombie counts as dead
            assert time.monotonic() < deadline, "mosquitto survived kill -9"
            time.sleep(0.02)
        with contextlib.suppress(ChildProcessError):  # it is our child: reap it
            os.waitpid(pid, os.WNOHANG)
        self.service.start()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, stack_env: StackEnv) -> Iterator[Broker]:
    """A private Mosquitto on free loopback ports, stopped and its files removed at the end.

    ``stack_env`` only orders this after the session's install (packages, guard plugins).
    """
    port = free_port_block(2)
    state = tmp_path_factory.mktemp("restart-broker")
    # The session stack's service passwords, so tests.pipeline_faults' publisher (which
    # logs in with the session's ww-sim account) and a bridge can use this broker too.
    secrets = load_settings().state_dir.resolve() / "secrets" / "mqtt.json"
    (state / "secrets").mkdir(mode=0o700)
    shutil.copy(secrets, state / "secrets" / "mqtt.json")
    settings = Settings(
        state_dir=state, stack=StackSettings(mqtt_port=port, mqtt_tls_port=port + 1)
    )
    service = MosquittoService(settings)
    service.install()
    service.start()
    try:
        yield Broker(service, MqttTarget.from_url(service.url(SIM)))
    finally:
        service.stop()
        for entry in state.iterdir():  # a /var/lib fallback the service dir linked to
            if entry.is_symlink():
                shutil.rmtree(entry.resolve().parent, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


class Restarts:
    """Restarts the broker from a thread at the given seconds after ``start()``: first
    stop + start, then kill -9 + start. Notes the watcher's connection at the kill."""

    def __init__(self, broker: Broker, watcher: Watcher, at_s: tuple[float, float]) -> None:
        self.broker = broker
        self.watcher = watcher
        self.at_s = at_s
        self.done: list[str] = []
        self.killed_connection = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="broker-restarts", daemon=True)

    def start(self) -> Restarts:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            time.sleep(max(0.0, self._t0 + self.at_s[0] - time.monotonic()))
            self.broker.stop_and_start()
            self.done.append("stop+start")
            time.sleep(max(0.0, self._t0 + self.at_s[1] - time.monotonic()))
            self.killed_connection = self.watcher.connects
            self.broker.kill_and_start()
            self.done.append("kill -9+start")
        except BaseException as exc:
            self.error = exc

    def join(self) -> None:
        self._thread.join(60)
        assert self.error is None, f"restarting the broker failed: {self.error!r}"
        assert self.done == ["stop+start", "kill -9+start"]


class Watcher:
    """A subscriber with a persistent session in paho's own thread: QoS 1, clean session
    off, re-subscribes on every connect (a killed broker may come back from a save
    without the subscription), reconnects by itself. Records each arrival with the
    number of the connection it came on."""

    def __init__(self, target: MqttTarget, topic_filter: str) -> None:
        self.topic_filter = topic_filter
        self.target = target
        self.arrivals: list[tuple[str, bytes, int]] = []
        self.connects = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = new_client(
            target,
            f"watch-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            on_message=self._on_message,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=1)

    def _on_connect(self, c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if not rc.is_failure:
            self.connects += 1
            c.subscribe(self.topic_filter, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.arrivals.append((msg.topic, bytes(msg.payload), self.connects))

    def __enter__(self) -> Watcher:
        self.client.connect(self.target.host, self.target.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the watcher got no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def received(self, ident: Callable[[bytes], Hashable] = bytes) -> set[tuple[str, Hashable]]:
        with self._lock:
            return {(t, ident(p)) for t, p, _ in self.arrivals}

    def check(
        self,
        published: list[tuple[str, Hashable]],
        killed_connection: int,
        ident: Callable[[bytes], Hashable] = bytes,
        timeout_s: float = 30.0,
    ) -> int:
        """The checks of the module docstring for the messages ``published`` (all of them
        acknowledged), as (topic, ``ident(payload)``) in publish order; returns how many
        the kill -9 lost."""
        wanted = set(published)
        deadline = time.monotonic() + timeout_s
        settled_at, size = time.monotonic(), -1
        while not wanted <= self.received(ident) and time.monotonic() < deadline:
            if len(self.arrivals) != size:
                settled_at, size = time.monotonic(), len(self.arrivals)
            elif time.monotonic() - settled_at > 3.0:
                break  # nothing more is coming
            time.sleep(0.2)
        index: dict[tuple[str, Hashable], int] = {}
        per_topic: dict[str, int] = {}
        for topic, payload in published:
            if (topic, payload) not in index:
                index[(topic, payload)] = per_topic.get(topic, 0)
                per_topic[topic] = index[(topic, payload)] + 1
        with self._lock:
            arrivals = list(self.arrivals)
        first: dict[tuple[str, Hashable], int] = {}
        last_seq: dict[str, int] = {}
        before_kill: dict[str, int] = {}
        after_kill: dict[str, int] = {}
        for topic, payload, connection in arrivals:
            key = (topic, ident(payload))
            if key in first or key not in index:
                continue
            first[key] = connection
            seq = index[key]
            assert seq > last_seq.get(topic, -1), (
                f"{topic}: message {seq} first arrived after message {last_seq[topic]}"
            )
            last_seq[topic] = seq
            if connection <= killed_connection:
                before_kill[topic] = max(before_kill.get(topic, -1), seq)
            else:
                after_kill[topic] = min(after_kill.get(topic, 1 << 62), seq)
        lost = [key for key in index if key not in first]
        for topic, what in lost:
            seq = index[(topic, what)]
            assert before_kill.get(topic, -1) < seq < after_kill.get(topic, 1 << 62), (
                f"{topic}: message {seq} ({what!r}) was acknowledged and never arrived, and "
                "not in the seam of the kill -9: it was lost by a stop + start or a reconnect"
            )
        assert len(lost) <= len(wanted) // 50, f"{len(lost)} of {len(wanted)} lost at the kill"
        return len(lost)


def _reading_key(payload: bytes) -> tuple[str, int]:
    body = json.loads(payload)
    return str(body["id"]), int(body["seq"])


# --------------------------------------------------------------------------- integration


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_replay_publisher_pool_survives_broker_restarts(broker: Broker) -> None:
    """(a) The simulator's replay workers: ~6,000 messages over ~6 s from 2 processes."""
    root = f"ww/rst{uuid.uuid4().hex[:6]}/bins"
    devices, rounds = 40, 150
    messages = [
        (0, f"{root}/d{d:02d}/telemetry", b'{"id":"d%02d","seq":%d}' % (d, s), False, d)
        for s in range(rounds)
        for d in range(devices)
    ]
    with Watcher(broker.target, f"{root}/#") as watcher:
        pool = PublisherPool(broker.target, f"rst-{uuid.uuid4().hex[:6]}", 2, batch=50)
        try:
            pool.start()
            restarts = Restarts(broker, watcher, at_s=(1.5, 3.8)).start()
            step = len(messages) // 60
            started = time.monotonic()
            for i in range(0, len(messages), step):  # 60 slices, one per 0.1 s
                pool.send(messages[i : i + step])
                pool.poll()
                time.sleep(max(0.0, started + (i // step + 1) * 0.1 - time.monotonic()))
            restarts.join()
            published, acked = pool.finish(timeout_s=60)
        finally:
            pool.close()
        assert published == acked == len(messages)
        assert pool.reconnects == 4, "each worker reconnects after each restart"
        watcher.check([(t, p) for _, t, p, _, _ in messages], restarts.killed_connection)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_bench_publisher_processes_survive_broker_restarts(broker: Broker) -> None:
    """(b) The benchmarks' publisher processes (a paced job of 6,000 readings in ~6 s) and
    the raw leg's subscriber, which keeps a persistent session and counts on."""
    run = uuid.uuid4().hex[:6]
    root = f"wwbench/{run}/raw"
    devices, count = 30, 6000
    with Watcher(broker.target, f"{root}/#") as watcher:
        raw = RawSubscriber(broker.target, f"rst-{run}-raw", f"{root}/#", 5.0).start()
        pool = BenchPool(broker.target, f"rst-{run}", 2).start()
        try:
            job = PublishJob(
                topic_format=root + "/{device}/telemetry",
                device_prefix="rst-dev-",
                devices=devices,
                messages=count,
                seq_base=0,
                start_at=time.time() + 0.3,
                rate_per_s=1000,
            )
            restarts = Restarts(broker, watcher, at_s=(1.8, 4.0)).start()
            results = pool.run(job, timeout_s=90)
            restarts.join()
            published = sorted(k for r in results for k in r.published_ks())
            acked = sorted(k for r in results for k in r.acked_ks())
            seen = raw.result(len(acked), timeout_s=60)
        finally:
            pool.close()
            raw.close()
        assert published == list(range(count))
        assert acked == published, "every reading acked, each once"
        assert all(r.unacked_after_timeout == 0 for r in results)
        assert seen.received >= count  # re-deliveries may count twice
        assert seen.reconnects == 2
        in_order = [
            (
                job.topic_format.format(device=device_id("rst-dev-", k % devices)),
                (device_id("rst-dev-", k % devices), k // devices),
            )
            for k in acked
        ]
        watcher.check(in_order, restarts.killed_connection, ident=_reading_key)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_live_clients_and_pool_survive_broker_restarts(broker: Broker) -> None:
    """(c) Live mode as the demo fleet runs it: 5 devices on connections of their own
    (with last wills) and 2 shared pool connections, 10 s at 2 event hours per second."""
    city = f"rst{uuid.uuid4().hex[:6]}"
    start = 1_767_225_600  # 2026-01-01T00:00Z
    sim = build_simulation(
        city,
        seed=7,
        start=start,
        bins=40,
        # No fault episodes: no deliberate cuts, so every message must get its PUBACK.
        faults=replace(FaultRates().scaled(0.0), duplicate_per_reconnect=0.0),
    )
    emitted: list[tuple[str, bytes]] = []
    advance = sim.advance

    def recording_advance(until: int) -> Any:
        batch = advance(until)
        emitted.extend((topic, payload) for _, topic, payload, _, _ in batch)
        return batch

    sim.advance = recording_advance  # type: ignore[method-assign]
    with Watcher(broker.target, f"ww/{city}/#") as watcher:
        restarts = Restarts(broker, watcher, at_s=(2.5, 5.5)).start()
        result = run_live(
            sim,
            broker.target,
            LiveOptions(
                speed=7200, real_clients=5, pool_connections=2, duration_s=10, client_prefix=city
            ),
            lambda _line: None,
        )
        restarts.join()
        assert result["messages"] == len(emitted) > 500
        assert result["published"] == result["acked"] == len(emitted)
        assert result["reconnects"] == 2 * 7  # every connection, after each restart
        watcher.check(emitted, restarts.killed_connection)


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_bridge_loses_nothing_over_a_broker_restart_and_logs_it_in_one_line_each(
    broker: Broker,
    stack_env: StackEnv,
    test_db: SessionDb,
    own_topics: KafkaSettings,
    tmp_path: Path,
) -> None:
    """The ingest bridge (a process, persistent session) under steady load while the
    private broker is stopped and started: every acknowledged reading is stored once
    (the rule of tests/pipeline_faults.py), the bridge stays up, and its log has one
    line for the loss and one for the reconnect."""
    env = pipeline_env(
        stack_env,
        test_db,
        kafka_bootstrap=stack_env.kafka_bootstrap,
        topic_prefix=own_topics.topic_prefix,
        extra={
            "WW_MQTT_URL": broker.service.url(SIM),
            "WW_MQTT_BRIDGE_URL": broker.service.url(BRIDGE),
        },
    )
    with running_pipeline(
        env, db=test_db, mqtt_port=broker.service.port, log_dir=tmp_path
    ) as pipeline:
        run_with_fault(pipeline, broker.stop_and_start)
        assert pipeline.bridge.alive()
    lines = (tmp_path / "bridge.log").read_text().splitlines()
    lost = [x for x in lines if "MQTT disconnected" in x and "Normal disconnection" not in x]
    connected = [line for line in lines if "MQTT connected" in line]
    assert len(lost) == 1, lost
    assert len(connected) == 2, connected
    assert "session present: True" in connected[1]


# --------------------------------------------------------------------------- unit (fake)


class _FakeInfo:
    def __init__(self, mid: int, rc: MQTTErrorCode) -> None:
        self.mid = mid
        self.rc = rc


class _FakeBroker:
    """Records what each connection published; acknowledges on request."""

    def __init__(self) -> None:
        self.connections: list[_FakeClient] = []
        self.refuse_next = 0
        self.refuse_with: type[Exception] = BrokerUnreachableError

    def connect(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        timeout_s: float = 15.0,
    ) -> mqtt.Client:
        if self.refuse_next:
            self.refuse_next -= 1
            raise self.refuse_with("fake broker is down")
        client = _FakeClient(will)
        self.connections.append(client)
        return client  # type: ignore[return-value]


class _FakeClient:
    """The part of paho's client a Sender uses; its socket is a socketpair end that is
    always readable, so ``select`` never waits."""

    def __init__(self, will: tuple[str, bytes] | None) -> None:
        self.will = will
        self.sent: list[tuple[int, str, bytes]] = []
        self.die_after: int | None = None
        self.alive = True
        self.ack_upto = 0  # acknowledge the first N publishes when read
        self._acked = 0
        self._mid = 0
        self.on_publish: Any = None
        self._sock, self._peer = socket.socketpair()
        self._peer.send(b"x")

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> _FakeInfo:
        self._mid = self._mid % 65535 + 1
        if not self.alive:
            return _FakeInfo(self._mid, MQTTErrorCode.MQTT_ERR_NO_CONN)
        self.sent.append((self._mid, topic, payload))
        if self.die_after is not None and len(self.sent) >= self.die_after:
            self.alive = False
            return _FakeInfo(self._mid, MQTTErrorCode.MQTT_ERR_CONN_LOST)
        return _FakeInfo(self._mid, MQTTErrorCode.MQTT_ERR_SUCCESS)

    def loop_read(self) -> MQTTErrorCode:
        if not self.alive:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        while self._acked < min(self.ack_upto, len(self.sent)):
            mid = self.sent[self._acked][0]
            self._acked += 1
            self.on_publish(self, None, mid, None, None)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_write(self) -> MQTTErrorCode:
        return MQTTErrorCode.MQTT_ERR_SUCCESS if self.alive else MQTTErrorCode.MQTT_ERR_CONN_LOST

    def loop_misc(self) -> MQTTErrorCode:
        return self.loop_write()

    def want_write(self) -> bool:
        return False

    def socket(self) -> socket.socket | None:
        return self._sock if self.alive else None

    def disconnect(self) -> MQTTErrorCode:
        self.alive = False
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_all(self) -> None:
        self.ack_upto = 1 << 30


_TARGET = MqttTarget("127.0.0.1", 1)
_FAST = Backoff(initial_s=0.001, max_s=0.004, give_up_s=1.0)


def _sender(fake: _FakeBroker, acks: list[Any], **kw: Any) -> Sender:
    return Sender(
        _TARGET,
        "unit",
        window=kw.pop("window", 50),
        backoff=kw.pop("backoff", _FAST),
        on_ack=acks.append,
        connector=fake.connect,
        **kw,
    ).start()


def test_unacknowledged_messages_are_resent_first_and_in_order_after_a_lost_connection() -> None:
    fake = _FakeBroker()
    acks: list[Any] = []
    sender = _sender(fake, acks)
    first = fake.connections[0]
    first.die_after = 12  # the 12th publish finds the connection gone
    first.ack_upto = 5  # the broker acknowledged 5 before that
    for i in range(10):
        sender.publish(f"t/{i % 3}", b"%d" % i, token=i)
    sender.service(0)  # reads the 5 PUBACKs
    assert acks == [0, 1, 2, 3, 4]
    fake.refuse_next = 3  # the broker is down for three attempts
    for i in range(10, 20):
        sender.publish(f"t/{i % 3}", b"%d" % i, token=i)
    assert len(fake.connections) == 2
    second = fake.connections[1]
    # Messages 5..11 had no PUBACK (11 found the connection gone): re-sent first, in order.
    assert [p for _, _, p in second.sent] == [b"%d" % i for i in range(5, 20)]
    second.ack_all()
    assert sender.drain(1.0)
    assert sorted(acks) == list(range(20)), "each message acknowledged once"
    assert acks[5:12] == list(range(5, 12))
    assert (sender.published, sender.acked, sender.reconnects) == (20, 20, 1)
    assert sender.resent == 7


def test_a_puback_from_a_connection_given_up_does_not_count_twice() -> None:
    fake = _FakeBroker()
    acks: list[Any] = []
    sender = _sender(fake, acks)
    first = fake.connections[0]
    sender.publish("t", b"a", token="a")
    first.alive = False
    sender.service(0)  # lost: reconnects and re-sends "a"
    first.alive = True
    first.ack_all()
    first.loop_read()  # a stale PUBACK of the old connection arrives late
    assert acks == []
    fake.connections[1].ack_all()
    assert sender.drain(1.0)
    assert acks == ["a"]
    assert sender.acked == 1


def test_backoff_doubles_to_its_cap() -> None:
    backoff = Backoff()
    assert [backoff.delay(i) for i in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert backoff.delay(1000) == 5.0


def test_reconnecting_gives_up_after_the_limit_with_a_clear_error() -> None:
    fake = _FakeBroker()
    sender = _sender(fake, [], backoff=Backoff(initial_s=0.01, max_s=0.02, give_up_s=0.2))
    sender.publish("t", b"a")
    fake.connections[0].alive = False
    fake.refuse_next = 10_000
    started = time.monotonic()
    with pytest.raises(BrokerUnreachableError) as err:
        sender.service(0)
    assert 0.2 <= time.monotonic() - started < 2.0
    assert "could not connect again" in str(err.value)
    assert "messages without a PUBACK: 1" in str(err.value)


def test_a_refused_login_is_not_retried() -> None:
    fake = _FakeBroker()
    sender = _sender(fake, [])
    fake.connections[0].alive = False
    fake.refuse_next, fake.refuse_with = 1, LoginRefusedError
    with pytest.raises(BrokerUnreachableError) as err:
        sender.service(0)
    assert isinstance(err.value.__cause__, LoginRefusedError)
    assert len(fake.connections) == 1


def test_a_cut_device_reconnects_at_its_next_message_with_its_will() -> None:
    fake = _FakeBroker()
    acks: list[Any] = []
    will = ("ww/c/bins/d/status", b'{"state":"offline"}')
    sender = _sender(fake, acks, will=will)
    sender.publish("t", b"before", token=1)
    sender.cut()
    sender.service(0.01)  # a cut sender waits, it does not reconnect
    assert len(fake.connections) == 1
    assert not sender.drain(0.01)
    sender.publish("t", b"after", token=2)
    second = fake.connections[1]
    assert second.will == will
    assert [p for _, _, p in second.sent] == [b"before", b"after"]
    second.ack_all()
    assert sender.drain(1.0)
    assert acks == [1, 2]
    assert sender.reconnects == 0  # a deliberate cut is not a lost connection


def test_a_full_window_waits_for_pubacks() -> None:
    fake = _FakeBroker()
    sender = _sender(fake, [], window=4, ack_timeout_s=0.05)
    for i in range(4):
        sender.publish("t", b"%d" % i)
    assert not sender.wait_for_room(0.02)  # no PUBACK: no room
    fake.connections[0].ack_upto = 2
    sender.publish("t", b"4")
    assert sender.in_flight == 3
