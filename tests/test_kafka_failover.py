"""Kafka broker faults under steady MQTT load: real bridge and sink, real Apache Kafka.

Each test runs the bridge and sink as processes against a Kafka cluster of the test
module's own (a private single node, or the session's private three-node cluster), kills
or stops brokers while a publisher sends readings at a steady rate, and then checks the
pipeline's promise: every reading whose publish got a PUBACK is in TimescaleDB exactly
once.  The session's shared broker is never touched.

The three-node tests leave the cluster with every node up and every ISR full, so the
next test (or `test_scale_out.py`) starts from a healthy cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SessionDb, StackEnv, private_kafka
from tests.pipeline_faults import (
    Pipeline,
    Publisher,
    assert_stored_exactly_once,
    pipeline_env,
    run_with_fault,
    running_pipeline,
    scrape,
)
from wastewatch.core.kafka_topics import (
    ClusterView,
    TopicError,
    create_topics,
    delete_prefixed_topics,
)
from wastewatch.ingest.validate import READINGS
from wastewatch.workbench.stack.kafka import KafkaService
from wastewatch.workbench.stack.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


# --------------------------------------------------------------------------- cluster views


def describe(cluster: KafkaService, topic: str) -> ClusterView:
    """The cluster's view of ``topic``, asking again when the admin client picked a dead node
    (aiokafka's admin sends to a random broker of its metadata, which may be the one just
    killed)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return cluster.describe(topics=[topic])
        except TopicError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    """Poll ``check`` until true; the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.3)
    return time.monotonic() - started


def healthy(cluster: KafkaService, topic: str) -> bool:
    """Every node running and registered, every partition of ``topic`` led, ISR full."""
    if not all(node.running() for node in cluster.nodes):
        return False
    try:
        view = cluster.describe(topics=[topic])
    except TopicError:
        return False
    parts = view.topics.get(topic, ())
    return (
        len(view.brokers) == len(cluster.nodes)
        and bool(parts)
        and all(p.leader >= 0 and len(p.isr) == len(p.replicas) for p in parts)
    )


def restore(cluster: KafkaService, topic: str, timeout_s: float = 90) -> None:
    """Start every node that is not running, then wait until ``topic``'s ISR is full.

    ``start_node``'s own wait can return early (the cluster's metadata may still list a
    node that was just killed), so the ISR is what says the node is back.
    """
    for node in cluster.nodes:
        if not node.running():
            cluster.start_node(node.node_id, wait=False)
    wait_for("all brokers back with full ISR", lambda: healthy(cluster, topic), timeout_s)


def leader_counts(cluster: KafkaService, topic: str) -> Counter[int]:
    return Counter(p.leader for p in describe(cluster, topic).topics[topic])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def single_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaService]:
    """A private one-node cluster, so killing it never disturbs the session's broker;
    stopped after its test, so it does not run beside the three-node cluster."""
    with private_kafka(tmp_path_factory.mktemp("kafka1"), nodes=1) as broker:
        yield broker


@pytest.fixture
def cluster3(kafka_cluster: KafkaService) -> Iterator[KafkaService]:
    """The session's three-node cluster, healthy before the test and again after it."""
    probe = kafka_cluster.kafka_settings().topic_prefix + READINGS
    restore(kafka_cluster, probe)
    yield kafka_cluster
    restore(kafka_cluster, probe)


@contextlib.contextmanager
def pipeline_on(
    cluster: KafkaService,
    stack_env: StackEnv,
    db: SessionDb,
    log_dir: Path,
    extra: dict[str, str] | None = None,
) -> Iterator[tuple[Pipeline, str]]:
    """Bridge and sink pointed at ``cluster``, with topics of their own (deleted after).

    Yields the pipeline and the name of its readings topic.
    """
    prefix = f"f{uuid.uuid4().hex[:8]}."
    kafka = cluster.kafka_settings().model_copy(update={"topic_prefix": prefix})
    asyncio.run(create_topics(kafka))
    topic = prefix + READINGS
    try:
        wait_for("new topics led and in sync", lambda: healthy(cluster, topic), 60)
        env = pipeline_env(
            stack_env, db, kafka_bootstrap=cluster.bootstrap, topic_prefix=prefix, extra=extra
        )
        with running_pipeline(env, db=db, mqtt_port=stack_env.mqtt_port, log_dir=log_dir) as p:
            yield p, topic
    finally:
        with contextlib.suppress(TopicError):
            asyncio.run(delete_prefixed_topics(kafka))


# --------------------------------------------------------------------------- one broker


