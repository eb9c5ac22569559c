"""The generated Grafana files: committed == generated, valid models, and the macro expander.

Pure (no services): Grafana cannot run here, so what Grafana checks when it
loads a provisioned dashboard is checked on the JSON instead.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from wastewatch.cli import dashboards as dashboards_cli
from wastewatch.grafana.alerting import RULES
from wastewatch.grafana.build import ALERTING_FILE, DASHBOARDS_DIR, PROVISIONING, build, render
from wastewatch.grafana.dashboards import boards
from wastewatch.grafana.errors import MacroError
from wastewatch.grafana.macros import TimeRange, expand

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(30)


def committed() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def datasources() -> dict[str, str]:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "timescaledb.yaml").read_text("utf-8"))
    return {d["uid"]: d["type"] for d in doc["datasources"]}


def test_committed_files_equal_what_the_python_generates() -> None:
    build(check=True)  # raises StaleFilesError naming the files otherwise
    for path, text in render().items():
        assert path.read_text("utf-8") == text, path


def test_cli_check_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    dashboards_cli.register(parser.add_subparsers())
    args = parser.parse_args(["dashboards", "build", "--check"])
    assert args.handler(args) == 0
    assert "up to date" in capsys.readouterr().out


def test_one_file_per_board_with_unique_uids() -> None:
    uids = [b.uid for b in boards()]
    assert len(set(uids)) == len(uids) == 4
    assert sorted(committed()) == sorted(uids)


def _datasource_refs(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            out.append(ds)
        elif ds is not None:
            out.append({"uid": ds, "type": "?"})
        for value in node.values():
            out.extend(_datasource_refs(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_datasource_refs(value))
    return out


@pytest.mark.parametrize("uid", sorted(b.uid for b in boards()))
def test_dashboard_is_a_valid_grafana_model(uid: str) -> None:
    dash = committed()[uid]
    assert dash["uid"] == uid
    assert len(uid) <= 40
    assert " / " in dash["title"]  # Thai / English
    assert dash["schemaVersion"] >= 36
    assert dash["timezone"] == "Asia/Bangkok"
    assert dash["time"]["to"] == "now"
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, int) and i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        assert " / " in p["title"], p["title"]
        pos = p["gridPos"]
        assert pos["w"] >= 1
        assert pos["h"] >= 1
        assert pos["x"] >= 0
        assert pos["y"] >= 0
        assert pos["x"] + pos["w"] <= 24, p["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] == "row":
            continue
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs)
        for t in p["targets"]:
            assert t["rawSql"].strip()
            assert t["rawQuery"] is True
            assert t["editorMode"] == "code"
            assert t["format"] in {"table", "time_series"}
    known = datasources()
    for ref in _datasource_refs(dash):
        assert ref.get("uid") in known, ref
        assert ref.get("type") == known[ref["uid"]], ref
    names = [v["name"] for v in dash["templating"]["list"]]
    assert len(set(names)) == len(names)


def test_registered_queries_are_the_sql_in_the_json() -> None:
    """What the query tests run is exactly what Grafana gets."""
    dashes = committed()
    for board in boards():
        panels = {p["id"]: p for p in dashes[board.uid]["panels"]}
        for q in board.queries:
            targets = {t["refId"]: t for t in panels[q.panel_id]["targets"]}
            assert targets[q.query.ref]["rawSql"] == q.query.sql, q.name
            assert targets[q.query.ref]["format"] == q.query.fmt, q.name
        in_json = sum(len(p.get("targets", [])) for p in panels.values())
        assert in_json == len(board.queries)


def test_alerting_file_is_valid_provisioning() -> None:
    doc = yaml.safe_load(ALERTING_FILE.read_text("utf-8"))
    assert doc["apiVersion"] == 1
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "provider.yaml").read_text("utf-8"))[
        "providers"
    ][0]
    known = datasources()
    uids = []
    for group in doc["groups"]:
        assert group["folder"] == provider["folder"]
        for rule in group["rules"]:
            uids.append(rule["uid"])
            refs = {d["refId"] for d in rule["data"]}
            assert rule["condition"] in refs
            for d in rule["data"]:
                assert d["datasourceUid"] in known or d["datasourceUid"] == "__expr__"
            # The broker's refusals need a look, not a night call: warning; the rest page.
            broker = rule["uid"].startswith("ww-broker-")
            assert rule["labels"]["severity"] == ("warning" if broker else "critical")
    assert len(set(uids)) == len(uids) == len(RULES)


def test_compose_mounts_the_provisioning_folder() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "provider.yaml").read_text("utf-8"))
    assert (
        provider["providers"][0]["options"]["path"] == "/etc/grafana/provisioning/dashboards/json"
    )


TR = TimeRange(datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(2026, 1, 2, 6, 30, tzinfo=UTC))


def test_expander_time_macros() -> None:
    sql = (
        "SELECT $__timeGroupAlias(h.bucket, $__interval), $__timeGroup(t, 1d) FROM x "
        "WHERE $__timeFilter(h.bucket) AND t < $__timeTo() AND t > $__timeFrom()"
    )
    out = expand(sql, time_range=TR, interval="15m")
    assert out == (
        "SELECT time_bucket('900s',h.bucket) AS \"time\", time_bucket('86400s',t) FROM x "
        "WHERE h.bucket BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-02T06:30:00Z' "
        "AND t < '2026-01-02T06:30:00Z' AND t > '2026-01-01T00:00:00Z'"
    )


def test_expander_variables_like_grafana_sql_datasources() -> None:
    sql = "WHERE zone_id IN ($zone) AND stream IN (${stream}) AND bin_id = '$bin' AND s = $share"
    out = expand(
        sql,
        time_range=TR,
        variables={"zone": ["z1", "o'k"], "stream": ["general"], "bin": "kls-1", "share": "0.3"},
    )
    assert out == (
        "WHERE zone_id IN ('z1','o''k') AND stream IN ('general') AND bin_id = 'kls-1' AND s = 0.3"
    )


@pytest.mark.parametrize(
    "sql",
    ["SELECT $__unixEpochFilter(t)", "SELECT $missing", "SELECT $__timeFilter()"],
)
def test_expander_refuses_what_it_does_not_know(sql: str) -> None:
    with pytest.raises(MacroError):
        expand(sql, time_range=TR, variables={})
