"""The ingest benchmark command runs end to end on the local stack and counts honestly.

Speed is not asserted here (the figures are for the closing note); what is
checked is that the command works, prints its JSON contract on the last line,
and that nothing was lost or stored twice.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import StackEnv

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
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wastewatch",
            "bench",
            "ingest",
            "--messages",
            "3000",
            "--devices",
            "30",
            "--naive-seconds",
            "2",
            "--latency-seconds",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
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
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wastewatch",
            "bench",
            "ingest",
            "--messages",
            "10",
            "--devices",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
