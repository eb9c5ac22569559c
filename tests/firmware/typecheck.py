"""Type-check firmware/ against the MicroPython stubs: ``python -m tests.firmware.typecheck``.

The same check as ``tests/test_firmware_build.py``, for ``make lint``; exits with mypy's status.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.firmware.mp import mypy_command


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ww-fw-mypy-") as tmp:
        cmd, env = mypy_command(Path(tmp))
        return subprocess.run(cmd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
