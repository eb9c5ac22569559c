"""The Docker image's CLI: every command it lists runs, or says in one line why not.

The image is built from the tree minus what `.dockerignore` leaves out (the local
stack, the demo and the benchmarks).  No Docker engine here, so the test runs the
CLI in a fresh interpreter in which exactly the packages `.dockerignore` names
cannot be imported, which is what the image's installed wheel lacks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A fresh interpreter where the ignored packages do not exist, running the CLI.
_RUNNER = """
import importlib.abc, sys
missing = tuple(sys.argv[1].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in missing):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from wastewatch.cli import main
sys.exit(main(sys.argv[2:]))
"""


def left_out_of_the_image() -> list[str]:
    """Python packages `.dockerignore` leaves out, as import names."""
    names = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        entry = line.strip().rstrip("/")
        if entry == "bench":
            names.append("wastewatch.workbench.bench")
        elif entry.startswith("wastewatch/"):
            names.append(entry.replace("/", "."))
    return names


def image_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, ",".join(left_out_of_the_image()), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )


def test_the_image_leaves_out_the_stack_the_demo_and_the_benchmarks() -> None:
    assert set(left_out_of_the_image()) == {
        "wastewatch.workbench.bench",
        "wastewatch.workbench.stack",
        "wastewatch.workbench.demo",
    }


def test_the_image_cli_still_lists_every_command() -> None:
    out = image_cli("--help")
    assert out.returncode == 0, out.stderr
    for command in ("ingest", "process", "api", "devices", "simulate", "services", "bench"):
        assert command in out.stdout


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["services", "up"], "wastewatch.workbench.stack"),
        (["demo"], "wastewatch.workbench.demo"),
        (["eval", "routes", "--days", "1"], "wastewatch.workbench.bench"),
        (["bench", "ingest", "--json"], "wastewatch.workbench.bench"),
    ],
)
def test_a_command_left_out_of_the_image_says_so_in_one_line(argv: list[str], missing: str) -> None:
    out = image_cli(*argv)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"wastewatch {argv[0]}: a workbench command")
    assert missing in lines[0]
    assert "Traceback" not in out.stderr


def test_the_simulator_stays_in_the_image() -> None:
    """compose's demo profile runs `simulate live` from the image."""
    out = image_cli("simulate", "--help")
    assert out.returncode == 0, out.stderr
    assert "live" in out.stdout


def test_without_the_blocker_the_workbench_commands_load() -> None:
    """The one-line answer above comes from the missing packages, not from a broken
    entry point: in this checkout the same commands load."""
    out = subprocess.run(
        [sys.executable, "-m", "wastewatch", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "ingest" in out.stdout
