"""Build TimescaleDB (Apache-licensed part) for PostgreSQL 15 from Debian's source.

Debian bookworm ships PostgreSQL 15 but no TimescaleDB; trixie ships the
source package.  We fetch it through a private apt source list (the system's
own lists are never edited), build it once per machine (about a minute on two
cores) and install it into PostgreSQL's extension directories.  A later run
sees the installed files and does nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

from wastewatch.workbench.stack.apt import ensure_packages
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.paths import cache_dir
from wastewatch.workbench.stack.process import run

PG_MAJOR = 15
PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
PG_CONFIG = PG_BIN / "pg_config"
SERVER_PACKAGES = [f"postgresql-{PG_MAJOR}"]
BUILD_PACKAGES = [
    f"postgresql-server-dev-{PG_MAJOR}",
    "cmake",
    "build-essential",
    "libssl-dev",
    "xz-utils",
]
SOURCE_SUITE = "trixie"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def installed() -> bool:
    """The extension's control file and library are where PostgreSQL looks."""
    lib = Path(f"/usr/lib/postgresql/{PG_MAJOR}/lib")
    share = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension")
    return (share / "timescaledb.control").exists() and any(lib.glob("timescaledb*.so"))


def debian_mirror() -> tuple[str, str]:
    """(URI, keyring) of the system's main Debian source, as its own apt config says."""
    candidates: list[tuple[str, str]] = []
    for sources in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in sources.read_text().split("\n\n"):
            fields = _deb822(stanza)
            uris = fields.get("uris", "").split()
            suites = fields.get("suites", "").split()
            if not uris or "deb" not in fields.get("types", "").split():
                continue
            if any("security" in s for s in suites) or "security" in uris[0]:
                continue
            if not any(s.startswith(("bookworm", "trixie", "stable")) for s in suites):
                continue
            candidates.append((uris[0], fields.get("signed-by", DEFAULT_KEYRING)))
    lists = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
    for listing in lists:
        if not listing.exists():
            continue
        for line in listing.read_text().splitlines():
            m = re.match(
                r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(bookworm|stable)\s", line.strip() + " "
            )
            if m and "security" not in m.group(1):
                candidates.append((m.group(1), DEFAULT_KEYRING))
    if not candidates:
        raise StackError(
            "find the Debian mirror",
            "no Debian bookworm source found in /etc/apt",
            hint="add the Debian mirror to apt's sources, then run again",
        )
    return candidates[0]


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0] in " \t" and key:
            fields[key] += " " + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def ensure_timescaledb(log: Path) -> bool:
    """Install PostgreSQL 15 and build TimescaleDB if missing; True when it built."""
    ensure_packages(SERVER_PACKAGES, log=log)
    if installed():
        return False
    ensure_packages(BUILD_PACKAGES, log=log)
    work = cache_dir() / "timescaledb"
    lists = work / "apt-lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    uri, keyring = debian_mirror()
    source_list = work / "trixie-src.list"
    source_list.write_text(f"deb-src [signed-by={keyring}] {uri} {SOURCE_SUITE} main\n")
    opts = [
        "-o",
        f"Dir::Etc::SourceList={source_list}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={lists}",
    ]
    hint = "check that the Debian mirror answers (`apt-get update` by hand)"
    run(
        ["apt-get", *opts, "update", "-q"], step="fetch the trixie source index", log=log, hint=hint
    )
    downloads = work / "src"
    downloads.mkdir(exist_ok=True)
    if not list(downloads.glob("timescaledb_*.orig.tar.*")):
        run(
            ["apt-get", *opts, "source", "--download-only", "timescaledb"],
            step="download the timescaledb source package",
            log=log,
            hint=hint,
            cwd=downloads,
        )
    tarballs = sorted(downloads.glob("timescaledb_*.orig.tar.*"))
    if not tarballs:
        raise StackError(
            "download the timescaledb source package",
            "no .orig tarball arrived",
            log=log,
            hint=hint,
        )
    build_root = work / "build"
    shutil.rmtree(build_root, ignore_errors=True)
    build_root.mkdir()
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(build_root, filter="data")
    src = next(p for p in build_root.iterdir() if p.is_dir())
    hint = f"read the build log; the source is in {src}"
    run(
        [
            "./bootstrap",
            "-DAPACHE_ONLY=1",
            "-DREGRESS_CHECKS=OFF",
            "-DTAP_CHECKS=OFF",
            "-DWARNINGS_AS_ERRORS=OFF",
            f"-DPG_CONFIG={PG_CONFIG}",
        ],
        step="configure timescaledb",
        log=log,
        cwd=src,
        hint=hint,
    )
    jobs = str(max(1, os.cpu_count() or 1))
    run(
        ["make", "-C", "build", f"-j{jobs}", "install"],
        step="build timescaledb",
        log=log,
        cwd=src,
        hint=hint,
    )
    if not installed():
        raise StackError(
            "install timescaledb", "the build finished but the files are missing", log=log
        )
    return True
