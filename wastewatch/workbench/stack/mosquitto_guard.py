"""Build wastewatch's guard plugins for the local Mosquitto, once per machine and source.

The source is ``deploy/mosquitto/guard/ww_guard.c`` (what each plugin does and why
there are two: see its header).  They are compiled with the machine's C compiler
against Debian's ``mosquitto-dev`` headers into ``<cache>/mosquitto-guard-<hash>/``;
a changed source gets a new folder, an unchanged one is reused.  docker-compose
builds the same source in its mosquitto image (``deploy/mosquitto/Dockerfile``).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from wastewatch.workbench.stack.apt import ensure_packages
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.paths import cache_dir
from wastewatch.workbench.stack.process import run

SOURCE = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto" / "guard" / "ww_guard.c"
BUILD_PACKAGES = ["gcc", "libc6-dev", "mosquitto-dev", "libmosquitto-dev"]
PLUGINS = {"ww_login_guard.so": "WW_LOGIN_GUARD", "ww_denial_watch.so": "WW_DENIAL_WATCH"}


@dataclass(frozen=True, slots=True)
class GuardPlugins:
    """Paths of the two built plugins."""

    login_guard: Path
    denial_watch: Path


def ensure_guard(*, log: Path) -> GuardPlugins:
    """The built plugins; compiles them (installing the compiler and headers) when missing."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    target = cache_dir() / f"mosquitto-guard-{digest}"
    plugins = GuardPlugins(target / "ww_login_guard.so", target / "ww_denial_watch.so")
    if plugins.login_guard.exists() and plugins.denial_watch.exists():
        return plugins
    ensure_packages(BUILD_PACKAGES, log=log)
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise StackError(
            "build the Mosquitto guard plugins",
            "no C compiler on PATH",
            hint="apt-get install -y gcc libc6-dev mosquitto-dev libmosquitto-dev",
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, define in PLUGINS.items():
        run(
            [
                compiler,
                "-shared",
                "-fPIC",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                f"-D{define}",
                "-o",
                str(staging / name),
                str(SOURCE),
            ],
            step=f"compile the Mosquitto plugin {name}",
            log=log,
            hint="the log shows the compiler's message",
        )
        (staging / name).chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    target.chmod(0o755)
    return plugins
