"""The local Apache Kafka cluster: 1 to 5 KRaft nodes on 127.0.0.1.

Each node is a combined broker and controller (``process.roles=broker,controller``)
started as ``java -cp '<libs>/*' kafka.Kafka server.properties`` from the jars
`wastewatch.workbench.stack.kafka_install` resolved from Maven Central: the same engine and
version as docker-compose's ``apache/kafka`` image.  Its log is on disk under
``.wastewatch/kafka/node-<id>/data`` and survives restarts, so records the sink
has not consumed yet are still there after a broker restart.

A cluster is formatted once (``kafka.tools.StorageTool format`` with a cluster id
kept in ``.wastewatch/kafka/cluster.json``) for a fixed number of nodes: the
controller quorum names every voter.  Changing the number of nodes means a new
cluster (``services down`` and deleting ``.wastewatch/kafka``), which the error
says rather than silently throwing the old log away.

Node N listens for clients on ``WW_STACK_KAFKA_PORT + N - 1`` and for the
controller quorum on ``WW_STACK_KAFKA_CONTROLLER_PORT + N - 1``.  With three
nodes the project's topics get 3 replicas and ``min.insync.replicas=2``
(`wastewatch.core.kafka_topics`), so with acks=all a write survives losing any one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from wastewatch.core import (
    ClusterView,
    KafkaSettings,
    Settings,
    TopicError,
    create_topics,
    describe_cluster,
)
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.kafka_install import (
    LOG4J,
    KafkaDistribution,
    ensure_kafka,
    kafka_version,
)
from wastewatch.workbench.stack.process import (
    LOOPBACK,
    ensure_port_free,
    exists,
    is_alive,
    port_open,
    read_pid,
    run,
    spawn,
    stop_pids,
    wait_until,
)

MAIN_CLASS = "kafka.Kafka"


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them: 16 random bytes, URL-safe base64, no padding.

    Kafka's own generator never returns one that starts with "-" (a command line
    would read it as an option); neither does this.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@dataclass(frozen=True, slots=True)
class ClusterFile:
    """What `.wastewatch/kafka/cluster.json` remembers of a formatted cluster."""

    cluster_id: str
    nodes: int

    @classmethod
    def read(cls, path: Path) -> ClusterFile | None:
        try:
            data = json.loads(path.read_text())
            return cls(cluster_id=str(data["cluster_id"]), nodes=int(data["nodes"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cluster_id": self.cluster_id, "nodes": self.nodes}) + "\n")


class KafkaNode:
    """One broker+controller process of the local cluster."""

    def __init__(self, *, node_id: int, port: int, controller_port: int, state: Path) -> None:
        self.node_id = node_id
        self.port = port
        self.controller_port = controller_port
        self.dir = state / "kafka" / f"node-{node_id}"
        self.data_dir = self.dir / "data"
        self.config = self.dir / "server.properties"
        self.pid_file = state / "run" / f"kafka-{node_id}.pid"
        self.log = state / "logs" / f"kafka-{node_id}.log"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def marker(self) -> str:
        """Unique to this node of this checkout: `down` never stops another's broker."""
        return str(self.config)

    @property
    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def running(self) -> bool:
        return is_alive(self.pid, self.marker)

    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def kill(self, sig: int = signal.SIGKILL, *, timeout_s: float = 30.0) -> None:
        """Send ``sig`` to this node (kill -9 by default) and wait until it is gone.

        For fault tests and the failover benchmark: only a process this stack
        started (its pid and its command line) is ever signalled.
        """
        pid = self.pid
        if not is_alive(pid, self.marker):
            return
        assert pid is not None
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while is_alive(pid, self.marker):
            if time.monotonic() > deadline:
                raise StackError(
                    f"stop kafka node {self.node_id}", f"pid {pid} still runs after {sig!r}"
                )
            time.sleep(0.05)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


