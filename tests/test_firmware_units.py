"""Firmware unit tests run on the real MicroPython unix port, and the firmware/schema contract.

The pure modules' tests are MicroPython scripts in ``firmware/tests/``, run by
``micropython firmware/tests/run.py``; each module is one pytest case that fails
on any failing assertion.  The contract tests feed the firmware chosen inputs and
check its output with the server's own models in ``schema/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.firmware.mp import FIRMWARE, run_micropython
from wastewatch.schema.common import TelemetryFlag
from wastewatch.schema.config import Calibration, DeviceConfig
from wastewatch.schema.status import DeviceStatus
from wastewatch.schema.telemetry import MAX_PAYLOAD_BYTES, DeviceTelemetry

pytestmark = pytest.mark.firmware

UNIT_MODULES = sorted(p.stem for p in (FIRMWARE / "tests").glob("test_*.py"))
NULL = -32768


@pytest.mark.parametrize("module", UNIT_MODULES)
def test_on_micropython(module: str, tmp_path: Path) -> None:
    result = run_micropython(FIRMWARE / "tests" / "run.py", tmp_path, module)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "FAIL" not in result.stdout, report
    assert " failed 0" in result.stdout, report


def _config_cases() -> list[dict[str, Any]]:
    calibration = Calibration(mounting_height_mm=1050, usable_depth_mm=800, dead_zone_mm=200)
    base = DeviceConfig(config_version=3, calibration=calibration).to_json_dict()
    cal = dict(base["calibration"])
    changes: list[dict[str, Any]] = [
        {},
        {"report_interval_s": 10, "nearly_full_interval_s": 10, "heartbeat_interval_s": 60},
        {"report_interval_s": 9},
        {"report_interval_s": 86400, "heartbeat_interval_s": 86400},
        {"heartbeat_interval_s": 86401},
        {"report_interval_s": 900.0},
        {"config_version": 3.0},
        {"config_version": 0},
        {"low_battery_mv": True},
        {"low_battery_mv": 1999},
        {"low_battery_mv": 2000},
        {"large_change_threshold": 0},
        {"large_change_threshold": 1},
        {"nearly_full_threshold": 1.01},
        {"fire_temp_c": 30},
        {"fire_temp_c": 29.9},
        {"fire_rise_c_per_min": 100},
        {"fire_rise_c_per_min": 0},
        {"nearly_full_interval_s": 901},
        {"heartbeat_interval_s": 899},
        {"v": 2},
        {"calibration": {**cal, "dead_zone_mm": 0}},
        {"calibration": {**cal, "dead_zone_mm": 1001}},
        {"calibration": {**cal, "usable_depth_mm": 900}},
        {"calibration": {"mounting_height_mm": 1050, "usable_depth_mm": 800}},
        {"calibration": {"mounting_height_mm": 1050}},
        {"calibration": {**cal, "mounting_height_mm": 5001}},
    ]
    return [{**base, **change} for change in changes] + [
        {k: v for k, v in base.items() if k != "calibration"},
        {"config_version": 1, "calibration": cal},
    ]


def _accepted_by_schema(doc: dict[str, Any]) -> bool:
    try:
        DeviceConfig.model_validate_json(json.dumps(doc), strict=True, by_alias=True, by_name=False)
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    records = [
        ("kls-bin-0001", [0, 17, 4242, 1767225600, 612, 4200, 315, 3870, -71, 0, 0], 0),
        ("kls-bin-0002", [1, 3, 0, 0, NULL, 10000, 780, 3410, -88, 9, 12], 128),
        ("kls-bin-0003", [2, 0, 5, 0, NULL, NULL, NULL, NULL, NULL, 2 | 32 | 512, 0], 0),
        ("kls-bin-0004", [3, 0, 0, 0, 0, 0, -400, 0, -127, 0xFFFF, 0], 0),
        (
            "a" * 64,
            [4, 2**31 - 1, 2**31 - 1, 4102444800, 20000, 1, 1500, 5000, 0, 0xFFFF, 2**31 - 1],
            0,
        ),
        ("kls-bin-0005", [5, 1, 1, 0, 700, 4375, -35, 3900, -67, 32, 0], 0),
    ]
    cals = [(1050, 800), (1500, 1200), (600, 300), (5000, 1)]
    fills = [[d, m, u] for m, u in cals for d in range(0, 5200, 37)]
    request = {
        "telemetry": records,
        "status": [
            ["online", "kls-bin-0001", "0.1.0", 17, "boot", 0],
            ["offline", "kls-bin-0001", "0.1.0", 17, "sleep", 1767225600],
            ["offline", "kls-bin-0001", "0.1.0", 0, "connection_lost", 0],
        ],
        "fill": fills,
        "configs": _config_cases(),
    }
    path = tmp_path_factory.mktemp("contract") / "request.json"
    path.write_text(json.dumps(request))
    result = run_micropython(FIRMWARE / "tests" / "contract.py", path)
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    answer["request"] = request
    return answer


def test_flag_bits_equal_schema(contract: dict[str, Any]) -> None:
    schema_flags = {f.name: int(f) for f in TelemetryFlag if f.name and f.name != "NONE"}
    assert contract["flags"] == schema_flags


def test_telemetry_validates_strictly(contract: dict[str, Any]) -> None:
    for text, (device_id, rec, extra) in zip(
        contract["telemetry"], contract["request"]["telemetry"], strict=True
    ):
        raw = text.encode()
        assert len(raw) <= MAX_PAYLOAD_BYTES
        reading = DeviceTelemetry.model_validate_json(
            raw, strict=True, by_alias=True, by_name=False
        )
        assert reading.device_id == device_id
        assert (reading.boot_count, reading.sequence, reading.timestamp_s) == tuple(rec[1:4])
        assert reading.distance_mm == (None if rec[4] == NULL else rec[4])
        assert reading.fill_level == (None if rec[5] == NULL else rec[5] / 10000)
        assert reading.temperature_c == (None if rec[6] == NULL else rec[6] / 10)
        assert reading.flag_bits == rec[9] | extra
        assert reading.dropped_count == rec[10]


def test_status_validates_strictly(contract: dict[str, Any]) -> None:
    for text in contract["status"]:
        status = DeviceStatus.model_validate_json(text, strict=True, by_alias=True, by_name=False)
        assert status.firmware_version == "0.1.0"


def test_fill_matches_the_server_formula(contract: dict[str, Any]) -> None:
    for (d, mount, usable), got in zip(contract["request"]["fill"], contract["fill"], strict=True):
        # Calibration's own validator is irrelevant here; use its formula directly.
        want = Calibration.model_construct(
            mounting_height_mm=mount, usable_depth_mm=usable, dead_zone_mm=0
        ).fill_from_distance(d)
        assert want is not None
        assert abs(got / 10000 - want) <= 0.5e-4 + 1e-12, (d, mount, usable, got, want)


def test_config_acceptance_matches_schema(contract: dict[str, Any]) -> None:
    for doc, accepted in zip(contract["request"]["configs"], contract["configs"], strict=True):
        assert accepted == _accepted_by_schema(doc), doc


def test_example_first_boot_file_is_accepted() -> None:
    script = (
        "import sys, json; sys.path.insert(0, 'firmware/lib'); import settings; "
        "s = settings.Settings(); "
        "s.apply_local(json.load(open('firmware/wastewatch.example.json'))); "
        "print(s.topic('telemetry'))"
    )
    result = run_micropython("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ww/kalasin/bins/kls-bin-0001/telemetry"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_host_run_help_prints_usage_and_exits_0(flag: str) -> None:
    """MicroPython keeps no module docstrings (``__doc__`` is undefined there)."""
    result = run_micropython(FIRMWARE / "host_run.py", flag, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "micropython firmware/host_run.py --broker HOST:PORT" in result.stdout
    assert "--readings N" in result.stdout
    assert "Exit status 2 = bad arguments" in result.stdout


def test_host_run_bad_option_prints_usage_and_exits_2() -> None:
    result = run_micropython(FIRMWARE / "host_run.py", "--nonsense", "1", timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "unknown option or missing value: --nonsense" in result.stdout
    assert "--readings N" in result.stdout
