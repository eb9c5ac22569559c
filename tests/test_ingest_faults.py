"""Fault tests: real bridge and sink processes, real services, faults injected mid-stream.

While a publisher sends a known set of readings at a steady rate, one fault
happens; afterwards every reading whose publish got a PUBACK must be in
TimescaleDB exactly once.  Each test uses its own city (MQTT topics), Kafka
topic prefix and consumer group, so nothing leaks between tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import SessionDb, StackEnv
from tests.mqtt_login import login
from wastewatch.settings import KafkaSettings, load_settings
from wastewatch.stack.manager import Stack
from wastewatch.stack.process import read_pid

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


class ServiceProcess:
    """`python -m ingest.bridge|sink` as a child process with its own log file."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module = module
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return -9


@dataclass
class Pipeline:
    city: str
    bridge: ServiceProcess
    sink: ServiceProcess
    db: SessionDb
    mqtt_port: int
    logs: list[Path] = field(default_factory=list)

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())


@pytest.fixture
def pipeline(
    request: pytest.FixtureRequest,
    stack_env: StackEnv,
    test_db: SessionDb,
    own_topics: KafkaSettings,
    tmp_path: Path,
) -> Iterator[Pipeline]:
    """Bridge and sink as processes; a test may add settings with indirect parametrize."""
    tag = uuid.uuid4().hex[:8]
    kafka = own_topics
    env = {
        **os.environ,
        "WW_CITY": f"fault-{tag}",
        "WW_MQTT_URL": stack_env.mqtt_url,
        "WW_MQTT_BRIDGE_URL": stack_env.mqtt_bridge_url,
        "WW_MQTT_CLIENT_ID": f"bridge-{tag}",
        "WW_KAFKA_BOOTSTRAP": stack_env.kafka_bootstrap,
        "WW_KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "WW_KAFKA_REQUEST_TIMEOUT_MS": "4000",
        "WW_DB_DSN": test_db.dsn,
        "WW_DB_WRITER_DSN": test_db.writer_dsn,
        "WW_DB_READER_DSN": test_db.reader_dsn,
        "WW_DB_INGEST_DSN": test_db.ingest_dsn,
        "WW_DB_PROCESSOR_DSN": test_db.processor_dsn,
        "WW_INGEST_SINK_GROUP": f"sink-{tag}",
        "WW_INGEST_BRIDGE_METRICS_PORT": "0",
        "WW_INGEST_SINK_METRICS_PORT": "0",
        "WW_INGEST_SINK_RETRY_MAX_S": "1",
        "WW_LOG_LEVEL": "INFO",
        **getattr(request, "param", {}),
    }
    logs = [tmp_path / "bridge.log", tmp_path / "sink.log"]
    p = Pipeline(
        city=env["WW_CITY"],
        bridge=ServiceProcess("ingest.bridge", env, logs[0]),
        sink=ServiceProcess("ingest.sink", env, logs[1]),
        db=test_db,
        mqtt_port=stack_env.mqtt_port,
        logs=logs,
    )
    p.sink.start()
    p.bridge.start()
    _wait_until_flowing(p)
    yield p
    assert p.bridge.terminate() == 0, p.tails()
    assert p.sink.terminate() == 0, p.tails()


class Publisher:
    """Publishes `count` readings at `rate` per second from a thread; remembers PUBACKs."""

    def __init__(self, p: Pipeline, *, count: int, rate: float, prefix: str) -> None:
        self.p = p
        self.count = count
        self.rate = rate
        self.prefix = prefix
        self.sent: list[tuple[tuple[str, int], mqtt.MQTTMessageInfo]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}"
        )
        login(self.client)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.2, 2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.progress = 0

    def __enter__(self) -> Publisher:
        self.client.connect("127.0.0.1", self.p.mqtt_port)
        self.client.loop_start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(120)
        self.client.loop_stop()
        self.client.disconnect()

    def _run(self) -> None:
        start = time.monotonic()
        ts = int(time.time())
        for i in range(self.count):
            due = start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            device = f"{self.prefix}-{i % 20:02d}"
            seq = i // 20
            payload = json.dumps(
                {
                    "v": 1,
                    "id": device,
                    "boot": 1,
                    "seq": seq,
                    "ts": ts,
                    "d_mm": 600,
                    "fill": 0.4,
                    "fl": 0,
                    "drop": 0,
                }
            ).encode()
            info = self.client.publish(f"ww/{self.p.city}/bins/{device}/telemetry", payload, qos=1)
            self.sent.append(((device, seq), info))
            self.progress = i + 1

    def wait_progress(self, fraction: float) -> None:
        deadline = time.monotonic() + 60
        while self.progress < self.count * fraction:
            assert time.monotonic() < deadline, "publisher stalled"
            time.sleep(0.05)

    def acked(self) -> set[tuple[str, int]]:
        """Readings whose PUBACK arrived (a publish refused while disconnected never will)."""
        live = [(key, info) for key, info in self.sent if info.rc == mqtt.MQTT_ERR_SUCCESS]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(i.is_published() for _, i in live):
            time.sleep(0.1)
        return {key for key, info in live if info.is_published()}


