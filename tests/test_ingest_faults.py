"""Fault tests: real bridge and sink processes, real services, faults injected mid-stream.

While a publisher sends a known set of readings at a steady rate, one fault
happens; afterwards every reading whose publish got a PUBACK must be in
TimescaleDB exactly once.  Each test uses its own city (MQTT topics), Kafka
topic prefix and consumer group, so nothing leaks between tests.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SessionDb, StackEnv
from tests.pipeline_faults import (
    Pipeline,
    Publisher,
    ServiceProcess,
    pipeline_env,
    run_with_fault,
    running_pipeline,
    stored_rows,
)
from wastewatch.core.settings import KafkaSettings, load_settings
from wastewatch.workbench.stack.manager import Service, Stack
from wastewatch.workbench.stack.process import read_pid

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def pipeline(
    request: pytest.FixtureRequest,
    stack_env: StackEnv,
    test_db: SessionDb,
    own_topics: KafkaSettings,
    tmp_path: Path,
) -> Iterator[Pipeline]:
    """Bridge and sink as processes; a test may add settings with indirect parametrize."""
    env = pipeline_env(
        stack_env,
        test_db,
        kafka_bootstrap=stack_env.kafka_bootstrap,
        topic_prefix=own_topics.topic_prefix,
        extra=getattr(request, "param", {}),
    )
    with running_pipeline(env, db=test_db, mqtt_port=stack_env.mqtt_port, log_dir=tmp_path) as p:
        yield p


@pytest.mark.parametrize("component", ["bridge", "sink"])
def test_killed_and_restarted(pipeline: Pipeline, component: str) -> None:
    process: ServiceProcess = getattr(pipeline, component)

    def fault() -> None:
        process.kill9()
        time.sleep(1.0)
        process.start()

    run_with_fault(pipeline, fault)


@pytest.mark.parametrize(
    ("service", "down_s"),
    [
        pytest.param("postgres", 2.0, id="postgres-stopped-and-started"),
        pytest.param("mosquitto", 0.5, id="mosquitto-restarted-with-persistence"),
    ],
)
def test_service_stopped_and_started(pipeline: Pipeline, service: str, down_s: float) -> None:
    managed: Service = getattr(Stack(load_settings()), service)

    def fault() -> None:
        assert managed.stop()
        time.sleep(down_s)
        managed.start()

    run_with_fault(pipeline, fault)


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

    run_with_fault(pipeline, fault)


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
    total, stored = stored_rows(p, prefix)
    while not acked <= stored:
        assert p.bridge.proc is not None
        assert p.bridge.proc.poll() is None, "the bridge exited under the backlog\n" + p.tails()
        assert time.monotonic() < deadline, (
            f"{len(acked - stored)} of 6000 queued readings not stored 60 s after the restart\n"
            + p.tails()
        )
        time.sleep(0.5)
        total, stored = stored_rows(p, prefix)
    assert total == len(stored) == 6000
