"""The real node (``firmware/host_run.py`` on the unix port) against the local Mosquitto.

The board is simulated (sensor values from a scenario, RTC memory in RAM, deep
sleep returning at once); the node code, the MQTT client, the flash files under
a state directory and the broker are real.  Every payload that arrives is
checked with the server's models in strict mode, as the bridge checks it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackEnv
from tests.firmware.collector import Collector, Message, fetch_retained, publish_retained
from tests.firmware.mp import FIRMWARE, MICROPYTHON, REPO
from tests.mqtt_login import service_login
from wastewatch.core.settings import load_settings
from wastewatch.schema.common import TelemetryFlag
from wastewatch.schema.config import Calibration
from wastewatch.schema.status import DeviceState, DeviceStatus, StatusReason
from wastewatch.schema.telemetry import DeviceTelemetry
from wastewatch.workbench.stack.manager import Stack

pytestmark = [pytest.mark.firmware, pytest.mark.integration]

HOST_RUN = FIRMWARE / "host_run.py"
FW_VERSION = "0.1.0"
ALTERNATING = {"distance_mm": [400, 900]}  # a large change every wake: every wake publishes


@pytest.fixture
def device() -> tuple[str, str]:
    """A city and device id of this test's own, so no other test sees its topics."""
    tag = uuid.uuid4().hex[:8]
    return f"fw{tag}", f"kls-fw-{tag}"


@pytest.fixture
def collector(stack_env: StackEnv, device: tuple[str, str]) -> Iterator[Collector]:
    city, device_id = device
    c = Collector(stack_env.mqtt_port, [f"ww/{city}/bins/{device_id}/#"])
    yield c
    c.close()
    # Leave no retained status of this test device in the broker.
    publish_retained(stack_env.mqtt_port, f"ww/{city}/bins/{device_id}/status", b"")


def host_run_cmd(
    port: int, device: tuple[str, str], readings: int, state: Path, *extra: str
) -> list[str]:
    city, device_id = device
    return [
        str(MICROPYTHON),
        str(HOST_RUN),
        "--broker",
        f"127.0.0.1:{port}",
        "--device-id",
        device_id,
        "--city",
        city,
        "--readings",
        str(readings),
        "--state-dir",
        str(state),
        "--username",
        service_login()[0],
        "--password",
        service_login()[1],
        *extra,
    ]


def host_run(cmd: list[str], timeout: float = 60) -> tuple[int, str, dict[str, Any]]:
    """Run to the end; returns (exit status, output, summary)."""
    result = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = result.stdout + result.stderr
    summary: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        if line.startswith("summary "):
            summary = json.loads(line.removeprefix("summary "))
    return result.returncode, out, summary


def scenario(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(doc))
    return str(path)


def readings(messages: list[Message]) -> list[DeviceTelemetry]:
    """Each telemetry payload validated as the bridge does."""
    return [
        DeviceTelemetry.model_validate_json(m.payload, strict=True, by_alias=True, by_name=False)
        for m in messages
    ]


def statuses(messages: list[Message]) -> list[DeviceStatus]:
    return [
        DeviceStatus.model_validate_json(m.payload, strict=True, by_alias=True, by_name=False)
        for m in messages
    ]


def keys(rows: list[DeviceTelemetry]) -> list[tuple[int, int]]:
    return [(r.boot_count, r.sequence) for r in rows]


