"""The planners' HTTP API against the real TimescaleDB, after the planners' replay.

Most tests go through Starlette's TestClient (httpx, the app's lifespan and its real
connection pool) on an app whose settings hold *only* the reader DSN that works: the
admin and writer DSNs point nowhere, so anything answered came through the read-only
role.  One test runs the real `wastewatch api` (uvicorn) on a free 127.0.0.1 port with
a token.  Every answer is checked against an independent query on the tables.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel

from tests.conftest import SessionDb, StackEnv
from tests.planning_data import BOGUS_DSN, PlanningData, planning_data, running_api
from wastewatch.api import models
from wastewatch.api.app import create_app
from wastewatch.api.errors import ApiConfigError
from wastewatch.api.ngsi import ENTITY_PREFIX
from wastewatch.core.settings import ApiSettings, DbSettings, Settings
from wastewatch.workbench.stack import free_port

# -- pure ------------------------------------------------------------------------------------


def test_the_api_needs_the_reader_dsn() -> None:
    with pytest.raises(ApiConfigError, match="WW_DB_READER_DSN is not set"):
        create_app(Settings(db=DbSettings(dsn=BOGUS_DSN, writer_dsn=BOGUS_DSN, reader_dsn=None)))


# -- against the replay ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(test_db: SessionDb, stack_env: StackEnv) -> PlanningData:
    return planning_data(test_db, stack_env.kafka_bootstrap)


def _reader_only(data: PlanningData, **api: Any) -> Settings:
    return Settings(
        db=DbSettings(dsn=BOGUS_DSN, writer_dsn=BOGUS_DSN, reader_dsn=data.reader_dsn),
        api=ApiSettings(**api),
    )


@pytest.fixture(scope="module")
def client(data: PlanningData) -> Iterator[TestClient]:
    app = create_app(_reader_only(data))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def admin(data: PlanningData) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(data.admin_dsn, autocommit=True) as conn:
        yield conn


def _ok(client: TestClient, url: str, model: type[BaseModel] | None = None, **params: Any) -> Any:
    r = client.get(url, params=params)
    assert r.status_code == 200, (url, r.text)
    body = r.json()
    if model is not None:
        model.model_validate(body)  # the OpenAPI shapes are what is sent (extra keys forbidden)
    return body


@pytest.mark.integration
def test_the_api_connects_as_the_reader_role_and_cannot_write(
    client: TestClient, data: PlanningData
) -> None:
    pool = client.app.state.db.pool  # type: ignore[attr-defined]
    reader = conninfo_to_dict(data.reader_dsn)["user"]
    writer = conninfo_to_dict(data.writer_dsn)["user"]
    assert reader != writer

    async def current_user() -> str:
        async with pool.connection() as conn:
            row = await (await conn.execute("select current_user")).fetchone()
            return str(row[0])

    async def insert(read_write: bool) -> None:
        async with pool.connection() as conn, conn.transaction():
            if read_write:
                await conn.execute("set transaction read write")
            await conn.execute(
                "insert into zones (zone_id, name_en, name_th) values ('x-api', 'x', 'x')"
            )

    assert client.portal.call(current_user) == reader
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        client.portal.call(insert, False)
    # even in a read-write transaction, the role itself has no INSERT privilege
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        client.portal.call(insert, True)


@pytest.mark.integration
def test_the_api_refuses_a_role_that_can_write(data: PlanningData) -> None:
    settings = Settings(db=DbSettings(dsn=BOGUS_DSN, reader_dsn=data.writer_dsn))
    app = create_app(settings)
    with pytest.raises(ApiConfigError, match="can change"), TestClient(app):
        pass


@pytest.mark.integration
def test_health_openapi_zones_and_streams(client: TestClient, data: PlanningData) -> None:
    assert _ok(client, "/healthz", models.Health) == {"status": "ok", "database": "ok"}
    spec = _ok(client, "/openapi.json")
    for path in (
        "/v1/bins",
        "/v1/bins/{bin_id}",
        "/v1/bins/{bin_id}/readings",
        "/v1/collections",
        "/v1/history",
        "/v1/alerts",
        "/v1/landfill",
        "/v1/landfill/what-if",
        "/v1/routes/{service_date}",
        "/v1/ngsi-ld/WasteContainer",
        "/v1/ngsi-ld/WasteContainer/{entity_id}",
    ):
        assert path in spec["paths"], path
    names = [p["name"] for p in spec["paths"]["/v1/collections"]["get"]["parameters"]]
    assert {"zone", "stream", "bin_id", "from", "to", "limit", "offset", "format"} <= set(names)
    zones = _ok(client, "/v1/zones")
    mine = {z["zone_id"]: z["bins"] for z in zones if z["zone_id"] in data.zones}
    assert set(mine) == set(data.zones)
    assert sum(mine.values()) == len(data.bins)
    streams = {s["stream"] for s in _ok(client, "/v1/streams")}
    assert streams >= {"general", "recyclable", "organic", "hazardous"}
    assert client.get("/v1/zones", params={"format": "csv"}).text.startswith("zone_id,name_en")


@pytest.mark.integration
def test_bins_with_current_state(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    zone = data.zones[2]
    body = _ok(client, "/v1/bins", models.Listing[models.Bin], zone=zone, limit=1000)
    state = {
        r[0]: r[1:]
        for r in admin.execute(
            "select b.bin_id, s.fill_level, s.urgency from bins b "
            "left join bin_state s using (bin_id) where b.zone_id = %s",
            [zone],
        )
    }
    assert {i["bin_id"] for i in body["items"]} == set(state)
    for item in body["items"]:
        fill, urgency = state[item["bin_id"]]
        assert item["zone_id"] == zone
        assert item["urgency"] == urgency
        assert item["fill_level"] == pytest.approx(fill, abs=1e-5)
    by_fill = _ok(client, "/v1/bins", zone=",".join(data.zones), sort="fill_level", limit=1000)
    fills = [i["fill_level"] for i in by_fill["items"] if i["fill_level"] is not None]
    assert fills == sorted(fills, reverse=True)
    urgent = _ok(client, "/v1/bins", zone=",".join(data.zones), urgency=["urgent", "overflowing"])
    assert {i["urgency"] for i in urgent["items"]} <= {"urgent", "overflowing"}


@pytest.mark.integration
def test_pages_are_disjoint_and_complete(client: TestClient, data: PlanningData) -> None:
    zones = ",".join(data.zones)
    whole = _ok(client, "/v1/bins", zone=zones, limit=1000)
    assert whole["next_offset"] is None
    assert whole["count"] == len(data.bins)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = _ok(client, "/v1/bins", zone=zones, limit=7, offset=offset)
        assert page["count"] <= 7
        seen += [i["bin_id"] for i in page["items"]]
        offset = page["next_offset"]
    assert seen == [i["bin_id"] for i in whole["items"]]


@pytest.mark.integration
def test_one_bin_and_its_readings(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    bin_id = data.bins[0]
    detail = _ok(client, f"/v1/bins/{bin_id}", models.BinDetail)
    assert detail["bin_id"] == bin_id
    recent = detail["recent_collections"]
    assert 0 < len(recent) <= 10
    assert [c["time"] for c in recent] == sorted((c["time"] for c in recent), reverse=True)
    assert {c["bin_id"] for c in recent} == {bin_id}
    window = {"from": "2026-09-05", "to": "2026-09-05"}  # the whole Bangkok day
    expected = admin.execute(
        "select count(*) from readings where bin_id = %s "
        "and time >= '2026-09-04T17:00Z' and time < '2026-09-05T17:00Z'",
        [bin_id],
    ).fetchone()[0]
    body = _ok(
        client, f"/v1/bins/{bin_id}/readings", models.Listing[models.Reading], limit=1000, **window
    )
    assert body["count"] == expected > 0
    times = [datetime.fromisoformat(i["time"]) for i in body["items"]]
    assert times == sorted(times, reverse=True)
    assert all(
        datetime(2026, 9, 4, 17, tzinfo=UTC) <= t < datetime(2026, 9, 5, 17, tzinfo=UTC)
        for t in times
    )
    assert all((i["flags"] == 0) == (i["flag_names"] == []) for i in body["items"])
    oldest = _ok(client, f"/v1/bins/{bin_id}/readings", order="asc", limit=1, **window)
    assert datetime.fromisoformat(oldest["items"][0]["time"]) == min(times)
    assert client.get("/v1/bins/nope").status_code == 404
    assert client.get("/v1/bins/nope/readings").status_code == 404


@pytest.mark.integration
def test_collections_json_and_csv_match_the_table(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    params = {"zone": data.zones[6], "from": "2026-09-03", "to": "2026-09-09", "limit": 1000}
    expected = {
        r[0]
        for r in admin.execute(
            "select event_id from collections where zone_id = %s "
            "and time >= '2026-09-02T17:00Z' and time < '2026-09-09T17:00Z'",
            [data.zones[6]],
        )
    }
    body = _ok(client, "/v1/collections", models.Listing[models.Collection], **params)
    assert {i["event_id"] for i in body["items"]} == expected
    assert expected
    r = client.get("/v1/collections", params={**params, "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="collections.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["event_id"] for x in rows] == [i["event_id"] for i in body["items"]]
    assert float(rows[0]["mass_kg"]) == pytest.approx(body["items"][0]["mass_kg"])


@pytest.mark.integration
def test_history_endpoint_totals(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    body = _ok(
        client,
        "/v1/history",
        models.Listing[models.HistoryRow],
        zone=",".join(data.zones),
        month=data.month,
        per="week",
        by="stream",
    )
    n, kg = admin.execute(
        "select count(*), coalesce(sum(mass_kg::float8), 0) from collections "
        "where zone_id = any(%s) and time >= '2026-08-31T17:00Z' and time < '2026-09-30T17:00Z'",
        [list(data.zones)],
    ).fetchone()
    assert sum(i["collections"] for i in body["items"]) == n > 0
    assert sum(i["mass_kg"] for i in body["items"]) == pytest.approx(kg, abs=0.5)


@pytest.mark.integration
def test_alerts_filters(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    zones = ",".join(data.zones)
    everything = _ok(client, "/v1/alerts", models.Listing[models.Alert], zone=zones, limit=1000)
    expected = admin.execute(
        "select count(*) from alerts a join bins b on b.device_id = a.device_id "
        "where b.zone_id = any(%s)",
        [list(data.zones)],
    ).fetchone()[0]
    assert everything["count"] == expected > 0
    open_ = _ok(client, "/v1/alerts", zone=zones, state="open", limit=1000)["items"]
    assert {a["state"] for a in open_} <= {"open"}
    assert {a["resolved_at"] for a in open_} <= {None}
    kinds = {a["kind"] for a in everything["items"]}
    one = sorted(kinds)[0]
    only = _ok(client, "/v1/alerts", zone=zones, kind=one, limit=1000)["items"]
    assert only
    assert {a["kind"] for a in only} == {one}
    assert len(only) == sum(a["kind"] == one for a in everything["items"])
    ranged = _ok(client, "/v1/alerts", zone=zones, **{"from": "2026-09-10"}, limit=1000)["items"]
    assert all(a["opened_at"] >= "2026-09-10T00:00:00+07:00" for a in ranged)


@pytest.mark.integration
def test_landfill_and_what_if(
    client: TestClient,
    data: PlanningData,
    admin: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sites = _ok(client, "/v1/landfill", models.LandfillSites, site=data.site)["items"]
    latest = admin.execute(
        "select as_of, remaining_m3, full_date from landfill_projections where site_id = %s "
        "order by as_of desc limit 1",
        [data.site],
    ).fetchone()
    assert len(sites) == 1
    assert sites[0]["as_of"] == latest[0].isoformat()
    assert sites[0]["remaining_m3"] == pytest.approx(latest[1])
    what_if = _ok(
        client,
        "/v1/landfill/what-if",
        models.WhatIf,
        divert="recyclable=0.3,organic=0.5",
        site=data.site,
    )
    (answer,) = what_if["what_if"]
    assert answer["with_diversion"]["rate_m3_per_day"] < answer["baseline"]["rate_m3_per_day"]
    assert answer["full_date_with_diversion"] >= answer["full_date"]
    # the same answer as `wastewatch landfill what-if` (the processors' own projection)
    from tests.planning_data import keep_logging
    from wastewatch.cli import main

    keep_logging(monkeypatch)
    monkeypatch.setenv("WW_DB_READER_DSN", data.reader_dsn)
    capsys.readouterr()
    code = main(["landfill", "what-if", "--divert", "recyclable=0.3,organic=0.5", "--json"])
    assert code == 0
    import json

    cli = {s["site_id"]: s for s in json.loads(capsys.readouterr().out)["what_if"]}
    assert cli[data.site]["full_date_with_diversion"] == answer["full_date_with_diversion"]
    assert cli[data.site]["days_gained"] == answer["days_gained"]
    code = main(["landfill", "what-if", "--divert", "recyclable=0.3", "--site", data.site])
    assert code == 0
    assert "moves the projected full date from" in capsys.readouterr().out
    assert main(["landfill", "status", "--site", data.site, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)["sites"]
    assert status["remaining_m3"] == pytest.approx(sites[0]["remaining_m3"])
    assert status["full_date"] == answer["full_date"]


@pytest.mark.integration
def test_routes_of_a_day(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    day = data.route_date.isoformat()
    trucks = ",".join(data.trucks)
    body = _ok(client, f"/v1/routes/{day}", models.Routes, truck=trucks)
    expected = {
        r[0]: r[1]
        for r in admin.execute(
            "select distinct on (p.truck_id) p.plan_id, "
            "(select count(*) from route_stops s where s.plan_id = p.plan_id) "
            "from route_plans p where p.service_date = %s and p.truck_id = any(%s) "
            "order by p.truck_id, p.created_at desc",
            [data.route_date, list(data.trucks)],
        )
    }
    assert {p["plan_id"]: len(p["stops"]) for p in body["plans"]} == expected
    assert any(expected.values()), "the planner routed no bin"
    for plan in body["plans"]:
        assert [s["sequence"] for s in plan["stops"]] == list(range(1, len(plan["stops"]) + 1))
    # Every visit is a stop, a repeat visit says so (route_stops.visit, migration 0012).
    visits = admin.execute(
        "select plan_id, sequence, visit from route_stops where plan_id = any(%s)",
        [list(expected)],
    ).fetchall()
    served = {(p["plan_id"], s["sequence"], s["visit"]) for p in body["plans"] for s in p["stops"]}
    assert served == set(visits)
    r = client.get(f"/v1/routes/{day}", params={"truck": trucks, "format": "csv"})
    assert r.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == sum(expected.values())
    assert _ok(client, "/v1/routes/2020-01-01")["plans"] == []


@pytest.mark.integration
def test_ngsi_ld_export(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    zone = data.zones[0]
    r = client.get("/v1/ngsi-ld/WasteContainer", params={"zone": zone})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/ld+json")
    entities = r.json()
    state = {
        r[0]: r[1:]
        for r in admin.execute(
            "select b.bin_id, s.fill_level, b.latitude, b.longitude from bins b "
            "left join bin_state s using (bin_id) where b.zone_id = %s",
            [zone],
        )
    }
    assert {e["id"].removeprefix(ENTITY_PREFIX) for e in entities} == set(state)
    for e in entities:
        fill, lat, lon = state[e["id"].removeprefix(ENTITY_PREFIX)]
        assert e["type"] == "WasteContainer"
        assert e["location"]["value"]["coordinates"] == [lon, lat]
        assert e["fillingLevel"]["value"] == pytest.approx(fill, abs=1e-4)
        assert 0.0 <= e["fillingLevel"]["value"] <= 1.0
        assert e["status"]["value"] in {"ok", "dropped", "burning", "unknown"}
        assert e["@context"]
    one = client.get(f"/v1/ngsi-ld/WasteContainer/{entities[0]['id']}?options=keyValues")
    assert one.status_code == 200
    assert one.json()["id"] == entities[0]["id"]
    assert one.json()["fillingLevel"] == entities[0]["fillingLevel"]["value"]
    assert (
        client.get("/v1/ngsi-ld/WasteContainer/urn:ngsi-ld:WasteContainer:nope").status_code == 404
    )


BAD = [
    ("/v1/bins", {"limit": "1001"}, "limit"),
    ("/v1/bins", {"limit": "0"}, "limit"),
    ("/v1/bins", {"limit": "ten"}, "limit"),
    ("/v1/bins", {"offset": "-1"}, "offset"),
    ("/v1/bins", {"sort": "name; drop table bins"}, "sort"),
    ("/v1/bins", {"urgency": "panic"}, "urgency"),
    ("/v1/bins", {"format": "xml"}, "format"),
    ("/v1/bins", {"zone": "nowhere"}, "unknown zone 'nowhere'"),
    ("/v1/bins", {"stream": "plastic"}, "unknown stream 'plastic'"),
    ("/v1/collections", {"bin_id": "nope"}, "unknown bin 'nope'; see /v1/bins"),
    ("/v1/collections", {"from": "2026-09-10", "to": "2026-09-01"}, "is not before"),
    ("/v1/collections", {"from": "yesterday"}, "'yesterday' is not a date"),
    ("/v1/collections", {"month": "2026-13"}, "is not a month"),
    ("/v1/collections", {"month": "2026-09", "days": "3"}, "only one of"),
    ("/v1/collections", {"month": "9999-12"}, "month: '9999-12' is out of range"),
    ("/v1/history", {"month": "9999-12"}, "month: '9999-12' is out of range"),
    ("/v1/alerts", {"month": "9999-12"}, "month: '9999-12' is out of range"),
    ("/v1/bins/pl-kls-0001/readings", {"month": "9999-12"}, "month: '9999-12' is out of range"),
    ("/v1/collections", {"to": "9999-12-31"}, "to: '9999-12-31' is out of range"),
    ("/v1/collections", {"from": "0001-01-01"}, "from: '0001-01-01' is out of range"),
    ("/v1/collections", {"from": "2026-09-01 08:00"}, "is not written as YYYY-MM-DD"),
    ("/v1/routes/9999-12-31", {}, "is not a date"),
    ("/v1/bins/NOT A BIN", {}, "bin_id"),
    ("/v1/collections", {"days": "0"}, "days"),
    ("/v1/history", {"per": "year"}, "per"),
    ("/v1/history", {"by": "truck"}, "by"),
    ("/v1/alerts", {"kind": "fire'--"}, "not an alert kind"),
    ("/v1/alerts", {"severity": "high"}, "severity"),
    ("/v1/alerts", {"state": "closed"}, "state"),
    ("/v1/alerts", {"site": "nowhere"}, "unknown site"),
    ("/v1/landfill", {"site": "nowhere"}, "unknown site"),
    ("/v1/landfill/what-if", {}, "divert"),
    ("/v1/landfill/what-if", {"divert": "recyclable=2"}, "between 0 and 1"),
    ("/v1/landfill/what-if", {"divert": "plastic=0.5"}, "unknown stream 'plastic'"),
    ("/v1/landfill/what-if", {"divert": "recyclable"}, "STREAM=SHARE"),
    ("/v1/routes/2026-13-01", {}, "is not a date"),
    ("/v1/routes/2026-09-17", {"truck": "nope"}, "unknown truck"),
    ("/v1/bins/x/readings", {"order": "sideways"}, "order"),
    ("/v1/ngsi-ld/WasteContainer", {"options": "concise"}, "options"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("url", "params", "says"), BAD, ids=[f"{u} {p}" for u, p, _ in BAD])
def test_bad_parameters_are_422_saying_what_is_wrong(
    client: TestClient, data: PlanningData, url: str, params: dict[str, str], says: str
) -> None:
    r = client.get(url, params=params)
    assert r.status_code == 422, r.text
    models.Error.model_validate(r.json())  # the body /openapi.json documents for 422
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    assert says in detail


INJECTIONS = [
    ("/v1/bins", {"zone": "' or 1=1 --"}),
    ("/v1/bins", {"bin_id": "x'; drop table bins; --"}),
    ("/v1/bins", {"stream": "general' or 'a'='a"}),
    ("/v1/collections", {"from": "2026-09-01' or 1=1 --"}),
    ("/v1/history", {"per": "day', now()) --"}),
    ("/v1/alerts", {"kind": "fire' or 1=1 --"}),
    ("/v1/landfill/what-if", {"divert": "recyclable=0.3;delete from alerts"}),
    ("/v1/bins/x' or '1'='1", {}),
    ("/v1/bins/x' or '1'='1/readings", {}),
    ("/v1/routes/2026-09-17' or 1=1 --", {}),
    ("/v1/ngsi-ld/WasteContainer/urn:ngsi-ld:WasteContainer:' or 1=1 --", {}),
]


@pytest.mark.integration
@pytest.mark.parametrize(("url", "params"), INJECTIONS, ids=[u for u, _ in INJECTIONS])
def test_injection_attempts_get_422_or_nothing(
    client: TestClient, data: PlanningData, admin: psycopg.Connection[Any], url: str, params: Any
) -> None:
    r = client.get(url, params=params)
    assert r.status_code in (404, 422), (r.status_code, r.text)
    assert data.bins[0] not in r.text  # no row leaked into the answer
    assert admin.execute("select count(*) from bins").fetchone()[0] >= len(data.bins)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_the_real_server_with_a_token(data: PlanningData, tmp_path: Any) -> None:
    with running_api(data.reader_dsn, "s3cret-token", tmp_path) as (base, proc, log_path):
        assert httpx.get(f"{base}/openapi.json").status_code == 200
        denied = httpx.get(f"{base}/v1/bins")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        wrong = httpx.get(f"{base}/v1/bins", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = httpx.get(
            f"{base}/v1/bins",
            params={"zone": data.zones[0]},
            headers={"Authorization": "Bearer s3cret-token"},
        )
        assert good.status_code == 200
        assert good.json()["count"] > 0
    # uvicorn shuts down gracefully on SIGTERM, then ends by that signal (as it should)
    assert proc.returncode in (0, -signal.SIGTERM), log_path.read_text()
    assert "Application shutdown complete" in log_path.read_text()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("reader", "says"),
    [
        ("", "WW_DB_READER_DSN is not set: the API reads only through the read-only role"),
        ("writer", "of WW_DB_READER_DSN can change bins"),
        (BOGUS_DSN, "cannot connect with WW_DB_READER_DSN: connection failed"),
    ],
)
def test_the_command_refuses_in_one_line(
    data: PlanningData, tmp_path: Any, reader: str, says: str
) -> None:
    env = {**os.environ, "WW_DB_READER_DSN": data.writer_dsn if reader == "writer" else reader}
    out = subprocess.run(
        [sys.executable, "-m", "wastewatch", "api", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("wastewatch: ")
    assert says in lines[0]
