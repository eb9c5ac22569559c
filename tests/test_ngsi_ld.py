"""The FIWARE export against the official smart-data-models schemas and the NGSI-LD API.

Every entity the API can return -- the 600 Kalasin bins as ``WasteContainer`` and their
container models as ``WasteContainerModel``, in keyValues and normalized form -- is
validated against the models' JSON Schemas.  Those are built by ``tests/ngsi_schema.py``
from the attribute database that ``pysmartdatamodels`` ships (types, formats, enums,
also enums stated only in the descriptions, required attributes, NGSI-LD envelopes),
because ``pysmartdatamodels.validate_payload`` downloads ``schema.json`` from GitHub,
which this machine and CI cannot reach: same constraints, same package, offline.

The protocol (ETSI GS CIM 009 read path) is checked over HTTP with httpx (the app's
TestClient), and the read path is also consumed by a real NGSI-LD client library,
``ngsildclient``: it pins ``rich<13`` (the project needs ``rich>=13``), so it runs in a
venv of its own (built once into ``~/.cache/wastewatch``) against the API served by
uvicorn on a free port, in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import SessionDb, StackEnv, fresh_database
from tests.ngsi_schema import errors_of, metadata, schema
from tests.planning_data import BOGUS_DSN
from wastewatch.api.app import create_app
from wastewatch.api.ngsi import (
    CONTEXT_URL,
    WASTE_KIND,
    status_of,
    thai_address,
    waste_container,
    waste_container_model,
)
from wastewatch.city.citydata import load_city
from wastewatch.city.importer import import_city
from wastewatch.core.settings import DbSettings, Settings
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.stack import free_port

BASE = "/ngsi-ld/v1/entities"
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"'

# -- pure -------------------------------------------------------------------------------------


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "bin_id": "kls-0001",
        "device_id": "kls-bin-0001",
        "name": "ตลาด",
        "address": "ถนนกาฬสินธุ์ ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000",
        "zone_id": "kls-z01",
        "stream": "recyclable",
        "latitude": 16.43,
        "longitude": 103.51,
        "volume_l": 240.0,
        "container_model": "wheelie-240",
        "collection_threshold": 0.8,
        "installed_at": datetime(2025, 11, 3, 2, 7, tzinfo=UTC),
        "fill_level": 0.42,
        "urgency": "fine",
        "collect_by": datetime(2026, 9, 17, 23, 29, tzinfo=UTC),
        "last_reading_at": datetime(2026, 9, 16, 16, 55, tzinfo=UTC),
        "last_collection_at": datetime(2026, 9, 15, 3, 0, tzinfo=UTC),
        "open_alerts": [],
    }
    row.update(over)
    return row


ROWS = [
    _row(),
    *(_row(stream=s) for s in ("general", "organic", "hazardous", "a-new-stream")),
    _row(open_alerts=["fire"], fill_level=1.0),
    _row(open_alerts=["tipped_over"]),
    _row(
        urgency=None,
        fill_level=None,
        last_reading_at=None,
        collect_by=None,
        last_collection_at=None,
        device_id=None,
        container_model="unknown",
        address=None,
        name=None,
        zone_id=None,
        installed_at=None,
    ),
    _row(container_model="euro-1100", volume_l=1100.0, address="ตลาดโต้รุ่ง"),
    _row(container_model="custom skip 6 m³", volume_l=6000.0),
]


def test_ngsi_entity_follows_the_waste_container_model() -> None:
    never_emptied = _row(stream="organic", last_collection_at=None)
    e = waste_container(never_emptied)
    assert e["id"] == "urn:ngsi-ld:WasteContainer:kls-0001"
    assert e["type"] == "WasteContainer"
    assert e["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [103.51, 16.43]},
    }
    assert e["fillingLevel"] == {
        "type": "Property",
        "value": 0.42,
        "observedAt": "2026-09-16T16:55:00Z",
    }
    assert e["nextActuationDeadline"]["value"] == {
        "@type": "DateTime",
        "@value": "2026-09-17T23:29:00Z",
    }
    assert "dateLastEmptying" not in e  # never emptied: no attribute rather than null
    assert e["storedWasteKind"]["value"] == "organic"
    assert e["binFullnessThreshold"]["value"] == 80.0
    assert e["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:kls-bin-0001"}
    assert "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld" in e["@context"]
    kv = waste_container(never_emptied, key_values=True)
    assert kv["fillingLevel"] == 0.42
    assert kv["location"] == {"type": "Point", "coordinates": [103.51, 16.43]}
    assert kv["status"] == "ok"


@pytest.mark.parametrize(
    ("alerts", "has_state", "status"),
    [
        ([], True, "ok"),
        (["fire", "tipped_over"], True, "burning"),
        (["tipped_over"], True, "dropped"),
        (["offline"], True, "unknown"),
        ([], False, "unknown"),
        (["low_battery"], True, "ok"),
    ],
)
def test_ngsi_status_from_open_alerts(alerts: list[str], has_state: bool, status: str) -> None:
    assert status_of(alerts, has_state) == status


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("key_values", [False, True], ids=["normalized", "keyValues"])
def test_every_waste_container_variant_is_valid(row: dict[str, Any], key_values: bool) -> None:
    assert errors_of(waste_container(row, key_values=key_values), normalized=not key_values) == []


@pytest.mark.parametrize("key_values", [False, True], ids=["normalized", "keyValues"])
@pytest.mark.parametrize(
    "row",
    [
        {"container_model": "wheelie-240", "min_volume_l": 240.0, "max_volume_l": 240.0},
        {"container_model": "euro-660", "min_volume_l": 600.0, "max_volume_l": 660.0},
        {"container_model": "custom skip 6 m³", "min_volume_l": 6000.0, "max_volume_l": 6000.0},
    ],
)
def test_every_container_model_variant_is_valid(row: dict[str, Any], key_values: bool) -> None:
    assert (
        errors_of(waste_container_model(row, key_values=key_values), normalized=not key_values)
        == []
    )


def test_the_schema_catches_what_the_old_export_did() -> None:
    """The defects of issue 19 fail the schema built from the package (it is not lax)."""
    e = waste_container(_row())
    e["storedWasteKind"]["value"] = "recyclable"
    e["refDevice"]["object"] = [e["refDevice"]["object"]]
    e["address"]["value"]["province"] = "กาฬสินธุ์"
    e["fillRate"] = {"type": "Property", "value": 0.1}
    errors = "\n".join(errors_of(e, normalized=True))
    for says in (
        "'recyclable' is not one of",
        "is not of type 'string'",
        "'province'",
        "'fillRate'",
    ):
        assert says in errors, errors
    kv = waste_container(_row(), key_values=True)
    kv["category"] = ["wheelie"]  # an enum stated only in the model's description
    assert any("'wheelie' is not one of" in m for m in errors_of(kv, normalized=False))
    assert metadata("WasteContainer")["@context"] == CONTEXT_URL
    assert schema("WasteContainerModel", normalized=False)["required"] == ["id", "type", "name"]


def test_relationships_and_kinds() -> None:
    e = waste_container(_row())
    assert e["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:kls-bin-0001"}
    assert e["refWasteContainerModel"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:WasteContainerModel:wheelie-240",
    }
    kv = waste_container(_row(), key_values=True)
    assert kv["refDevice"] == ["urn:ngsi-ld:Device:kls-bin-0001"]  # the model types it array
    assert kv["refWasteContainerModel"] == "urn:ngsi-ld:WasteContainerModel:wheelie-240"
    assert kv["storedWasteKind"] == "inorganic"
    assert len(set(WASTE_KIND.values())) == len(WASTE_KIND)  # one-to-one: a consumer maps back
    assert "refWasteContainerModel" not in waste_container(_row(container_model="unknown"))


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "เขต 1 ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000",
            {
                "streetAddress": "เขต 1",
                "addressLocality": "กาฬสินธุ์",
                "district": "เมืองกาฬสินธุ์",
                "addressRegion": "กาฬสินธุ์",
                "postalCode": "46000",
                "addressCountry": "TH",
            },
        ),
        ("ตลาดโต้รุ่ง", {"streetAddress": "ตลาดโต้รุ่ง", "addressCountry": "TH"}),
        (
            "12 ถนนภิรมย์ ตำบล กาฬสินธุ์ 46000",
            {
                "streetAddress": "12 ถนนภิรมย์",
                "addressLocality": "กาฬสินธุ์",
                "postalCode": "46000",
                "addressCountry": "TH",
            },
        ),
    ],
)
def test_thai_address_is_split_and_nothing_is_invented(text: str, parts: dict[str, str]) -> None:
    assert thai_address(text) == parts


# -- the 600 Kalasin bins through the API -----------------------------------------------------


@pytest.fixture(scope="module")
def kalasin(stack_env: StackEnv) -> Iterator[SessionDb]:
    with fresh_database(stack_env, "ww_ngsi") as db:
        import_city(db.dsn, load_city([DEFAULT_CITY_DIR]))
        yield db


@pytest.fixture(scope="module")
def app_settings(kalasin: SessionDb) -> Settings:
    return Settings(
        db=DbSettings(dsn=BOGUS_DSN, writer_dsn=BOGUS_DSN, reader_dsn=kalasin.reader_dsn)
    )


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        yield c


def _all(client: TestClient, etype: str, key_values: bool, limit: int = 1000) -> list[Any]:
    """Every entity of ``etype``, following the Link rel="next" pages."""
    url: str | None = f"{BASE}?type={etype}&limit={limit}" + (
        "&options=keyValues" if key_values else ""
    )
    out: list[Any] = []
    while url:
        r = client.get(url, headers={"Accept": "application/ld+json"})
        assert r.status_code == 200, r.text
        out += r.json()
        url = r.links.get("next", {}).get("url")
    return out


@pytest.mark.integration
@pytest.mark.parametrize("key_values", [False, True], ids=["normalized", "keyValues"])
def test_every_entity_the_api_returns_is_valid(
    client: TestClient, kalasin: SessionDb, key_values: bool
) -> None:
    with psycopg.connect(kalasin.dsn) as conn:
        bins = conn.execute("select count(*) from bins").fetchone()
        models = conn.execute("select count(distinct container_model) from bins").fetchone()
    assert bins
    assert models
    containers = _all(client, "WasteContainer", key_values, limit=170)
    kinds = _all(client, "WasteContainerModel", key_values)
    assert len(containers) == bins[0] == 600
    assert len({e["id"] for e in containers}) == 600
    assert len(kinds) == models[0] == 4
    errors = [m for e in containers + kinds for m in errors_of(e, normalized=not key_values)]
    assert errors == [], "\n".join(errors[:20])
    # every container's model is an entity the API serves
    ref = (
        (lambda e: e["refWasteContainerModel"])
        if key_values
        else (lambda e: e["refWasteContainerModel"]["object"])
    )
    assert {ref(e) for e in containers} == {k["id"] for k in kinds}
    for e in containers + kinds:
        one = client.get(
            f"{BASE}/{e['id']}",
            params={"options": "keyValues"} if key_values else {},
            headers={"Accept": "application/ld+json"},
        )
        assert one.status_code == 200
        assert one.json() == e


@pytest.mark.integration
def test_pagination_count_and_links(client: TestClient) -> None:
    r = client.get(
        BASE, params={"type": "WasteContainer", "limit": 50, "offset": 100, "count": "true"}
    )
    assert r.status_code == 200
    assert r.headers["NGSILD-Results-Count"] == "600"
    assert [e["id"][-4:] for e in r.json()] == [f"{n:04d}" for n in range(101, 151)]
    assert r.links["next"]["url"].endswith("limit=50&offset=150")
    assert r.links["prev"]["url"].endswith("limit=50&offset=50")
    last = client.get(BASE, params={"type": "WasteContainer", "limit": 50, "offset": 590})
    assert len(last.json()) == 10
    assert "next" not in last.links
    assert "NGSILD-Results-Count" not in last.headers
    first = client.get(BASE, params={"type": "WasteContainer"})
    assert len(first.json()) == 20
    assert "prev" not in first.links
    only = client.get(BASE, params={"type": "WasteContainer", "limit": 0, "count": "true"})
    assert only.json() == []
    assert only.headers["NGSILD-Results-Count"] == "600"
    both = client.get(
        BASE,
        params={
            "type": "WasteContainerModel,WasteContainer",
            "count": "true",
            "limit": 6,
            "offset": 2,
        },
    )
    assert both.headers["NGSILD-Results-Count"] == "604"
    assert [e["type"] for e in both.json()] == ["WasteContainerModel"] * 2 + ["WasteContainer"] * 4
    by_uri = client.get(
        BASE,
        params={
            "type": "https://smartdatamodels.org/dataModel.WasteManagement/WasteContainer",
            "id": "urn:ngsi-ld:WasteContainer:kls-0002,urn:ngsi-ld:WasteContainer:kls-0001,urn:x:y",
        },
    )
    assert [e["id"] for e in by_uri.json()] == [
        "urn:ngsi-ld:WasteContainer:kls-0001",
        "urn:ngsi-ld:WasteContainer:kls-0002",
    ]
    assert client.get(BASE, params={"type": "Vehicle"}).json() == []


@pytest.mark.integration
def test_accept_json_puts_the_context_in_a_link_header(client: TestClient) -> None:
    for accept in ("application/json", None, "*/*"):
        headers = {"Accept": accept} if accept else {}
        r = client.get(BASE, params={"type": "WasteContainer", "limit": 3}, headers=headers)
        assert r.headers["content-type"].startswith("application/json")
        assert all("@context" not in e for e in r.json())
        link = [v for v in r.headers.get_list("link") if CONTEXT_REL in v]
        assert link == [f'<{CONTEXT_URL}>; {CONTEXT_REL}; type="application/ld+json"']
    r = client.get(
        BASE,
        params={"type": "WasteContainer", "limit": 3},
        headers={"Accept": "application/ld+json"},
    )
    assert r.headers["content-type"].startswith("application/ld+json")
    assert all(e["@context"][0] == CONTEXT_URL for e in r.json())
    assert not [v for v in r.headers.get_list("link") if CONTEXT_REL in v]
    one = client.get(f"{BASE}/urn:ngsi-ld:WasteContainer:kls-0001")
    assert one.headers["content-type"].startswith("application/json")
    assert "@context" not in one.json()
    assert CONTEXT_REL in one.headers["link"]


PROBLEMS: list[tuple[str, int, str]] = [
    (f"{BASE}?limit=5", 400, "BadRequestData"),  # type is required here
    (f"{BASE}?type=WasteContainer&limit=1001", 403, "TooManyResults"),
    (f"{BASE}?type=WasteContainer&limit=-1", 400, "BadRequestData"),
    (f"{BASE}?type=WasteContainer&offset=x", 400, "BadRequestData"),
    (f"{BASE}?type=WasteContainer&options=sysAttrs", 400, "BadRequestData"),
    (f"{BASE}?type=WasteContainer&q=fillingLevel>0.5", 400, "BadRequestData"),
    (f"{BASE}?type=WasteContainer&id=not a uri", 400, "BadRequestData"),
    (f"{BASE}/urn:ngsi-ld:WasteContainer:nope", 404, "ResourceNotFound"),
    (f"{BASE}/urn:ngsi-ld:WasteContainerModel:nope", 404, "ResourceNotFound"),
    (
        f"{BASE}/urn:ngsi-ld:WasteContainer:kls-0001?type=WasteContainerModel",
        404,
        "ResourceNotFound",
    ),
    (f"{BASE}/notauri", 400, "BadRequestData"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("url", "status", "kind"), PROBLEMS, ids=[u for u, _, _ in PROBLEMS])
def test_errors_are_ngsi_ld_problem_details(
    client: TestClient, url: str, status: int, kind: str
) -> None:
    r = client.get(url)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}"
    assert body["title"]
    assert body["detail"]
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.integration
def test_an_unacceptable_accept_is_406(client: TestClient) -> None:
    r = client.get(BASE, params={"type": "WasteContainer"}, headers={"Accept": "text/csv"})
    assert r.status_code == 406
    assert r.json()["title"] == "Not Acceptable"


@pytest.mark.integration
def test_the_old_path_still_answers_with_valid_entities(client: TestClient) -> None:
    r = client.get("/v1/ngsi-ld/WasteContainer", params={"limit": 5})
    assert r.status_code == 200
    assert [m for e in r.json() for m in errors_of(e, normalized=True)] == []


# -- a real NGSI-LD client --------------------------------------------------------------------

CLIENT_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "wastewatch"
    / "ngsildclient-0.5.2"
)
CLIENT_SCRIPT = """
import json, sys
from ngsildclient import Client
port = int(sys.argv[1])
with Client(hostname="127.0.0.1", port=port) as client:
    n = client.entities.count(type="WasteContainer")
    ids = [e.id for e in client.query_generator(type="WasteContainer", limit=250)]
    models = [e.id for e in client.query_generator(type="WasteContainerModel")]
    one = client.entities.get("urn:ngsi-ld:WasteContainer:kls-0001", asdict=True)
print(json.dumps({"count": n, "ids": ids, "models": models, "one": one}))
"""


def _client_python() -> Path:
    python = CLIENT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CLIENT_VENV)], check=True)
        subprocess.run(
            [str(CLIENT_VENV / "bin" / "pip"), "install", "-q", "ngsildclient==0.5.2"],
            check=True,
            timeout=600,
        )
    return python


@pytest.mark.integration
def test_ngsildclient_reads_every_container(app_settings: Settings) -> None:
    python = _client_python()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        done = subprocess.run(
            [str(python), "-c", CLIENT_SCRIPT, str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.should_exit = True
        thread.join(10)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["count"] == 600
    assert len(got["ids"]) == len(set(got["ids"])) == 600
    assert len(got["models"]) == 4
    assert got["one"]["id"] == "urn:ngsi-ld:WasteContainer:kls-0001"
    assert errors_of(got["one"], normalized=True) == []
