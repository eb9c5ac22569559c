"""The OpenAPI contract: schemathesis, with all its checks, against the running API.

The real `wastewatch api` (uvicorn) runs on a free 127.0.0.1 port with the reader role on
the session database (after the planners' replay) and a bearer token; the schemathesis CLI
loads ``/openapi.json`` from it and runs its coverage, fuzzing and stateful phases over
every operation (the planners' /v1 API, /healthz and the NGSI-LD API) with ``--checks all``:
no 5xx, every status and body and header as documented (422 included), schema-invalid
requests rejected, schema-valid ones accepted, the token enforced.  The run is bounded
(``MAX_EXAMPLES`` per operation) and seeded, so it is the same run every time.

What OpenAPI cannot express (ids that must exist in the database, one period kind at a
time, ``from`` before ``to``) is told to the generator by ``tests/api_contract_hooks.py``
for the cases it means to be valid.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import psycopg
import pytest

from tests.conftest import SessionDb, StackEnv
from tests.planning_data import PlanningData, planning_data, running_api

TOKEN = "contract-token"
MAX_EXAMPLES = 25
SEED = 19
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data(test_db: SessionDb, stack_env: StackEnv) -> PlanningData:
    return planning_data(test_db, stack_env.kafka_bootstrap)


@pytest.fixture(scope="module")
def known(test_db: SessionDb, data: PlanningData) -> dict[str, list[str]]:
    """The registries' ids (all of the session database's: the API serves them all)."""
    with psycopg.connect(test_db.dsn) as conn:

        def ids(sql: str) -> list[str]:
            return [str(r[0]) for r in conn.execute(sql)]

        return {
            "zones": ids("select zone_id from zones order by 1"),
            "streams": ids("select stream from waste_streams order by 1"),
            "bins": ids("select bin_id from bins order by 1"),
            "sites": ids("select site_id from landfill_sites order by 1"),
            "trucks": ids("select truck_id from trucks order by 1"),
        }


@pytest.fixture(scope="module")
def api(data: PlanningData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server, as `wastewatch api` runs it, with a token; its base URL."""
    workdir = tmp_path_factory.mktemp("contract-api")
    with running_api(data.reader_dsn, TOKEN, workdir) as (base, _proc, log_path):
        yield base
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with the document's components inlined as a JSON Schema can use them."""
    return {**node, "components": schema["components"]}


def _doc(api: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{api}/openapi.json").json()
    return doc


@pytest.mark.integration
def test_every_operation_documents_its_errors_with_their_body(api: str) -> None:
    doc = _doc(api)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            responses = op["responses"]
            refs = json.dumps(responses)
            assert "HTTPValidationError" not in refs, where
            if path.startswith("/v1/"):
                for status in ("401", "422", "503"):
                    assert status in responses, (where, status)
                    schema = responses[status]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    assert p["schema"].get("pattern"), (where, p["name"])
            if "{bin_id}" in path or "{entity_id}" in path or "{entityId}" in path:
                assert "404" in responses, where


@pytest.mark.integration
@pytest.mark.parametrize(
    "url",
    ["/v1/collections", "/v1/history", "/v1/alerts", "/v1/bins/{bin}/readings"],
)
@pytest.mark.parametrize("month", ["9999-12", "1899-12", "2026-13"])
def test_a_month_out_of_range_is_a_documented_422(
    api: str, data: PlanningData, url: str, month: str
) -> None:
    doc = _doc(api)
    r = httpx.get(
        f"{api}{url.format(bin=data.bins[0])}",
        params={"month": month},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 422, r.text
    assert "month" in r.json()["detail"]
    schema = doc["paths"][url.replace("{bin}", "{bin_id}")]["get"]["responses"]["422"]
    body_schema = schema["content"]["application/json"]["schema"]
    jsonschema.validate(r.json(), _resolve(doc, body_schema))


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_schemathesis_all_checks_find_nothing(
    api: str, known: dict[str, list[str]], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.api_contract_hooks",
        "PYTHONPATH": str(ROOT),
        "WW_CONTRACT_KNOWN": json.dumps(known),
    }
    t0 = time.monotonic()
    out = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{api}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    took = time.monotonic() - t0
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-20000:]
    tested = re.search(r"Tested:\s+(\d+)", text)
    generated = re.search(r"(\d+) generated, (\d+) passed", text)
    assert tested, text[-5000:]
    assert generated, text[-5000:]
    assert int(tested.group(1)) == len(
        [op for item in _doc(api)["paths"].values() for op in item.values()]
    )
    assert int(generated.group(1)) > 500, text[-5000:]
    assert "No issues found" in text, text[-5000:]
    print(f"schemathesis: {generated.group(1)} cases, {tested.group(1)} operations, {took:.0f} s")