def test_publishes_valid_readings_and_retained_status(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector, tmp_path: Path
) -> None:
    city, device_id = device
    state = tmp_path / "flash"
    rc, out, summary = host_run(host_run_cmd(stack_env.mqtt_port, device, 8, state))
    assert rc == 0, out
    assert summary["recorded"] == 8
    assert summary["pending"] == 0, out
    assert collector.wait_for(lambda: len(collector.on("/telemetry")) >= 8, 10)

    telemetry = collector.on("/telemetry")
    rows = readings(telemetry)
    assert keys(rows) == [(0, seq) for seq in range(8)]
    assert not any(m.retain for m in telemetry)
    calibration = Calibration(mounting_height_mm=1050, usable_depth_mm=800, dead_zone_mm=250)
    for row in rows:
        assert row.device_id == device_id
        assert row.timestamp_s == 0
        assert row.has(TelemetryFlag.CLOCK_UNSET)
        assert not row.clock_trusted
        assert not row.has(TelemetryFlag.BUFFERED)
        assert row.dropped_count == 0
        assert row.distance_mm is not None
        assert row.fill_level == pytest.approx(
            calibration.fill_from_distance(row.distance_mm), abs=1e-4
        )
        assert row.temperature_c == 31.5
        assert row.battery_mv == 3900

    status_msgs = collector.on("/status")
    assert all(m.retain for m in status_msgs), "status is always published retained"
    status = statuses(status_msgs)
    first = status[0]
    assert (first.state, first.reason) == (DeviceState.ONLINE, StatusReason.BOOT)
    assert (first.device_id, first.firmware_version, first.boot_count) == (device_id, FW_VERSION, 0)
    assert {s.reason for s in status if s.state is DeviceState.ONLINE} <= {
        StatusReason.BOOT,
        StatusReason.RECONNECT,
    }
    assert status[-1].state is DeviceState.OFFLINE
    assert status[-1].reason is StatusReason.SLEEP

    retained = fetch_retained(stack_env.mqtt_port, f"ww/{city}/bins/{device_id}/status")
    assert retained is not None
    assert retained.retain
    kept = DeviceStatus.model_validate_json(retained.payload, strict=True, by_alias=True)
    assert (kept.state, kept.firmware_version) == (DeviceState.OFFLINE, FW_VERSION)

    # Power off and on: a new boot number, sequence from 0, so keys never repeat.
    rc, out, summary = host_run(host_run_cmd(stack_env.mqtt_port, device, 2, state))
    assert rc == 0, out
    assert collector.wait_for(lambda: len(collector.on("/telemetry")) >= 10, 10)
    assert keys(readings(collector.on("/telemetry")))[8:] == [(1, 0), (1, 1)]


def test_wrong_credentials_are_refused_and_the_reading_kept(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector, tmp_path: Path
) -> None:
    """The broker checks passwords (tests/test_security.py runs a provisioned device)."""
    _, device_id = device
    cmd = host_run_cmd(stack_env.mqtt_port, device, 1, tmp_path / "flash", "--drain-s", "0")
    rc, out, summary = host_run([*cmd, "--username", device_id, "--password", "wrong"])
    assert rc == 0, out
    assert "connection refused, code 5" in out  # not authorised
    assert summary["pending"] == 1, out
    assert not collector.wait_for(lambda: bool(collector.on("/telemetry")), 1)


def test_retained_config_is_read_and_kept(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector, tmp_path: Path
) -> None:
    city, device_id = device
    topic = f"ww/{city}/bins/{device_id}/config"
    config = {
        "v": 1,
        "config_version": 5,
        "report_interval_s": 600,
        "nearly_full_interval_s": 300,
        "heartbeat_interval_s": 3600,
        "large_change_threshold": 0.1,
        "nearly_full_threshold": 0.8,
        "fire_temp_c": 70.0,
        "fire_rise_c_per_min": 5.0,
        "low_battery_mv": 3950,
        "calibration": {"mounting_height_mm": 1500, "usable_depth_mm": 1200, "dead_zone_mm": 200},
    }
    publish_retained(stack_env.mqtt_port, topic, json.dumps(config).encode())
    try:
        state = tmp_path / "flash"
        cmd = host_run_cmd(stack_env.mqtt_port, device, 4, state, "--scenario")
        rc, out, _ = host_run([*cmd, scenario(tmp_path, ALTERNATING)])
        assert rc == 0, out
        assert "config 5 applied" in out
        assert json.loads((state / "config.json").read_text()) == config
        assert collector.wait_for(lambda: len(collector.on("/telemetry")) >= 4, 10)
        rows = readings(collector.on("/telemetry"))
        new = Calibration(mounting_height_mm=1500, usable_depth_mm=1200, dead_zone_mm=200)
        # The first reading was measured before the config arrived; the rest use it.
        assert not rows[0].has(TelemetryFlag.LOW_BATTERY)
        for row in rows[1:]:
            assert row.fill_level == pytest.approx(
                new.fill_from_distance(row.distance_mm), abs=1e-4
            )
            assert row.has(TelemetryFlag.LOW_BATTERY), "3900 mV < the new 3950 mV threshold"
    finally:
        publish_retained(stack_env.mqtt_port, topic, b"")


def _telemetry_exactly_once(collector: Collector) -> list[DeviceTelemetry]:
    """Telemetry as the device sent it: the broker may redeliver to this subscriber (DUP)
    across its own restart; a repeat without DUP would be the device sending twice."""
    rows: list[DeviceTelemetry] = []
    seen: set[tuple[int, int]] = set()
    for msg, row in zip(
        collector.on("/telemetry"), readings(collector.on("/telemetry")), strict=True
    ):
        key = (row.boot_count, row.sequence)
        if key in seen:
            assert msg.dup, f"reading {key} published twice by the device"
            continue
        seen.add(key)
        rows.append(row)
    return rows


