"""Where each service keeps its files.

Everything lives under the state dir (`.wastewatch/` in the checkout).  When
we run as root, PostgreSQL and Mosquitto run as their own service accounts,
which may not be able to reach a checkout under a private home directory
(``/root`` is mode 700); then the service's folder is placed under
``/var/lib/wastewatch/<hash of the state dir>/`` and linked from the state
dir, so the state stays findable in one place and two checkouts never share it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from wastewatch.workbench.stack.process import as_user_prefix, user_ids

SYSTEM_STATE_ROOT = Path("/var/lib/wastewatch")


def cache_dir() -> Path:
    """Per-machine cache for downloads and builds that outlive any checkout."""
    if os.geteuid() == 0:
        return Path("/var/cache/wastewatch")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wastewatch"


def _user_can_write(user: str | None, directory: Path) -> bool:
    prefix = as_user_prefix(user)
    if not prefix:
        return True
    done = subprocess.run(
        [*prefix, "test", "-w", str(directory), "-a", "-x", str(directory)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def service_dir(state_dir: Path, name: str, owner: str | None) -> Path:
    """A directory ``owner`` can write, reachable as ``state_dir/name``."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    link = state_dir / name
    uid, gid = user_ids(owner)
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        target.mkdir(parents=True, exist_ok=True)
        return target
    link.mkdir()
    os.chown(link, uid, gid)
    if _user_can_write(owner, link):
        return link
    link.rmdir()
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    target = SYSTEM_STATE_ROOT / digest / name
    target.mkdir(parents=True, exist_ok=True)
    os.chown(target, uid, gid)
    link.symlink_to(target, target_is_directory=True)
    return target
