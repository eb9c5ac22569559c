"""Firmware build checks: every file compiles with mpy-cross, and mypy passes against the stubs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.firmware.mp import FIRMWARE, MPY_CROSS, firmware_files, mypy_command

pytestmark = pytest.mark.firmware


@pytest.mark.parametrize("source", firmware_files(), ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_with_mpy_cross(source: Path, tmp_path: Path) -> None:
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [str(MPY_CROSS), "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


def test_no_host_only_imports() -> None:
    """Firmware imports only what MicroPython ports provide (or firmware's own modules)."""
    allowed = {
        "array", "binascii", "ds18x20", "esp32", "json", "machine", "micropython", "network",
        "ntptime", "onewire", "os", "select", "socket", "ssl", "struct", "sys", "time", "typing",
        "usocket", "uselect", "_mpy_shed",
    }  # fmt: skip
    own = {p.stem for p in firmware_files()}
    for source in firmware_files():
        for line in source.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in {"import", "from"}:
                module = words[1].split(".")[0]
                assert module in allowed | own, f"{source.name}: {line.strip()}"


@pytest.mark.timeout(90)
def test_typechecks_against_micropython_stubs(tmp_path: Path) -> None:
    cmd, env = mypy_command(tmp_path)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=85, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
