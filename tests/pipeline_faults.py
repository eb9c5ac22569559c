"""The machinery of the pipeline fault tests: real bridge and sink processes, a steady
publisher that remembers its PUBACKs, and the exactly-once check.

Shared by `test_ingest_faults.py` (faults of the bridge, sink, PostgreSQL, Mosquitto and
the session's Kafka broker) and `test_kafka_failover.py` (faults of private Kafka
clusters), so both judge a fault by the same rule: every reading whose publish got a
PUBACK is in TimescaleDB exactly once afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg

from tests.conftest import SessionDb, StackEnv
from tests.mqtt_login import local_client


class ServiceProcess:
    """`python -m wastewatch.ingest.bridge|sink` as a child process with its own log file."""

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

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
    bridge_metrics_port: int = 0

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())


def pipeline_env(
    stack_env: StackEnv,
    db: SessionDb,
    *,
    kafka_bootstrap: str,
    topic_prefix: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """WW_* settings of one fault test's bridge and sink: its own city, MQTT client id and
    consumer group; ``extra`` overrides (a test's receive maximum, metrics port, ...)."""
    tag = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "WW_CITY": f"fault-{tag}",
        "WW_MQTT_URL": stack_env.mqtt_url,
        "WW_MQTT_BRIDGE_URL": stack_env.mqtt_bridge_url,
        "WW_MQTT_CLIENT_ID": f"bridge-{tag}",
        "WW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WW_KAFKA_TOPIC_PREFIX": topic_prefix,
        "WW_KAFKA_REQUEST_TIMEOUT_MS": "4000",
        "WW_DB_DSN": db.dsn,
        "WW_DB_WRITER_DSN": db.writer_dsn,
        "WW_DB_READER_DSN": db.reader_dsn,
        "WW_DB_INGEST_DSN": db.ingest_dsn,
        "WW_DB_PROCESSOR_DSN": db.processor_dsn,
        "WW_INGEST_SINK_GROUP": f"sink-{tag}",
        "WW_INGEST_BRIDGE_METRICS_PORT": "0",
        "WW_INGEST_SINK_METRICS_PORT": "0",
        "WW_INGEST_SINK_RETRY_MAX_S": "1",
        # The bridge's session outlives the test in Mosquitto; let it go soon after.
        "WW_INGEST_SESSION_EXPIRY_S": "120",
        "WW_LOG_LEVEL": "INFO",
        **(extra or {}),
    }


@contextmanager
def running_pipeline(
    env: dict[str, str], *, db: SessionDb, mqtt_port: int, log_dir: Path
) -> Iterator[Pipeline]:
    """Sink and bridge started, a warm-up reading through; both must stop cleanly after."""
    logs = [log_dir / "bridge.log", log_dir / "sink.log"]
    p = Pipeline(
        city=env["WW_CITY"],
        bridge=ServiceProcess("wastewatch.ingest.bridge", env, logs[0]),
        sink=ServiceProcess("wastewatch.ingest.sink", env, logs[1]),
        db=db,
        mqtt_port=mqtt_port,
        logs=logs,
        bridge_metrics_port=int(env["WW_INGEST_BRIDGE_METRICS_PORT"]),
    )
    p.sink.start()
    p.bridge.start()
    try:
        wait_until_flowing(p)
        yield p
    finally:
        bridge_exit = p.bridge.terminate()
        sink_exit = p.sink.terminate()
    assert bridge_exit == 0, p.tails()
    assert sink_exit == 0, p.tails()


class Publisher:
    """Publishes `count` readings at `rate` per second from a thread; remembers PUBACKs."""

    def __init__(self, p: Pipeline, *, count: int, rate: float, prefix: str) -> None:
        self.p = p
        self.count = count
        self.rate = rate
        self.prefix = prefix
        self.sent: list[tuple[tuple[str, int], mqtt.MQTTMessageInfo]] = []
        self.client = local_client(p.mqtt_port)
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


def stored_rows(p: Pipeline, prefix: str) -> tuple[int, set[tuple[str, int]]]:
    """(rows, distinct (device, seq)) stored for the devices named ``prefix-NN``."""
    with psycopg.connect(p.db.dsn) as conn:
        rows = conn.execute(
            "select device_id, seq from readings where device_id like %s", [prefix + "-%"]
        ).fetchall()
    return len(rows), {(d, s) for d, s in rows}


def wait_until_flowing(p: Pipeline) -> None:
    """A warm-up reading goes through: bridge subscribed, sink in its group, topics ready."""
    prefix = f"warm{uuid.uuid4().hex[:4]}"
    deadline = time.monotonic() + 60
    while stored_rows(p, prefix)[0] < 1:
        assert time.monotonic() < deadline, "warm-up reading never arrived\n" + p.tails()
        # The same reading each time: re-sends are deduplicated, so only arrival matters.
        with Publisher(p, count=1, rate=100, prefix=prefix):
            pass
        time.sleep(1.0)


def assert_stored_exactly_once(
    p: Pipeline, prefix: str, acked: set[tuple[str, int]], *, timeout_s: float = 90.0
) -> float:
    """Wait until every acked reading of ``prefix`` is stored; no row twice.

    Returns the seconds it took, for tests that bound the recovery.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    total, stored = stored_rows(p, prefix)
    while not acked <= stored:
        assert time.monotonic() < deadline, (
            f"{len(acked - stored)} of {len(acked)} acked readings missing after the fault\n"
            + p.tails()
        )
        time.sleep(0.5)
        total, stored = stored_rows(p, prefix)
    took = time.monotonic() - started
    time.sleep(1.0)  # let any straggling duplicate land before counting
    total, stored = stored_rows(p, prefix)
    assert total == len(stored), f"{total - len(stored)} duplicate rows"
    assert acked <= stored
    return took


def run_with_fault(
    p: Pipeline,
    fault: Callable[[], None],
    *,
    count: int = 2000,
    rate: float = 250,
    fault_at: float = 0.3,
) -> int:
    """Publish ``count`` readings at ``rate``/s, run ``fault`` once ``fault_at`` of them are
    out (publishing goes on meanwhile), then check every PUBACKed reading is stored once.

    Returns how many readings got their PUBACK.
    """
    prefix = f"dev{uuid.uuid4().hex[:6]}"
    with Publisher(p, count=count, rate=rate, prefix=prefix) as pub:
        pub.wait_progress(fault_at)
        fault()
    acked = pub.acked()
    assert len(acked) >= count * 0.5, "too few PUBACKs: the fault stopped the publisher"
    assert_stored_exactly_once(p, prefix, acked)
    return len(acked)


def scrape(port: int, name: str) -> float:
    """One series of a service's /metrics, summed over its labels (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )
