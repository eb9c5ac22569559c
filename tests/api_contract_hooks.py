r"""Schemathesis hooks for ``tests/test_api_contract.py`` (loaded by the schemathesis CLI
through ``SCHEMATHESIS_HOOKS``).

What an OpenAPI document cannot say, and these hooks tell the generator, for *positive*
cases only (cases schemathesis means to be valid, which the API must then accept):

* ids are looked up in registries that live in the database (zones, streams, bins, landfill
  sites, trucks; NGSI-LD entity types): a schema-valid but unknown id is rightly a 422 (the
  planners' API) or a 400 (NGSI-LD), so positive cases use known ids
  (``WW_CONTRACT_KNOWN``, a JSON object the test passes);
* one period kind at a time (``from``/``to``, ``month`` or ``days``), and ``from`` before
  ``to``; a day that the calendar lacks (``2026-02-30``) is moved into the month;
* ``divert`` is ``STREAM=SHARE`` pairs over known streams; ``kind`` is an alert kind;
  NGSI-LD ``options`` are the supported ones;
* a bin in a path is a known bin, so the answers checked are real bins' (an unknown one is
  a 404, which ``tests/test_api.py`` checks), and an NGSI-LD entity id in a path is a
  known bin's entity id: its documented pattern ``\S+`` is ECMA's, where ``\x1c``..``\x1f``
  are not blanks, while Python's ``\S`` (the route's own check) counts them as blanks.

Negative cases are left alone: everything schema-invalid must still be rejected.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any

import schemathesis

from wastewatch.queries.errors import BadParameterError
from wastewatch.queries.params import parse_instant

KNOWN: dict[str, list[str]] = json.loads(os.environ.get("WW_CONTRACT_KNOWN", "{}"))
REGISTRY = {
    "zone": "zones",
    "stream": "streams",
    "bin_id": "bins",
    "site": "sites",
    "truck": "trucks",
}
KINDS = ["fire", "tipped_over", "overflowing", "low_battery", "sensor_fault", "offline"]
NGSI_TYPES = ["WasteContainer", "WasteContainerModel", "WasteContainer,WasteContainerModel"]
NGSI_OPTIONS = ["keyValues", "simplified", "normalized", "keyValues,normalized"]
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _pick(choices: list[str], value: Any) -> str:
    """A known value chosen by the generated one (deterministic, spread over all)."""
    return choices[zlib.crc32(repr(value).encode()) % len(choices)]


def _known_ids(name: str, value: Any) -> list[str]:
    choices = KNOWN[REGISTRY[name]]
    values = value if isinstance(value, list) else [value]
    return [_pick(choices, v) for v in values[:3]] or [choices[0]]


def _real_day(text: str) -> str:
    """``text`` with an impossible day of the month moved to the 28th."""
    try:
        parse_instant(text, param="x")
    except BadParameterError:
        m = _DAY.match(text)
        if m:
            return f"{m.group(1)}-{m.group(2)}-28{text[10:]}"
    return text


def _one_period(query: dict[str, Any]) -> None:
    given = [k for k in ("from", "to", "month", "days") if k in query]
    if {"from", "to"} & set(given):
        query.pop("month", None)
        query.pop("days", None)
    elif "month" in given:
        query.pop("days", None)
    for name in ("from", "to"):
        if isinstance(query.get(name), str):
            query[name] = _real_day(query[name])
    if isinstance(query.get("from"), str) and isinstance(query.get("to"), str):
        lo = parse_instant(query["from"], param="from")
        hi = parse_instant(query["to"], param="to", is_end=True)
        if lo >= hi:
            query["from"], query["to"] = query["to"], query["from"]
            lo = parse_instant(query["from"], param="from")
            hi = parse_instant(query["to"], param="to", is_end=True)
            if lo >= hi:
                del query["to"]


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not KNOWN:
        return case
    path = case.operation.path
    params = case.path_parameters
    if isinstance(params, dict):
        if "bin_id" in params:
            params["bin_id"] = _pick(KNOWN["bins"], params["bin_id"])
        for name in ("entity_id", "entityId"):
            if name in params:
                bin_id = _pick(KNOWN["bins"], params[name])
                params[name] = f"urn:ngsi-ld:WasteContainer:{bin_id}"
    query = case.query
    if not isinstance(query, dict):
        return case
    if path.startswith("/ngsi-ld/"):
        if "type" in query:
            query["type"] = _pick(NGSI_TYPES, query["type"])
        if "options" in query:
            query["options"] = _pick(NGSI_OPTIONS, query["options"])
        return case
    for name in REGISTRY:
        if name in query:
            query[name] = _known_ids(name, query[name])
    if "kind" in query:
        values = query["kind"] if isinstance(query["kind"], list) else [query["kind"]]
        query["kind"] = [_pick(KINDS, v) for v in values[:3]]
    if "divert" in query:
        share = zlib.crc32(repr(query["divert"]).encode()) % 101 / 100
        query["divert"] = f"{_pick(KNOWN['streams'], query['divert'])}={share}"
    _one_period(query)
    return case