@pytest.mark.timeout(90)
def test_broker_down_mid_run_buffers_then_delivers_exactly_once_in_order(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector, tmp_path: Path
) -> None:
    total = 30
    cmd = host_run_cmd(stack_env.mqtt_port, device, total, tmp_path / "flash", "--pace-ms", "100")
    cmd += ["--drain-s", "30", "--scenario", scenario(tmp_path, ALTERNATING)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    mosquitto = Stack(load_settings()).mosquitto
    stopped = False
    try:
        assert collector.wait_for(lambda: len(collector.on("/telemetry")) >= 5, 20), lines
        assert mosquitto.stop()
        stopped = True
        # The node keeps its schedule, buffering, for about a second of wakes.
        time.sleep(1.2)
        assert any("not sent" in line for line in lines), lines
        mosquitto.start()
        stopped = False
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if stopped:
            mosquitto.start()
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    summary = json.loads(
        next(x for x in lines if x.startswith("summary ")).removeprefix("summary ")
    )
    assert summary["pending"] == 0, "".join(lines)
    assert collector.wait_for(
        lambda: len({m.payload for m in collector.on("/telemetry")}) >= total, 20
    )
    rows = _telemetry_exactly_once(collector)
    assert keys(rows) == [(0, seq) for seq in range(total)], "every reading once, in order"
    buffered = [r.sequence for r in rows if r.has(TelemetryFlag.BUFFERED)]
    assert buffered, "readings held during the outage are flagged BUFFERED"
    assert buffered == list(range(buffered[0], buffered[-1] + 1)), "one contiguous outage"
    assert all(r.dropped_count == 0 for r in rows)


def test_power_cut_mid_write_loses_only_the_torn_reading(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector, tmp_path: Path
) -> None:
    state = tmp_path / "flash"
    offline = {**ALTERNATING, "link": 0, "power_cut": {"write": 6, "after_bytes": 17}}
    cmd = host_run_cmd(stack_env.mqtt_port, device, 10, state, "--drain-s", "0")
    rc, out, _ = host_run([*cmd, "--scenario", scenario(tmp_path, offline)])
    assert rc == 75, out  # the simulated power cut ended the process
    assert "torn after 17 bytes" in out
    assert not collector.on("/telemetry")

    cmd = host_run_cmd(stack_env.mqtt_port, device, 2, state, "--scenario")
    rc, out, summary = host_run([*cmd, scenario(tmp_path, ALTERNATING)])
    assert rc == 0, out
    assert summary["pending"] == 0, out
    assert collector.wait_for(lambda: len(collector.on("/telemetry")) >= 7, 10)
    rows = readings(collector.on("/telemetry"))
    # Readings 0..4 were complete in flash; reading 5 was being written when the power went.
    assert keys(rows) == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1)]
    assert all(r.has(TelemetryFlag.BUFFERED) for r in rows[:5])
    assert not rows[5].has(TelemetryFlag.BUFFERED)


def test_last_will_on_abrupt_loss(
    stack_env: StackEnv, device: tuple[str, str], collector: Collector
) -> None:
    city, device_id = device
    probe = subprocess.Popen(
        [
            str(MICROPYTHON),
            str(FIRMWARE / "tests" / "probe_will.py"),
            str(stack_env.mqtt_port),
            city,
            device_id,
            *service_login(),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None
        assert probe.stdout.readline().strip() == "connected"
    finally:
        probe.send_signal(signal.SIGKILL)
        probe.wait(10)
    assert collector.wait_for(lambda: len(collector.on("/status")) >= 2, 10)
    online, will = collector.on("/status")[:2]
    assert will.retain
    status = DeviceStatus.model_validate_json(
        will.payload, strict=True, by_alias=True, by_name=False
    )
    assert (status.state, status.reason, status.device_id) == (
        DeviceState.OFFLINE,
        StatusReason.CONNECTION_LOST,
        device_id,
    )
    assert DeviceStatus.model_validate_json(online.payload).state is DeviceState.ONLINE
    retained = fetch_retained(stack_env.mqtt_port, f"ww/{city}/bins/{device_id}/status")
    assert retained is not None
    assert retained.payload == will.payload
