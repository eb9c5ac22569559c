"""`wastewatch bench dashboards` on a tiny city: every panel of every board gets a timing.

Speed is not asserted (the 200 ms target is for 90 days x 1,000 bins, measured by
the command itself); what is checked is the JSON contract of the last stdout
line, that every panel query was run on every range the README promises, that
the queries ran on the loaded data (row counts the load implies), and that a
second run reuses the load instead of loading again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import SessionDb, StackEnv
from wastewatch.grafana.dashboards import boards
from wastewatch.grafana.dashboards import sensor_health as fleet
from wastewatch.grafana.dashboards.sensor_health import FAULT_FLAGS
from wastewatch.schema.migrate import SQL_DIR
from wastewatch.workbench.bench.dashboards import time_ranges

BINS = 2
DAYS = 2
"""Two days: the load's per-day statements meet once (at any minute of the clock)."""


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "wastewatch", "bench", "dashboards", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_time_ranges_per_board() -> None:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    got = {b.uid: [label for label, _ in time_ranges(b, end)] for b in boards()}
    assert got == {
        "ww-operations": ["24h"],
        "ww-landfill": ["90d"],
        "ww-fleet": ["24h", "7d"],
        "ww-collections": ["30d", "90d"],
    }
    ((_, tr),) = time_ranges(boards()[0], end)
    assert (tr.end - tr.start).total_seconds() == 86400
    assert tr.end == end


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_tiny_run_times_every_panel_and_reuses_its_load(stack_env: StackEnv) -> None:
    name = f"ww_bench_dash_test_{uuid.uuid4().hex[:8]}"
    common = ["--days", str(DAYS), "--bins", str(BINS), "--database", name, "--repeat", "1"]
    try:
        first = _run(*common)
        second = _run(*common, "--drop-db")
    finally:
        server = stack_env.admin_dsn.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(server, autocommit=True) as conn:
            left = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
            conn.execute(f'drop database if exists "{name}" with (force)')
    assert left is None, "--drop-db left the database behind"

    end = datetime.fromisoformat(first["data_end"])
    expected = {
        f"{q.name}@{label}" for b in boards() for label, _ in time_ranges(b, end) for q in b.queries
    }
    panels = {(q.board_uid, q.panel_id) for b in boards() for q in b.queries}
    for result in (first, second):
        assert set(result["per_panel"]) == expected
        assert result["panels"] == len(panels)
        assert result["timings"] == len(expected)
        # one reading per bin per 15 minutes, for the whole day
        assert result["rows"] == BINS * DAYS * 96
        for key, t in result["per_panel"].items():
            assert 0 <= t["median_ms"] <= t["max_ms"], key
        per = result["per_panel"]
        assert result["slowest_ms"] == max(t["median_ms"] for t in per.values())
        slowest_key = result["slowest_panel"].split(" ", 1)[0]
        assert per[slowest_key]["median_ms"] == result["slowest_ms"]
        # The queries ran on the loaded data: the map shows both bins (one layer per
        # stream), and the one-bin fill curve every reading of the day.
        assert sum(per[f"ww-operations#5{r}@24h"]["rows"] for r in "ABCD") == BINS
        assert per["ww-collections#9A@30d"]["rows"] == DAYS * 96
        assert per["ww-fleet#8A@24h"]["rows"] in {24, 25}  # hourly points of the range
        assert per["ww-fleet#3A@24h"]["rows"] == BINS
    assert first["reused"] is False
    assert first["load_s"] > 0
    assert second["reused"] is True
    assert second["load_s"] == 0
    assert second["data_end"] == first["data_end"]


def test_fault_hours_predicate_matches_the_partial_index() -> None:
    """The fleet fault table and the partial index of 0008 must use the same literal,
    or the planner cannot prove the index applies and scans every hour again."""
    sql = (SQL_DIR / "0008_dashboard_speed.sql").read_text("utf-8")
    assert FAULT_FLAGS == 102
    assert f"WHERE flags_any & {FAULT_FLAGS} <> 0;" in sql
    faults = next(q for q in fleet.build().queries if "sensor_fault_h" in q.query.sql)
    assert f"h.flags_any & {FAULT_FLAGS} <> 0" in faults.query.sql


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_battery_daily_follows_the_rollup_merge(test_db: SessionDb) -> None:
    """bin_battery_daily (0008) holds the least battery_min per bin and UTC day, through
    inserts and through the rollup processor's upsert (processors/rollup_stage.py)."""
    upsert = """insert into bin_hourly as h (bucket, bin_id, zone_id, stream, readings, levels,
          fill_sum, last_reading_at, battery_min)
        values (%s, %s, 'z', 'general', 1, 1, 0.5, %s, %s)
        on conflict (bin_id, bucket) do update set readings = h.readings + excluded.readings,
          battery_min = least(h.battery_min, excluded.battery_min)"""
    bin_id = f"batt-{uuid.uuid4().hex[:8]}"
    day = datetime(2026, 3, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    with psycopg.connect(test_db.writer_dsn, autocommit=True) as conn:
        for t, mv in [
            (day + 3 * hour, 3900),
            (day + 5 * hour, 3880),
            (day + 3 * hour, 3870),  # merged into the 03:00 row: lower
            (day + 6 * hour, 3950),  # higher: the day keeps 3870
            (day + 6 * hour, None),  # no battery in this batch: least() keeps 3950
            (day + 25 * hour, 3860),  # the next UTC day
        ]:
            conn.execute(upsert, [t, bin_id, t, mv])
        got = conn.execute(
            "select day, battery_min from bin_battery_daily where bin_id = %s order by day",
            [bin_id],
        ).fetchall()
        hourly_min = conn.execute(
            "select time_bucket('1 day', bucket), min(battery_min) from bin_hourly "
            "where bin_id = %s group by 1 order by 1",
            [bin_id],
        ).fetchall()
    assert got == [(day, 3870), (day + timedelta(days=1), 3860)]
    assert got == hourly_min
