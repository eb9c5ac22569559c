"""Running firmware code: the MicroPython unix port, mpy-cross, mypy with the MicroPython stubs."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
BIN = Path(sys.executable).parent
MICROPYTHON = BIN / "micropython"
MPY_CROSS = BIN / "mpy-cross"
STUB_DISTS = ("micropython_esp32_stubs", "micropython_stdlib_stubs")


def firmware_files() -> list[Path]:
    """Every Python file under firmware/."""
    return sorted(FIRMWARE.rglob("*.py"))


def run_micropython(
    *args: str | Path, timeout: float = 60, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run the real interpreter; output captured as text."""
    return subprocess.run(
        [str(MICROPYTHON), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def stub_typings(into: Path) -> Path:
    """A directory of links to the installed MicroPython stubs, usable as MYPYPATH.

    The stub wheels install plain ``machine.pyi`` etc. at the top of site-packages,
    which mypy does not search (no ``py.typed``) and refuses in MYPYPATH, so the
    stubs are linked into a directory of their own.
    """
    site = _site_packages()
    into.mkdir(parents=True, exist_ok=True)
    for dist in site.glob("micropython_*_stubs-*.dist-info"):
        if not dist.name.startswith(STUB_DISTS):
            continue
        for line in (dist / "RECORD").read_text().splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top.endswith(".dist-info") or top in {"stdlib", "stubs", "..", ""}:
                continue
            link = into / top
            if not link.exists():
                link.symlink_to(site / top)
    return into


def stub_modules(typings: Path) -> list[str]:
    """Top-level module names provided by the stubs."""
    return sorted(
        p.name.removesuffix(".pyi") for p in typings.iterdir() if p.suffix == ".pyi" or p.is_dir()
    )


def mypy_command(workdir: Path) -> tuple[list[str], dict[str, str]]:
    """The mypy invocation (and environment) that type-checks firmware/ against the stubs.

    Strict, the MicroPython stdlib stubs as typeshed, the ESP32 stubs as MYPYPATH;
    errors inside the third-party stubs themselves are ignored.
    """
    typings = stub_typings(workdir / "typings")
    overrides = ",".join(f"{m},{m}.*" for m in stub_modules(typings))
    config = workdir / "mypy-firmware.ini"
    config.write_text(
        "[mypy]\nstrict = True\nwarn_unreachable = True\ncache_dir = "
        f"{workdir / 'cache'}\n\n[mypy-{overrides}]\nignore_errors = True\n"
    )
    sources = [str(p) for p in firmware_files() if "tests" not in p.relative_to(FIRMWARE).parts]
    cmd = [
        str(BIN / "mypy"),
        "--config-file",
        str(config),
        "--custom-typeshed-dir",
        str(_site_packages()),
        "--explicit-package-bases",
        *sources,
    ]
    env = dict(os.environ, MYPYPATH=f"{typings}:{FIRMWARE / 'lib'}")
    return cmd, env
