"""The ingest benchmark command runs end to end on the local stack and counts honestly.

Speed is not asserted here (the figures are for the closing note); what is
checked is that the command works, prints its JSON contract on the last line,
and that nothing was lost or stored twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import StackEnv, run_wastewatch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

KEYS = {
    "messages",
    "raw_mqtt_per_s",
    "naive_per_s",
    "e2e_per_s",
    "ratio_vs_raw",
    "ratio_vs_naive",
    "latency_ms",
    "lost",
    "duplicates",
    "peak_rss_mb",
}


def test_bench_ingest_small_run(stack_env: StackEnv) -> None:
    done = run_wastewatch(
        *("bench", "ingest", "--messages", "3000", "--devices", "30"),
        *("--naive-seconds", "2", "--latency-seconds", "3", "--json"),
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS
    assert result["messages"] == 3000
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
    assert set(result["peak_rss_mb"]) == {"bridge", "sink", "mosquitto", "kafka", "postgres"}
    assert result["e2e_per_s"] > 0
    assert result["raw_mqtt_per_s"] > 0


def test_bench_rejects_bad_arguments() -> None:
    done = run_wastewatch("bench", "ingest", "--messages", "10", "--devices", "20", timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


FAILOVER_KEYS = {
    "messages",
    "acked",
    "stored",
    "lost",
    "duplicates",
    "leader_kills",
    "pipeline_kills",
    "max_stall_s",
    "e2e_per_s",
    "broker_peak_rss_mb",
    "recovered_s",
}


@pytest.mark.timeout(150)
def test_bench_failover_small_run(stack_env: StackEnv) -> None:
    """Three private brokers, the leader and the pipeline killed once each, nothing lost.

    Small buffers (Receive Maximum and hand-off of 20) let 2,000 readings build a
    backlog larger than the bridge's buffers before the pipeline is killed.
    """
    env = {**os.environ, "WW_INGEST_RECEIVE_MAXIMUM": "20", "WW_INGEST_HANDOFF_MAX": "20"}
    done = run_wastewatch(
        *("bench", "failover", "--brokers", "3", "--messages", "2000", "--devices", "50"),
        *("--rate", "100", "--kill-pipeline", "--json"),
        timeout=140,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == FAILOVER_KEYS
    assert result["messages"] == result["acked"] == result["stored"] == 2000
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["leader_kills"] == 1
    assert result["pipeline_kills"] == 1
    assert result["max_stall_s"] > 0
    assert result["recovered_s"] is not None
    assert result["broker_peak_rss_mb"] > 0
    assert "with a backlog of only" not in done.stderr, "the pipeline died without a backlog"


def test_bench_failover_rejects_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wastewatch", "bench", "failover", "--brokers", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
