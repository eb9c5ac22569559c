"""The CLI's contract with a person: clear one-line errors, honest exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import StackEnv

WW = [sys.executable, "-m", "wastewatch"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WW, *args], capture_output=True, text=True, timeout=60, check=False)


def test_unknown_action_is_one_line_with_a_pointer() -> None:
    done = run("services", "sideways")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid choice: 'sideways'" in lines[0]
    assert "--help" in lines[0]


def test_missing_command_is_one_line() -> None:
    done = run()
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_lists_the_subcommands() -> None:
    done = run("--help")
    assert done.returncode == 0
    for name in ("services", "db", "kafka", "schema", "demo"):
        assert name in done.stdout


@pytest.mark.integration
def test_status_and_env_of_the_running_stack(stack_env: StackEnv) -> None:
    status = run("services", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    services, _, cluster = status.stdout.partition("\n\n")
    assert [line.split()[:2] for line in services.splitlines()] == [
        ["mosquitto", "up"],
        ["kafka", "up"],
        ["timescaledb", "up"],
    ]
    # The Kafka section: the brokers, then each catalog topic's partitions and ISR.
    lines = cluster.splitlines()
    assert lines[0].startswith(f"kafka brokers: 1={stack_env.kafka_bootstrap}")
    readings = lines.index("waste.readings.v1")
    partitions = lines[readings + 1 : readings + 13]
    assert [line.split()[:2] for line in partitions] == [["partition", str(i)] for i in range(12)]
    assert all("leader  1" in line and line.endswith("isr 1") for line in partitions)
    env = run("services", "env")
    assert env.returncode == 0
    pairs = dict(
        line.split("=", 1)
        for line in env.stdout.splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert pairs["WW_MQTT_URL"] == stack_env.mqtt_url
    assert pairs["WW_KAFKA_BOOTSTRAP"] == stack_env.kafka_bootstrap
    assert pairs["WW_DB_DSN"] == stack_env.admin_dsn
