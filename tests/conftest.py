"""Session fixtures: the real local stack, a fresh database and fresh Kafka topics.

The stack is started by the same code as `wastewatch services up`, once per
session; services that were already running (a developer's `make demo`) are
reused and left running, and only those this session started are stopped at
the end.  Each session gets its
own database (migrated from scratch) and its own Kafka topic prefix, so runs
never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from wastewatch.core.kafka_topics import create_topics, delete_prefixed_topics
from wastewatch.core.settings import (
    DbSettings,
    KafkaSettings,
    MqttSettings,
    Settings,
    StackSettings,
    load_settings,
)
from wastewatch.schema.migrate import migrate_with_roles
from wastewatch.workbench.stack.kafka import KafkaService
from wastewatch.workbench.stack.manager import Stack
from wastewatch.workbench.stack.process import free_port_block


def run_wastewatch(
    *args: str, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m wastewatch <args>`` as a child process, its output captured as text;
    a failing exit is returned, not raised."""
    return subprocess.run(
        [sys.executable, "-m", "wastewatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


@dataclass(frozen=True)
class StackEnv:
    """Addresses of the running local stack."""

    mqtt_url: str
    mqtt_port: int
    kafka_bootstrap: str
    admin_dsn: str
    writer_dsn: str
    reader_dsn: str
    ingest_dsn: str
    processor_dsn: str
    mqtt_bridge_url: str
    mqtt_ops_url: str
    mqtt_ca_file: str
    mqtt_tls_port: int

    def mqtt_settings(self) -> MqttSettings:
        """Each component's account, as the stack's env file gives them (the bridge its own)."""
        return MqttSettings(
            url=self.mqtt_url,
            bridge_url=self.mqtt_bridge_url,
            ops_url=self.mqtt_ops_url,
            ca_file=self.mqtt_ca_file,
        )


@dataclass(frozen=True)
class SessionDb:
    """A fresh, migrated database for this test session."""

    name: str
    dsn: str
    writer_dsn: str
    reader_dsn: str
    ingest_dsn: str
    processor_dsn: str

    def settings(self) -> DbSettings:
        """Every role's DSN, as the stack's env file gives them."""
        return DbSettings(
            dsn=self.dsn,
            writer_dsn=self.writer_dsn,
            reader_dsn=self.reader_dsn,
            ingest_dsn=self.ingest_dsn,
            processor_dsn=self.processor_dsn,
        )


def _with_database(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def stack_env() -> Iterator[StackEnv]:
    stack = Stack(load_settings())
    already_running = stack.running()
    env = stack.up()
    yield StackEnv(
        mqtt_url=env["WW_MQTT_URL"],
        mqtt_port=stack.mosquitto.port,
        kafka_bootstrap=env["WW_KAFKA_BOOTSTRAP"],
        admin_dsn=env["WW_DB_DSN"],
        writer_dsn=env["WW_DB_WRITER_DSN"],
        reader_dsn=env["WW_DB_READER_DSN"],
        ingest_dsn=env["WW_DB_INGEST_DSN"],
        processor_dsn=env["WW_DB_PROCESSOR_DSN"],
        mqtt_bridge_url=env["WW_MQTT_BRIDGE_URL"],
        mqtt_ops_url=env["WW_MQTT_OPS_URL"],
        mqtt_ca_file=env["WW_MQTT_CA_FILE"],
        mqtt_tls_port=stack.mosquitto.tls_port,
    )
    # Stop only what this session started: a developer's stack (or another session's)
    # that was running before stays running.
    stack.down(only={s.name for s in stack.services} - already_running)


@contextlib.contextmanager
def fresh_database(env: StackEnv, prefix: str) -> Iterator[SessionDb]:
    """A new database ``<prefix>_<random>``, migrated, with every role's DSN; dropped
    afterwards (with its connections), so a test's rows never meet another's."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = _with_database(env.admin_dsn, "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        db = SessionDb(
            name=name,
            dsn=_with_database(env.admin_dsn, name),
            writer_dsn=_with_database(env.writer_dsn, name),
            reader_dsn=_with_database(env.reader_dsn, name),
            ingest_dsn=_with_database(env.ingest_dsn, name),
            processor_dsn=_with_database(env.processor_dsn, name),
        )
        migrate_with_roles(db)
        yield db
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def test_db(stack_env: StackEnv) -> Iterator[SessionDb]:
    with fresh_database(stack_env, "ww_test") as db:
        yield db


@pytest.fixture(scope="session")
def kafka_settings(stack_env: StackEnv) -> Iterator[KafkaSettings]:
    """Kafka settings with a topic prefix of this session's own, topics created.

    The topics are deleted at the end: the local broker keeps every record in
    memory until its topic goes.
    """
    kafka = KafkaSettings(
        bootstrap=stack_env.kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}."
    )
    asyncio.run(create_topics(kafka))
    yield kafka
    asyncio.run(delete_prefixed_topics(kafka))


@pytest.fixture
def own_topics(stack_env: StackEnv) -> Iterator[KafkaSettings]:
    """Topics of one test's own (created, deleted afterwards), for tests whose records
    must not be seen by other tests' consumers."""
    kafka = KafkaSettings(
        bootstrap=stack_env.kafka_bootstrap, topic_prefix=f"o{uuid.uuid4().hex[:8]}."
    )
    asyncio.run(create_topics(kafka))
    yield kafka
    asyncio.run(delete_prefixed_topics(kafka))


@pytest.fixture(scope="session")
def settings(stack_env: StackEnv, test_db: SessionDb, kafka_settings: KafkaSettings) -> Settings:
    """Settings pointing every component at this session's database and topics."""
    return Settings(
        mqtt=stack_env.mqtt_settings(),
        kafka=kafka_settings,
        db=test_db.settings(),
    )


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaService]:
    """A private three-node Apache Kafka cluster (KRaft) for the failover and scale-out
    tests, started once per session on free loopback ports and stopped at the end.

    Topics made with ``kafka_cluster.kafka_settings()`` get 3 replicas and
    ``min.insync.replicas=2``.  Tests that kill nodes must bring them back.
    """
    with private_kafka(tmp_path_factory.mktemp("kafka3"), nodes=3) as cluster:
        yield cluster


@contextlib.contextmanager
def private_kafka(state_dir: Path, nodes: int) -> Iterator[KafkaService]:
    """An Apache Kafka cluster (KRaft) of ``nodes`` nodes of the test's own, on one block of
    free loopback ports (the brokers' ports, then the controllers'), stopped on the way out."""
    first = free_port_block(2 * nodes)
    settings = Settings(
        state_dir=state_dir,
        stack=StackSettings(
            kafka_port=first, kafka_controller_port=first + nodes, kafka_heap_mb=256
        ),
    )
    kafka = KafkaService(settings, nodes=nodes)
    kafka.install()
    try:
        kafka.start()
        yield kafka
    finally:
        kafka.stop()