def test_single_broker_killed_and_restarted(
    single_broker: KafkaService, stack_env: StackEnv, test_db: SessionDb, tmp_path: Path
) -> None:
    """kill -9 of the only broker: every send fails until it is back; the bridge holds the
    PUBACKs, retries in order, and the log on disk survives the kill."""
    node = single_broker.nodes[0]
    with pipeline_on(single_broker, stack_env, test_db, tmp_path) as (p, topic):
        before = node.pid

        def fault() -> None:
            node.kill()
            time.sleep(3.0)  # longer than nothing, shorter than a request timeout (4 s)
            restore(single_broker, topic)

        acked = run_with_fault(p, fault, count=3000, rate=250)
        assert node.pid != before, "the broker was not restarted"
        assert acked >= 2900


# --------------------------------------------------------------------------- three brokers


def test_partition_leader_killed_and_brought_back(
    cluster3: KafkaService, stack_env: StackEnv, test_db: SessionDb, tmp_path: Path
) -> None:
    """kill -9 of the broker leading the most readings partitions: the controller moves
    leadership once its session times out; the producer (acks=all, idempotent) re-sends
    to the new leaders; then the broker rejoins and catches up."""
    with pipeline_on(cluster3, stack_env, test_db, tmp_path) as (p, topic):
        victim = leader_counts(cluster3, topic).most_common(1)[0][0]
        moved: list[float] = []

        def fault() -> None:
            cluster3.node(victim).kill()
            moved.append(
                wait_for(
                    f"leadership moved off broker {victim}",
                    lambda: (
                        victim not in leader_counts(cluster3, topic)
                        and -1 not in leader_counts(cluster3, topic)
                    ),
                    45,
                )
            )
            restore(cluster3, topic)

        run_with_fault(p, fault, count=6000, rate=250, fault_at=0.15)
        assert moved, "the fault did not run"


def test_rolling_restart_of_all_brokers(
    cluster3: KafkaService, stack_env: StackEnv, test_db: SessionDb, tmp_path: Path
) -> None:
    """A rolling restart (SIGTERM, the controlled shutdown an operator's restart sends, to
    each broker in turn; the next only after the last rejoined and the ISR is full)."""
    with pipeline_on(cluster3, stack_env, test_db, tmp_path) as (p, topic):
        restarted: list[int] = []

        def fault() -> None:
            for node in cluster3.nodes:
                node.kill(signal.SIGTERM)
                restore(cluster3, topic)
                restarted.append(node.node_id)

        run_with_fault(p, fault, count=8000, rate=250, fault_at=0.1)
        assert restarted == [n.node_id for n in cluster3.nodes]


def test_backpressure_while_two_of_three_brokers_are_down(
    cluster3: KafkaService, stack_env: StackEnv, test_db: SessionDb, tmp_path: Path
) -> None:
    """With two of three brokers gone no write can reach min.insync.replicas=2: the bridge
    sends no PUBACK and holds no more than Receive Maximum + its hand-off (Mosquitto queues
    the rest in the bridge's session), then resumes on its own when the brokers are back.

    The bridge's retry loop may take a few more messages between two failed re-sends (a
    send counts as resumed once the producer queued it), which is why intake is judged by
    the bound, not by a count that never moves.
    """
    receive_maximum, handoff, count = 100, 100, 6000
    port = free_port()
    extra = {
        "WW_INGEST_RECEIVE_MAXIMUM": str(receive_maximum),
        "WW_INGEST_HANDOFF_MAX": str(handoff),
        "WW_INGEST_BRIDGE_METRICS_PORT": str(port),
    }
    with pipeline_on(cluster3, stack_env, test_db, tmp_path, extra) as (p, topic):
        prefix = f"bp{uuid.uuid4().hex[:6]}"
        seen: dict[str, float] = {}
        with Publisher(p, count=count, rate=250, prefix=prefix) as pub:
            pub.wait_progress(0.1)
            try:
                for node in cluster3.nodes[1:]:
                    node.kill()
                # Records already sent may still be acknowledged before every request
                # times out (4 s here): let that settle, then watch the bridge.
                time.sleep(6.0)
                received0 = scrape(port, "ww_bridge_received_total")
                acked0 = scrape(port, "ww_bridge_mqtt_acked_total")
                published0 = pub.progress
                time.sleep(5.0)
                received1 = scrape(port, "ww_bridge_received_total")
                acked1 = scrape(port, "ww_bridge_mqtt_acked_total")
                seen = {
                    "published": pub.progress - published0,
                    "received": received1 - received0,
                    "acked": acked1 - acked0,
                    "held": received1 - acked1,
                }
            finally:
                restore(cluster3, topic)
        assert seen["published"] >= 1000, f"the publisher did not keep publishing: {seen}"
        assert seen["acked"] == 0, f"PUBACKs went out while Kafka could not take records: {seen}"
        assert seen["held"] <= receive_maximum + handoff, f"the bridge took too much: {seen}"
        assert seen["received"] <= receive_maximum + handoff, seen
        acked = pub.acked()
        assert len(acked) == count, "Mosquitto should have taken every reading"
        assert_stored_exactly_once(p, prefix, acked)
        assert scrape(port, "ww_bridge_mqtt_acked_total") >= count, "the bridge did not resume"