def _rows(p: Pipeline, prefix: str) -> tuple[int, set[tuple[str, int]]]:
    with psycopg.connect(p.db.dsn) as conn:
        rows = conn.execute(
            "select device_id, seq from readings where device_id like %s", [prefix + "-%"]
        ).fetchall()
    return len(rows), {(d, s) for d, s in rows}


def _wait_until_flowing(p: Pipeline) -> None:
    """A warm-up reading goes through: bridge subscribed, sink in its group, topics ready."""
    prefix = f"warm{uuid.uuid4().hex[:4]}"
    deadline = time.monotonic() + 60
    while _rows(p, prefix)[0] < 1:
        assert time.monotonic() < deadline, "warm-up reading never arrived\n" + p.tails()
        # The same reading each time: re-sends are deduplicated, so only arrival matters.
        with Publisher(p, count=1, rate=100, prefix=prefix):
            pass
        time.sleep(1.0)


def _run_with_fault(
    p: Pipeline, fault: Callable[[], None], *, count: int = 2000, rate: float = 250
) -> None:
    prefix = f"dev{uuid.uuid4().hex[:6]}"
    with Publisher(p, count=count, rate=rate, prefix=prefix) as pub:
        pub.wait_progress(0.3)
        fault()
    acked = pub.acked()
    assert len(acked) >= count * 0.5, "too few PUBACKs: the fault stopped the publisher"
    deadline = time.monotonic() + 90
    total, stored = _rows(p, prefix)
    while not acked <= stored:
        assert time.monotonic() < deadline, (
            f"{len(acked - stored)} acked readings missing after the fault\n" + p.tails()
        )
        time.sleep(0.5)
        total, stored = _rows(p, prefix)
    time.sleep(1.0)  # let any straggling duplicate land before counting
    total, stored = _rows(p, prefix)
    assert total == len(stored), f"{total - len(stored)} duplicate rows"
    assert acked <= stored


def test_bridge_killed_and_restarted(pipeline: Pipeline) -> None:
    def fault() -> None:
        pipeline.bridge.kill9()
        time.sleep(1.0)
        pipeline.bridge.start()

    _run_with_fault(pipeline, fault)


def test_sink_killed_and_restarted(pipeline: Pipeline) -> None:
    def fault() -> None:
        pipeline.sink.kill9()
        time.sleep(1.0)
        pipeline.sink.start()

    _run_with_fault(pipeline, fault)


def test_postgres_stopped_and_started(pipeline: Pipeline) -> None:
    stack = Stack(load_settings())

    def fault() -> None:
        assert stack.postgres.stop()
        time.sleep(2.0)
        stack.postgres.start()

    _run_with_fault(pipeline, fault)


def test_mosquitto_restarted_with_persistence(pipeline: Pipeline) -> None:
    stack = Stack(load_settings())

    def fault() -> None:
        assert stack.mosquitto.stop()
        time.sleep(0.5)
        stack.mosquitto.start()

    _run_with_fault(pipeline, fault)


def test_kafka_stalled_then_resumed(pipeline: Pipeline) -> None:
    """The broker freezes for longer than the request timeout: sends fail, intake pauses,
    the failed records are re-sent in order, nothing is lost."""
    stack = Stack(load_settings())
    pid = read_pid(stack.kafka.pid_file)
    assert pid is not None

    def fault() -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(6.0)  # WW_KAFKA_REQUEST_TIMEOUT_MS is 4000 in this pipeline
        finally:
            os.kill(pid, signal.SIGCONT)

    _run_with_fault(pipeline, fault)


@pytest.mark.parametrize(
    "pipeline",
    [{"WW_INGEST_RECEIVE_MAXIMUM": "2000", "WW_INGEST_HANDOFF_MAX": "100"}],
    indirect=True,
)
def test_bridge_restart_drains_a_backlog_larger_than_its_buffers(pipeline: Pipeline) -> None:
    """kill -9 of the bridge under load, then 6,000 readings queue in its MQTT session.

    On reconnect the broker sends up to Receive Maximum (2,000) messages before the
    SUBACK: 20 times what the bridge's hand-off holds here (100), as a backlog larger
    than its buffers does in the field (Mosquitto 2.0.11 was seen sending 8,000 before a
    SUBACK).  The bridge must drain them while it waits for the SUBACK, stay up, and
    store every reading once."""
    p = pipeline
    prefix = f"blog{uuid.uuid4().hex[:6]}"
    with Publisher(p, count=6000, rate=3000, prefix=prefix) as pub:
        pub.wait_progress(0.2)
        p.bridge.kill9()
    acked = pub.acked()
    assert len(acked) == 6000, "Mosquitto should queue every reading for the bridge's session"
    restarted = time.monotonic()
    p.bridge.start()
    deadline = restarted + 60
    total, stored = _rows(p, prefix)
    while not acked <= stored:
        assert p.bridge.proc is not None
        assert p.bridge.proc.poll() is None, "the bridge exited under the backlog\n" + p.tails()
        assert time.monotonic() < deadline, (
            f"{len(acked - stored)} of 6000 queued readings not stored 60 s after the restart\n"
            + p.tails()
        )
        time.sleep(0.5)
        total, stored = _rows(p, prefix)
    assert total == len(stored) == 6000
