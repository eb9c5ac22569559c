"""`wastewatch services`: a second, private stack on other ports, up twice, then down.

It uses a state dir under pytest's tmp folder (mode 700, so PostgreSQL and
Mosquitto, which run as their own accounts, exercise the /var/lib fallback)
and never touches the session's main stack.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from wastewatch.core.settings import Settings, StackSettings
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.manager import Stack
from wastewatch.workbench.stack.process import free_port, is_alive, read_pid

pytestmark = pytest.mark.integration


@pytest.fixture
def private_stack(tmp_path: Path, stack_env: object) -> Stack:
    settings = Settings(
        state_dir=tmp_path / "state",
        stack=StackSettings(
            mqtt_port=free_port(),
            mqtt_tls_port=free_port(),
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_heap_mb=256,
            pg_port=free_port(),
        ),
    )
    return Stack(settings)


@pytest.mark.timeout(180)
def test_up_is_idempotent_and_down_stops_by_pid(private_stack: Stack) -> None:
    stack = private_stack
    try:
        env = stack.up()
        assert all(row.up for row in stack.status())
        pids = {
            "mosquitto": read_pid(stack.mosquitto.pid_file),
            "kafka": read_pid(stack.kafka.pid_file),
        }
        with psycopg.connect(env["WW_DB_DSN"]) as conn:
            assert conn.execute("select current_database()").fetchone() == ("wastewatch",)
        # Everything listens on loopback only.
        for key in ("WW_MQTT_URL", "WW_MQTT_BRIDGE_URL", "WW_MQTT_OPS_URL", "WW_MQTT_ADMIN_URL"):
            assert urlsplit(env[key]).hostname == "127.0.0.1", key
        assert env["WW_KAFKA_BOOTSTRAP"].startswith("127.0.0.1:")

        again = stack.up()
        assert again == env  # same passwords, same ports
        assert read_pid(stack.mosquitto.pid_file) == pids["mosquitto"]  # reused, not restarted
        assert read_pid(stack.kafka.pid_file) == pids["kafka"]
        assert stack.env_file.read_text().count("\nWW_") == 11
        assert stack.env_file.stat().st_mode & 0o777 == 0o600
    finally:
        stopped = stack.down()
    assert set(stopped) == {"mosquitto", "kafka", "timescaledb"}
    assert not any(row.running for row in stack.status())
    assert not is_alive(pids["mosquitto"], "mosquitto")
    assert not is_alive(pids["kafka"], stack.kafka.nodes[0].marker)
    assert stack.down() == []  # nothing left to stop, and no error
    _remove_state(stack.settings.state_dir)


def _remove_state(state_dir: Path) -> None:
    """Delete the private stack's files, including a /var/lib fallback it linked to."""
    for entry in state_dir.iterdir():
        if entry.is_symlink():
            shutil.rmtree(entry.resolve().parent, ignore_errors=True)
    shutil.rmtree(state_dir, ignore_errors=True)


def test_port_in_use_is_a_clear_error(tmp_path: Path, stack_env: object) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])
        stack = Stack(Settings(state_dir=tmp_path / "s", stack=StackSettings(mqtt_port=port)))
        with pytest.raises(StackError) as err:
            stack.mosquitto.start()
    text = str(err.value)
    assert f"127.0.0.1:{port} is already in use" in text
    assert "WW_STACK_MQTT_PORT" in text


@pytest.mark.timeout(120)
def test_a_kafka_broker_that_does_not_start_shows_the_end_of_its_log(tmp_path: Path) -> None:
    """A node whose data belongs to another node exits at once: the error says so with
    the end of the broker's log, without waiting out the start timeout."""
    from wastewatch.workbench.stack.kafka import KafkaService

    settings = Settings(
        state_dir=tmp_path / "state",
        stack=StackSettings(
            kafka_port=free_port(), kafka_controller_port=free_port(), kafka_heap_mb=256
        ),
    )
    kafka = KafkaService(settings)
    try:
        kafka.start()
    finally:
        kafka.stop()
    meta = kafka.nodes[0].data_dir / "meta.properties"
    text = meta.read_text()
    meta.write_text(text.replace("node.id=1", "node.id=7"))
    started = time.monotonic()
    try:
        with pytest.raises(StackError) as err:
            kafka.start()
    finally:
        kafka.stop()
    assert time.monotonic() - started < 60
    text = str(err.value)
    assert "start kafka" in text
    assert "the process exited" in text
    assert "node" in text.lower()  # the broker's own words about the stored node id
    assert str(kafka.nodes[0].log) in text