class KafkaService:
    """The local Kafka cluster, as the stack manager drives it."""

    name = "kafka"

    def __init__(self, settings: Settings, *, nodes: int | None = None) -> None:
        self._settings = settings
        self._state = settings.state_dir.resolve()
        self.cluster_file = self._state / "kafka" / "cluster.json"
        formatted = ClusterFile.read(self.cluster_file)
        wanted = nodes or settings.stack.kafka_brokers
        self._formatted = formatted
        self.node_count = wanted or (formatted.nodes if formatted else 1)
        stack = settings.stack
        self.port = stack.kafka_port
        self.nodes = [
            KafkaNode(
                node_id=i,
                port=stack.kafka_port + i - 1,
                controller_port=stack.kafka_controller_port + i - 1,
                state=self._state,
            )
            for i in range(1, self.node_count + 1)
        ]
        self._distribution: KafkaDistribution | None = None

    # --- addresses -----------------------------------------------------------------------
    @property
    def version(self) -> str:
        return kafka_version()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def pid_file(self) -> Path:
        """Node 1's pid file (the single broker of the default stack)."""
        return self.nodes[0].pid_file

    @property
    def log(self) -> Path:
        return self.nodes[0].log

    def kafka_settings(self) -> KafkaSettings:
        """The settings' Kafka section pointed at this cluster, replicated as it allows.

        The replication factor is set here rather than read from the cluster's
        metadata: right after a start, a broker's metadata may not list every node yet.
        """
        kafka = self._settings.kafka
        factor = kafka.replication_factor or min(3, self.node_count)
        return kafka.model_copy(update={"bootstrap": self.bootstrap, "replication_factor": factor})

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    # --- lifecycle -----------------------------------------------------------------------
    def install(self) -> None:
        self._distribution = ensure_kafka(log=self._state / "logs" / "kafka-install.log")

    def running(self) -> bool:
        return all(node.running() for node in self.nodes)

    def answers(self) -> bool:
        """Every node is registered as a broker with the cluster's controller."""
        if not all(port_open(node.port) for node in self.nodes):
            return False
        view = asyncio.run(describe_cluster(self.kafka_settings(), topics=[], timeout_s=3))
        return len(view.brokers) == self.node_count

    def start(self) -> None:
        """Format (first time), start every node not running, wait, create the topics."""
        self._check_cluster_shape()
        for node in self.nodes:
            if not node.running():
                self.start_node(node.node_id, wait=False)
        wait_until(
            self.answers,
            timeout_s=self._settings.stack.wait_s,
            step=f"start kafka ({self.node_count} node{'s' if self.node_count > 1 else ''})",
            log=self.nodes[0].log,
            hint="the broker log's end above says why; `wastewatch services down` and "
            "`rm -rf .wastewatch/kafka` start a new cluster",
            show_tail=True,
            alive=lambda: all(exists(node.pid) for node in self.nodes),
        )
        try:
            asyncio.run(create_topics(self.kafka_settings()))
        except TopicError as exc:
            raise StackError("create kafka topics", str(exc), log=self.nodes[0].log) from exc

    def start_node(self, node_id: int, *, wait: bool = True) -> None:
        """Start one node (after a kill, say); with ``wait``, until the cluster has it back."""
        node = self.node(node_id)
        if node.running():
            return
        dist = self._dist()
        step = f"start kafka node {node_id}"
        ensure_port_free(node.port, step=step, setting="WW_STACK_KAFKA_PORT")
        ensure_port_free(node.controller_port, step=step, setting="WW_STACK_KAFKA_CONTROLLER_PORT")
        node.dir.mkdir(parents=True, exist_ok=True)
        node.config.write_text(self._server_properties(node))
        if not node.formatted():
            run(
                [
                    dist.java,
                    "-cp",
                    dist.classpath,
                    f"-Dlog4j.configuration=file:{LOG4J}",
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    "-t",
                    self._cluster_id(),
                    "-c",
                    str(node.config),
                ],
                step=f"format kafka node {node_id}",
                log=node.log,
                timeout_s=120,
            )
        heap = self._settings.stack.kafka_heap_mb
        spawn(
            [
                dist.java,
                f"-Xms{min(heap, 256)}m",
                f"-Xmx{heap}m",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{LOG4J}",
                f"-Dkafka.logs.dir={node.dir}",
                "-cp",
                dist.classpath,
                MAIN_CLASS,
                str(node.config),
            ],
            log=node.log,
            pid_file=node.pid_file,
        )
        if wait:
            wait_until(
                lambda: self._registered(node_id),
                timeout_s=self._settings.stack.wait_s,
                step=step,
                log=node.log,
                show_tail=True,
                alive=lambda: exists(node.pid),
            )

    def stop(self) -> bool:
        """SIGTERM to every node at once (a controlled shutdown needs the quorum), then wait."""
        pairs = [(node.pid, node.marker) for node in self.nodes]
        stopped = stop_pids([(p, m) for p, m in pairs if p is not None], timeout_s=45.0)
        for node in self.nodes:
            node.pid_file.unlink(missing_ok=True)
        return stopped

    # --- views ---------------------------------------------------------------------------
    def describe(self, *, topics: list[str] | None = None) -> ClusterView:
        """Brokers and each topic's partitions, leader and ISR (raises TopicError when down)."""
        return asyncio.run(describe_cluster(self.kafka_settings(), topics=topics))

    # --- internals -----------------------------------------------------------------------
    def _registered(self, node_id: int) -> bool:
        """The node itself answers, and its own metadata lists it as a broker.

        Asking the node, not the cluster: right after a kill -9 the other brokers
        still list the dead node until its session times out.
        """
        node = self.node(node_id)
        if not port_open(node.port):
            return False
        alone = self.kafka_settings().model_copy(update={"bootstrap": node.address})
        view = asyncio.run(describe_cluster(alone, topics=[], timeout_s=3))
        return node_id in view.brokers

    def _dist(self) -> KafkaDistribution:
        if self._distribution is None:
            self.install()
        assert self._distribution is not None
        return self._distribution

    def _check_cluster_shape(self) -> None:
        formatted = self._formatted
        if formatted is not None and formatted.nodes != self.node_count:
            raise StackError(
                f"start kafka with {self.node_count} node(s)",
                f"{self.cluster_file.parent} holds a cluster formatted for {formatted.nodes} "
                "node(s); a KRaft cluster's controller quorum cannot change size here",
                hint="keep it (`services up` without --kafka-brokers), or stop it with "
                f"`wastewatch services down` and delete {self.cluster_file.parent} to start a "
                "new cluster (records not yet consumed are lost)",
            )

    def _cluster_id(self) -> str:
        formatted = self._formatted or ClusterFile.read(self.cluster_file)
        if formatted is None:
            formatted = ClusterFile(cluster_id=new_cluster_id(), nodes=self.node_count)
            formatted.write(self.cluster_file)
        self._formatted = formatted
        return formatted.cluster_id

    def _server_properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@{LOOPBACK}:{n.controller_port}" for n in self.nodes)
        replicas = min(3, self.node_count)
        min_isr = max(1, replicas - 1)
        lines = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.data_dir,
            # Topics are made by `create_topics` with the catalog's partitions.
            "auto.create.topics.enable": "false",
            "num.partitions": 1,
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 12,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": 0,
            # Two cores: fewer threads than the defaults (3 network, 8 I/O).
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 2,
            "log.retention.hours": 168,
        }
        header = (
            "# Written by `wastewatch services up` on every start; edit the code "
            "(wastewatch/workbench/stack/kafka.py), not this file.\n"
        )
        return header + "".join(f"{key}={value}\n" for key, value in lines.items())


__all__ = ["ClusterFile", "KafkaNode", "KafkaService", "new_cluster_id"]
