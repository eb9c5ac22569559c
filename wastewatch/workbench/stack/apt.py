"""Install Debian packages the stack needs, only those missing, once."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.process import run

_updated = False


def is_installed(package: str) -> bool:
    """dpkg's view: the package is unpacked and configured."""
    if shutil.which("dpkg-query") is None:
        return False
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and done.stdout.strip().endswith("install ok installed")


def ensure_packages(packages: Iterable[str], *, log: Path) -> list[str]:
    """apt-get install what is missing; returns what was installed (empty on a re-run)."""
    global _updated
    missing = [p for p in packages if not is_installed(p)]
    if not missing:
        return []
    if os.geteuid() != 0:
        raise StackError(
            "apt install",
            f"packages missing and not running as root: {' '.join(missing)}",
            hint=f"run as root, or `sudo apt-get install -y {' '.join(missing)}`",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    hint = "check the network and apt sources (`apt-get update` by hand shows the cause)"
    if not _updated:
        run(["apt-get", "update", "-q"], step="apt-get update", log=log, env=env, hint=hint)
        _updated = True
    run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        step=f"apt-get install {' '.join(missing)}",
        log=log,
        env=env,
        hint=hint,
    )
    return missing
