"""The CLI's contract with a person: clear one-line errors, honest exit codes."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

import wastewatch
from tests.conftest import StackEnv
from wastewatch.errors import WastewatchError
from wastewatch.queries.errors import DatabaseReadError
from wastewatch.workbench.simulators.errors import PlanShapeError, PlanSourceError
from wastewatch.workbench.simulators.plans import QuietPlanSource
from wastewatch.workbench.stack.errors import StackError

WW = [sys.executable, "-m", "wastewatch"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WW, *args], capture_output=True, text=True, timeout=60, check=False)


def test_unknown_action_is_one_line_with_a_pointer() -> None:
    done = run("services", "sideways")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid choice: 'sideways'" in lines[0]
    assert "--help" in lines[0]


def test_missing_command_is_one_line() -> None:
    done = run()
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_lists_the_subcommands() -> None:
    done = run("--help")
    assert done.returncode == 0
    for name in ("services", "db", "kafka", "schema", "demo"):
        assert name in done.stdout


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path: Path) -> None:
    """`wastewatch ... | head`: the pipe closes before the output is written (argparse's
    own --help already swallows this; a command's output must too)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [*WW, "services", "status"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "WW_STATE_DIR": str(tmp_path / "state")},
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_status_of_a_stack_that_is_not_running_is_three_lines(tmp_path: Path) -> None:
    """Nothing started from this state dir: three `down` lines, exit 1, and no client
    error from asking a broker that is not there."""
    done = subprocess.run(
        [*WW, "services", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "WW_STATE_DIR": str(tmp_path / "state")},
    )
    assert done.returncode == 1
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["mosquitto", "down"],
        ["kafka", "down"],
        ["timescaledb", "down"],
    ]
    assert done.stderr == ""


@pytest.mark.integration
def test_status_and_env_of_the_running_stack(stack_env: StackEnv) -> None:
    status = run("services", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    services, _, cluster = status.stdout.partition("\n\n")
    assert [line.split()[:2] for line in services.splitlines()] == [
        ["mosquitto", "up"],
        ["kafka", "up"],
        ["timescaledb", "up"],
    ]
    # The Kafka section: the brokers, then each catalog topic's partitions and ISR.
    lines = cluster.splitlines()
    assert lines[0].startswith(f"kafka brokers: 1={stack_env.kafka_bootstrap}")
    readings = lines.index("waste.readings.v1")
    partitions = lines[readings + 1 : readings + 13]
    assert [line.split()[:2] for line in partitions] == [["partition", str(i)] for i in range(12)]
    assert all("leader  1" in line and line.endswith("isr 1") for line in partitions)
    env = run("services", "env")
    assert env.returncode == 0
    pairs = dict(
        line.split("=", 1)
        for line in env.stdout.splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert pairs["WW_MQTT_URL"] == stack_env.mqtt_url
    assert pairs["WW_KAFKA_BOOTSTRAP"] == stack_env.kafka_bootstrap
    assert pairs["WW_DB_DSN"] == stack_env.admin_dsn


# --- one error root, printed once --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("history", "--month", "2026-13"), "--month: '2026-13' is not a month"),
        (("bins", "import", "/nonexistent"), "/nonexistent: no such file"),
        (("routes", "solve-vrplib", "{bad}"), "not a VRPLIB instance"),
        (("landfill", "what-if", "--divert", "recyclable=2"), "between 0 and 1"),
        (("process", "--only", "nothing"), "unknown processor(s) nothing"),
        (("demo", "--real-clients", "-1"), "--real-clients must be 0 or more"),
    ],
)
def test_a_failing_command_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    """Every `WastewatchError` reaches `wastewatch.cli.main`, which prints it once."""
    bad = tmp_path / "bad.vrp"
    bad.write_text("this is not an instance\n", encoding="utf-8")
    done = run(*(a.format(bad=bad) for a in args))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("wastewatch: "), lines[0]
    assert says in lines[0]
    assert "Traceback" not in done.stderr


def test_an_unreadable_database_is_one_line_with_a_hint() -> None:
    """A driver's error becomes the project's, with what to do about it."""
    nowhere = "postgresql://nobody:x@127.0.0.1:1/none"
    env = {**os.environ, "WW_DB_READER_DSN": nowhere, "WW_DB_DSN": nowhere}
    done = subprocess.run(
        [*WW, "history"], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("wastewatch: cannot read the database: ")
    assert lines[0].endswith(f"({DatabaseReadError.hint})")


def _project_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.walk_packages(wastewatch.__path__, "wastewatch."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            modules.append(importlib.import_module(info.name))
    return modules


def test_every_project_exception_derives_from_the_one_root() -> None:
    """The CLI catches `WastewatchError` once: an error class outside it would reach the
    user as a traceback (none is exempt so far; an internal one would need a reason)."""
    found = {
        f"{module.__name__}.{name}": cls
        for module in _project_modules()
        for name, cls in vars(module).items()
        if isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls.__module__ == module.__name__
    }
    assert len(found) > 20, sorted(found)  # the walk found the packages' errors
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, WastewatchError))
    assert outside == []


def test_hints_are_one_line_and_not_repeated() -> None:
    error = StackError("start mosquitto", "port 1883 is in use", hint="set WW_STACK_MQTT_PORT")
    assert error.one_line() == (
        "start mosquitto failed: port 1883 is in use what to do: set WW_STACK_MQTT_PORT"
    )
    assert StackError("stop kafka", "pid 7 still runs").one_line() == (
        "stop kafka failed: pid 7 still runs (see `wastewatch services status`)"
    )


# --- decisions on an error's class, never its text -----------------------------------------


class _Plans:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def plans_for(self, service_date: date) -> None:
        raise self.error


def test_an_unreachable_plan_database_means_the_fixed_schedule_said_once() -> None:
    warned: list[PlanSourceError] = []
    # the text says "expected shape", the class does not: the class decides
    error = PlanSourceError("cannot read route plans: not in the expected shape at all")
    quiet = QuietPlanSource(_Plans(error), warn=warned.append)
    assert quiet.plans_for(date(2026, 3, 2)) is None
    assert quiet.plans_for(date(2026, 3, 3)) is None
    assert warned == [error]


def test_plan_tables_in_the_wrong_shape_are_still_an_error() -> None:
    quiet = QuietPlanSource(_Plans(PlanShapeError("route_stops has no eta")), warn=print)
    with pytest.raises(PlanShapeError):
        quiet.plans_for(date(2026, 3, 2))


def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A WW_ variable that does not validate is the settings' error, not pydantic's
    traceback: one line naming the variable and the value, exit 2."""
    from wastewatch.cli import main

    monkeypatch.setenv("WW_API_PORT", "abc")
    assert main(["history", "--month", "2026-01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("wastewatch: bad setting: WW_API_PORT")
    assert "'abc'" in err[0]
