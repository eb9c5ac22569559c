"""`wastewatch demo`: the planning of the history window, the summary, the process handling,
and the whole command against the real local stack.

The integration test runs the real command as a subprocess (as `make demo` does) with
a database, Kafka topic prefix, city slug, consumer groups, MQTT client id and metrics
ports of its own, so it never touches a developer's data or a running demo; it then
checks the final summary against the database and that no process it started is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rich.console import Console

from tests.conftest import SessionDb, StackEnv
from tests.test_geojson import assert_geojson
from wastewatch.core.kafka_topics import delete_prefixed_topics
from wastewatch.core.settings import KafkaSettings
from wastewatch.workbench.demo import history, summary
from wastewatch.workbench.demo.components import Process
from wastewatch.workbench.demo.metrics import parse
from wastewatch.workbench.stack import free_port

REPO = Path(__file__).resolve().parent.parent
NOW = 1_790_000_000  # 2026-09-21T14:13:20Z
KEY = history.FleetKey(database="wastewatch", city="kalasin", seed=1, bins=600, interval_s=900)


# --------------------------------------------------------------------------- history


def test_first_run_replays_the_days_asked_and_goes_live_behind_the_clock() -> None:
    plan = history.plan_history(now=NOW, days=14, speed=60, newest=None, saved=None, key=KEY)
    assert plan.mode == "first"
    assert plan.anchor == plan.publish_from == plan.live_from - 14 * 86_400
    # live catches up ~2 minutes at x60: it starts 59 x 120 s = 1 h 58 min back
    assert plan.live_from == (NOW - 7080) // 60 * 60
    assert plan.replay_s == 14 * 86_400
    assert plan.skip_s == 0


def test_live_at_real_time_starts_at_the_clock() -> None:
    plan = history.plan_history(now=NOW, days=1, speed=1, newest=None, saved=None, key=KEY)
    assert plan.live_from == NOW // 60 * 60


def test_second_run_of_the_same_fleet_continues_from_its_anchor_and_replays_the_gap() -> None:
    first = history.plan_history(now=NOW, days=14, speed=60, newest=None, saved=None, key=KEY)
    newest = first.live_from + 1800  # the first run went live for half an hour of event time
    later = NOW + 3 * 86_400
    saved = history.SavedFleet(key=KEY, anchor=first.anchor)
    plan = history.plan_history(now=later, days=14, speed=60, newest=newest, saved=saved, key=KEY)
    assert plan.mode == "continue"
    assert plan.anchor == first.anchor  # same simulation: no jump in the bins' state
    assert plan.publish_from == newest + 1  # nothing stored is published again
    assert plan.live_from == (later - 7080) // 60 * 60
    assert plan.skip_s == newest + 1 - first.anchor


def test_a_rerun_within_the_catch_up_window_replays_nothing() -> None:
    saved = history.SavedFleet(key=KEY, anchor=NOW - 14 * 86_400)
    newest = NOW - 600
    plan = history.plan_history(now=NOW, days=14, speed=60, newest=newest, saved=saved, key=KEY)
    assert plan.mode == "up-to-date"
    assert plan.publish_from == plan.live_from == newest + 1
    assert plan.replay_s == 0


@pytest.mark.parametrize(
    "saved",
    [
        None,
        history.SavedFleet(  # another seed
            key=history.FleetKey("wastewatch", "kalasin", 2, 600, 900), anchor=NOW - 86_400
        ),
        history.SavedFleet(key=KEY, anchor=NOW - 100 * 86_400),  # too long to re-create
        history.SavedFleet(key=KEY, anchor=NOW),  # anchor after the stored data
    ],
)
def test_another_or_unknown_fleet_starts_after_the_newest_reading(
    saved: history.SavedFleet | None,
) -> None:
    newest = NOW - 5 * 86_400
    plan = history.plan_history(now=NOW, days=14, speed=60, newest=newest, saved=saved, key=KEY)
    assert plan.mode == "new-fleet"
    assert plan.anchor == plan.publish_from == newest + 1


def test_a_gap_longer_than_the_history_asked_is_not_replayed_whole() -> None:
    newest = NOW - 40 * 86_400
    saved = history.SavedFleet(key=KEY, anchor=NOW - 41 * 86_400)
    plan = history.plan_history(now=NOW, days=7, speed=60, newest=newest, saved=saved, key=KEY)
    assert plan.mode == "gap-too-long"
    assert plan.replay_s == 7 * 86_400
    assert plan.anchor == plan.publish_from > newest


def test_saved_fleet_round_trips_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "fleet-state.json"
    assert history.load_saved(path) is None
    saved = history.SavedFleet(key=KEY, anchor=123)
    history.save(path, saved)
    assert history.load_saved(path) == saved
    path.write_text('{"anchor": "x"}')
    assert history.load_saved(path) is None
    path.write_text("not json")
    assert history.load_saved(path) is None


# --------------------------------------------------------------------------- metrics


def test_metrics_parse_and_topic_labels_match_with_or_without_a_prefix() -> None:
    text = (
        "# HELP ww_sink_consumed_total records consumed\n"
        "# TYPE ww_sink_consumed_total counter\n"
        'ww_sink_consumed_total{topic="t1.waste.readings.v1"} 1200.0\n'
        'ww_sink_consumed_total{topic="t1.waste.status.v1"} 7.0\n'
        'ww_processor_consumed_total{processor="alerts",topic="waste.readings.v1"} 1100.0\n'
        'ww_processor_consumed_total{processor="forecast",topic="waste.readings.v1"} 900.0\n'
        "ww_bridge_in_flight 3.0\n"
        "garbage line\n"
    )
    m = parse(text)
    assert m.total("ww_sink_consumed_total", topic="waste.readings.v1") == 1200
    assert m.total("ww_sink_consumed_total") == 1207
    assert m.total("ww_processor_consumed_total", processor="alerts") == 1100
    assert m.total("ww_processor_consumed_total", topic="waste.readings.v1") == 2000
    assert m.total("ww_bridge_in_flight") == 3
    assert m.total("ww_processor_consumed_total", processor="rollups") == 0


# --------------------------------------------------------------------------- summary


def _figures() -> summary.Figures:
    return summary.Figures(
        phase="live",
        city="kalasin",
        database="wastewatch",
        bins=600,
        elapsed_s=75.0,
        event_time=datetime(2026, 9, 21, 7, 0, tzinfo=UTC),
        speed=60.0,
        readings_total=123_456,
        readings_per_s=39.5,
        urgency={"overflowing": 4, "urgent": 17, "soon": 80, "fine": 499},
        alerts=summary.order_alerts(
            [
                summary.AlertRow("offline", "warning", 9),
                summary.AlertRow("low_battery", "info", 3),
                summary.AlertRow("fire", "critical", 1),
                summary.AlertRow("landfill_capacity", "critical", 1),
            ]
        ),
        fires=(("kls-0042", datetime(2026, 9, 21, 6, 40, tzinfo=UTC)),),
        landfill=(
            summary.LandfillRow(
                "kls-landfill-1", "บ่อฝังกลบ", date(2026, 9, 21), 312.4, date(2027, 7, 30), 0.94
            ),
        ),
        routes_date=date(2026, 9, 21),
        routes=(
            summary.RouteRow("kls-truck-01", "general", 31, 42.5, 6.1),
            summary.RouteRow("kls-truck-05", "organic", 12, 20.0, 3.0),
        ),
        collections_24h=250,
        components=(summary.ComponentRow("sink", 101, "running", "9 readings written"),),
    )


def test_alerts_are_ordered_fire_first_then_by_severity() -> None:
    kinds = [a.kind for a in _figures().alerts]
    assert kinds == ["fire", "landfill_capacity", "offline", "low_battery"]


def test_summary_json_text_and_screen_carry_the_same_figures() -> None:
    f = _figures()
    data = summary.as_dict(f)
    assert data["bins_needing_collection"] == 21 == f.bins_needing_collection
    assert data["open_alerts"] == 14
    assert data["open_alerts_by_kind"]["fire"] == 1
    assert data["landfill_days_left"] == 312.4
    assert data["routes_planned"] == 2
    assert data["route_stops"] == 43
    assert json.loads(json.dumps(data)) == data
    plain = summary.text(f)
    assert "bins needing collection       21 (4 overflowing, 17 urgent" in plain
    assert "open alerts                   14 (1 fire, 1 landfill_capacity" in plain
    assert "FIRE at kls-0042 since 2026-09-21 13:40" in plain  # Bangkok time
    assert "312 days left" in plain
    console = Console(record=True, width=140, color_system=None)
    console.print(summary.render(f))
    screen = console.export_text()
    for needle in ("39.5", "123,456", "21  (4 overflowing", "kls-0042", "kls-truck-05", "312"):
        assert needle in screen


def test_no_landfill_trend_and_no_routes_yet_are_said_so() -> None:
    f = summary.Figures(phase="live", city="x", database="d", bins=1, elapsed_s=1.0)
    assert summary.as_dict(f)["landfill_days_left"] is None
    assert "no projection yet" in summary.text(f)
    console = Console(record=True, width=120, color_system=None)
    console.print(summary.render(f))
    assert "(not planned yet)" in console.export_text()


# --------------------------------------------------------------------------- processes


def test_a_process_that_ignores_sigterm_is_killed_with_its_group(tmp_path: Path) -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    p = Process("stubborn", [sys.executable, "-c", code], dict(os.environ), tmp_path / "s.log")
    p.start()
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline and not (tmp_path / "s.log").read_text().strip()[-1:].isdigit()
    ):
        time.sleep(0.1)
    grandchild = int((tmp_path / "s.log").read_text().split()[-1])
    assert p.stop(timeout_s=0.5) == -signal.SIGKILL
    assert p.state == "killed"
    assert p.poll() is not None
    time.sleep(0.2)
    assert not _alive(grandchild)


def test_a_process_stopped_on_request_is_stopped_and_one_that_exits_by_itself_died(
    tmp_path: Path,
) -> None:
    asked = Process("a", [sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path / "a")
    asked.start()
    assert asked.state == "running"
    assert asked.stop(timeout_s=10) in (0, -signal.SIGTERM)
    assert asked.state == "stopped"
    assert asked.stop(timeout_s=10) in (0, -signal.SIGTERM)  # safe twice
    assert asked.state == "stopped"
    crashed = Process("b", [sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path / "b")
    crashed.start()
    assert crashed.proc is not None
    crashed.proc.wait(10)
    assert crashed.state == "died"
    assert crashed.died


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------------------- the command


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (every process the demo started does)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in env.split(b"\0") and _alive(int(entry.name)):
            out.append(int(entry.name))
    return out


@pytest.fixture
def demo_env(stack_env: StackEnv, tmp_path: Path) -> Iterator[tuple[dict[str, str], SessionDb]]:
    """Environment for one demo run with resources of its own; removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    name = f"ww_test_demo_{tag}"
    server = stack_env.admin_dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')  # empty: the demo migrates it
    db = SessionDb(
        name=name,
        dsn=stack_env.admin_dsn.rsplit("/", 1)[0] + "/" + name,
        writer_dsn=stack_env.writer_dsn.rsplit("/", 1)[0] + "/" + name,
        reader_dsn=stack_env.reader_dsn.rsplit("/", 1)[0] + "/" + name,
        ingest_dsn=stack_env.ingest_dsn.rsplit("/", 1)[0] + "/" + name,
        processor_dsn=stack_env.processor_dsn.rsplit("/", 1)[0] + "/" + name,
    )
    prefix = f"demo{tag}."
    env = {
        **os.environ,
        "WW_DB_DSN": db.dsn,
        "WW_DB_WRITER_DSN": db.writer_dsn,
        "WW_DB_READER_DSN": db.reader_dsn,
        "WW_DB_INGEST_DSN": db.ingest_dsn,
        "WW_DB_PROCESSOR_DSN": db.processor_dsn,
        "WW_KAFKA_TOPIC_PREFIX": prefix,
        "WW_CITY": f"demo-{tag}",
        "WW_MQTT_CLIENT_ID": f"demo-{tag}-bridge",
        "WW_INGEST_SESSION_EXPIRY_S": "60",
        "WW_INGEST_SINK_GROUP": f"demo-{tag}-sink",
        "WW_PROCESSORS_GROUP_PREFIX": f"demo-{tag}-",
        "WW_INGEST_BRIDGE_METRICS_PORT": str(free_port()),
        "WW_INGEST_SINK_METRICS_PORT": str(free_port()),
        "WW_PROCESSORS_METRICS_PORT": str(free_port()),
        "WW_DEMO_TEST_MARKER": tag,
    }
    yield env, db
    for pid in _processes_with(f"WW_DEMO_TEST_MARKER={tag}"):
        os.kill(pid, signal.SIGKILL)  # only if the test failed: never leave them behind
    import asyncio

    asyncio.run(
        delete_prefixed_topics(
            KafkaSettings(bootstrap=stack_env.kafka_bootstrap, topic_prefix=prefix)
        )
    )
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _run_demo(env: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "wastewatch", "demo", "--json", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_demo_runs_the_pipeline_and_its_summary_matches_the_database(
    demo_env: tuple[dict[str, str], SessionDb], tmp_path: Path
) -> None:
    env, db = demo_env
    out = tmp_path / "out"
    common = (
        "--bins", "40", "--history-days", "0.25", "--route-seconds", "1",
        "--real-clients", "0", "--out", str(out), "--log-dir", str(tmp_path / "logs"),
    )  # fmt: skip
    code, stdout, stderr = _run_demo(env, tmp_path, "--minutes", "0.25", *common)
    assert code == 0, f"exit {code}\n{stdout[-3000:]}\n{stderr[-3000:]}"
    result = json.loads(stdout.strip().splitlines()[-1])
    marker = f"WW_DEMO_TEST_MARKER={env['WW_DEMO_TEST_MARKER']}"
    assert _processes_with(marker) == [], "the demo left processes running"
    for c in result["components"]:
        assert not _alive(c["pid"]), c
        assert c["state"] in ("stopped", "done"), c
    assert result["ok"] is True
    assert result["failures"] == []
    assert result["history"]["mode"] == "first"
    assert "=== wastewatch demo: final summary ===" in stdout  # the plain-text summary too

    with psycopg.connect(db.reader_dsn, autocommit=True) as conn:

        def one(sql: str, *params: object) -> Any:
            row = conn.execute(sql, params).fetchone()
            assert row is not None
            return row[0]

        readings = one("select count(*) from readings")
        # exactly once, end to end: every reading the fleet published is stored, once
        assert result["readings_total"] == readings == result["readings_published_this_run"]
        assert readings > 40 * 20  # 6 hours of 40 bins at 15 min, and the live minutes
        by_urgency: dict[str, int] = dict(
            conn.execute("select urgency, count(*) from bin_state group by 1")
        )
        assert {k: v for k, v in result["bins_by_urgency"].items() if v} == by_urgency
        assert sum(by_urgency.values()) == 40  # every simulated bin has a forecast
        assert result["bins_needing_collection"] == one(
            "select count(*) from bin_state where urgency in ('overflowing', 'urgent')"
        )
        open_by_kind: dict[str, int] = dict(
            conn.execute("select kind, count(*) from alerts where state = 'open' group by 1")
        )
        assert result["open_alerts_by_kind"] == open_by_kind
        assert result["open_alerts"] == sum(open_by_kind.values())
        day = date.fromisoformat(result["routes_date"])
        plans = conn.execute(
            "select distinct on (truck_id) plan_id, truck_id from route_plans "
            "where service_date = %s order by truck_id, created_at desc",
            [day],
        ).fetchall()
        assert result["routes_planned"] == len(plans) > 0
        assert result["route_stops"] == one(
            "select count(*) from route_stops where plan_id = any(%s)", [p[0] for p in plans]
        )
        days_left = [
            r[0]
            for r in conn.execute(
                "select distinct on (site_id) days_left from landfill_projections "
                "order by site_id, as_of desc"
            )
            if r[0] is not None
        ]
        if days_left:
            assert result["landfill_days_left"] == pytest.approx(min(days_left), abs=0.06)
        else:  # no trend yet after a few hours
            assert result["landfill_days_left"] is None
    geojson = json.loads((out / f"routes-{day.isoformat()}.geojson").read_text())
    assert geojson["type"] == "FeatureCollection"
    assert geojson["features"]
    assert_geojson(geojson)
    report = result["files"]["report"]
    assert report.endswith(".html")
    assert Path(report).is_file()

    # A second run continues the same fleet: no reading is published twice, and no
    # device's sequence numbers restart (a new simulation would start them at 0 again).
    code, stdout, stderr = _run_demo(env, tmp_path, "--minutes", "0.1", *common)
    assert code == 0, f"exit {code}\n{stdout[-3000:]}\n{stderr[-3000:]}"
    second = json.loads(stdout.strip().splitlines()[-1])
    assert second["history"]["mode"] in ("continue", "up-to-date")
    assert _processes_with(marker) == []
    with psycopg.connect(db.reader_dsn, autocommit=True) as conn:
        total = conn.execute("select count(*) from readings").fetchone()
        assert total is not None
        assert second["readings_total"] == total[0]
        assert total[0] - readings == second["readings_published_this_run"] > 0
        backwards = conn.execute(
            """
            select count(*) from (
                select boot_counter, seq,
                       lag(boot_counter) over w as prev_boot, lag(seq) over w as prev_seq
                from readings where flags & 32 = 0
                window w as (partition by device_id order by time, boot_counter, seq)
            ) r
            where boot_counter = prev_boot and seq <= prev_seq
            """
        ).fetchone()
        assert backwards == (0,)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_demo_exits_non_zero_and_stops_the_rest_when_a_component_dies(
    demo_env: tuple[dict[str, str], SessionDb], tmp_path: Path
) -> None:
    env, _ = demo_env
    marker = f"WW_DEMO_TEST_MARKER={env['WW_DEMO_TEST_MARKER']}"
    args = (
        "--json", "--bins", "20", "--history-days", "0.25", "--minutes", "2",
        "--real-clients", "0", "--out", str(tmp_path / "out"), "--log-dir", str(tmp_path / "logs"),
    )  # fmt: skip
    demo = subprocess.Popen(
        [sys.executable, "-m", "wastewatch", "demo", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        bridge = None
        deadline = time.monotonic() + 120
        while bridge is None and time.monotonic() < deadline and demo.poll() is None:
            mine = {p: _cmdline(p) for p in _processes_with(marker)}
            # once the fleet runs (the services are up and history is being replayed)
            if any("wastewatch.workbench.demo.sim_process" in c for c in mine.values()):
                bridge = next((p for p, c in mine.items() if "wastewatch.ingest.bridge" in c), None)
            time.sleep(0.3)
        assert bridge is not None, "the demo never got as far as starting its fleet"
        os.kill(bridge, signal.SIGKILL)
        stdout, stderr = demo.communicate(timeout=150)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    assert demo.returncode == 1, f"{stdout[-2000:]}\n{stderr[-2000:]}"
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["ok"] is False
    states = {c["name"]: c["state"] for c in result["components"]}
    assert states["bridge"] == "died"
    assert states["sink"] == "stopped"
    assert any("bridge" in f for f in result["failures"])
    assert "bridge" in stderr  # the one-line reason, with the end of its log
    assert _processes_with(marker) == [], "the demo left processes running"
