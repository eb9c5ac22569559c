"""JSON Schemas for the smart-data-models ``WasteContainer`` and ``WasteContainerModel``,
in keyValues and NGSI-LD normalized form, built from the models' own attribute database.

Why not the official ``schema.json``: ``pysmartdatamodels.validate_payload`` downloads
it (and the common schemas it ``$ref``s) from raw.githubusercontent.com, which the
project's machines and CI cannot reach (they reach PyPI only).  The same package ships,
offline, the database those schemas are generated from: ``model-assets/
smartdatamodels.json.gz`` (one record per model and attribute: JSON type, format,
``enum``, NGSI-LD kind -- Property, Relationship, GeoProperty --, and the description,
where some enums are stated only as ``Enum:'a, b, c'``) and ``datamodels_metadata.json``
(each model's ``required`` list and ``@context``).  So the constraints here are those of
the official schema, from the same package, and nothing is typed in by hand: a new
package version with other enums changes what the tests demand.

Stricter than ``schema.json`` in one way, on purpose: an attribute the model does not
define fails (``additionalProperties: false``), except the JSON-LD/NGSI-LD core members
``id``, ``type`` and ``@context``; so does an address sub-property the model does not
list.  Normalized envelopes follow NGSI-LD (ETSI GS CIM 009): a Property is
``{"type": "Property", "value": ...}`` (optionally ``observedAt``, ``unitCode``,
``datasetId``...), a Relationship ``{"type": "Relationship", "object": "<one URI>"}``,
a GeoProperty ``{"type": "GeoProperty", "value": <GeoJSON geometry>}``; a date-time
value may be NGSI-LD's typed ``{"@type": "DateTime", "@value": ...}``.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

__all__ = ["DB_FILE", "attributes", "errors_of", "metadata", "schema", "validator"]

DB_FILE = "smartdatamodels.json.gz"
_ENUM_IN_TEXT = re.compile(r"Enum:\s*'([^']*)'")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
#: Geometry members, listed flat in the database after ``location``.
_GEOMETRY_MEMBERS = ("bbox", "coordinates")
#: What an NGSI-LD Property / Relationship may carry besides its value (core members).
_PROPERTY_META: dict[str, Any] = {
    "observedAt": {"type": "string", "format": "date-time"},
    "createdAt": {"type": "string", "format": "date-time"},
    "modifiedAt": {"type": "string", "format": "date-time"},
    "unitCode": {"type": "string", "minLength": 1},
    "datasetId": {"type": "string", "format": "uri"},
}


def _assets() -> Any:
    return resources.files("pysmartdatamodels") / "model-assets"


@functools.cache
def _database() -> tuple[dict[str, Any], ...]:
    with (_assets() / DB_FILE).open("rb") as raw, gzip.open(raw, "rt") as f:
        return tuple(json.load(f))


@functools.cache
def metadata(model: str) -> dict[str, Any]:
    """The model's entry in ``datamodels_metadata.json`` (``required``, ``@context``...)."""
    with (_assets() / "datamodels_metadata.json").open("rb") as f:
        found = [m for m in json.load(f) if m.get("dataModel") == model]
    assert len(found) == 1, f"{model}: {len(found)} metadata entries"
    return dict(found[0])


def attributes(model: str) -> list[dict[str, Any]]:
    rows = [r for r in _database() if r.get("dataModel") == model]
    assert rows, f"{model} is not in {DB_FILE}"
    return rows


def _enum(row: dict[str, Any]) -> list[str] | None:
    if row.get("enum"):
        return [str(v) for v in row["enum"]]
    m = _ENUM_IN_TEXT.search(str(row.get("description") or ""))
    if m:
        return [v.strip() for v in m.group(1).split(",") if v.strip()]
    return None


def _value_schema(row: dict[str, Any]) -> dict[str, Any]:
    """The plain (keyValues) JSON Schema of one attribute's value."""
    kind = row.get("type")
    enum = _enum(row)
    if row.get("typeNGSI") == "Relationship":
        uri = {"type": "string", "format": "uri"}
        return {"type": "array", "items": uri, "minItems": 1} if kind == "array" else uri
    if kind == "array":
        items: dict[str, Any] = {"type": "string", "enum": enum} if enum else {}
        return {"type": "array", "items": items}
    out: dict[str, Any] = {"type": kind} if kind else {}
    if row.get("format"):
        out["format"] = row["format"]
    if enum:
        out["enum"] = enum
    return out


def _geometry(types: Iterable[str]) -> dict[str, Any]:
    options = []
    for t in types:
        coordinates: dict[str, Any] = {"type": "array", "minItems": 1}
        if t == "Point":
            coordinates = {"type": "array", "items": {"type": "number"}, "minItems": 2}
        options.append(
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"const": t},
                    "coordinates": coordinates,
                    "bbox": {"type": "array", "items": {"type": "number"}},
                },
                "additionalProperties": False,
            }
        )
    return {"oneOf": options}


def _normalized(row: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """The NGSI-LD normalized envelope of one attribute."""
    kind = row.get("typeNGSI") or "Property"
    if kind == "Relationship":
        body = {
            "type": {"const": "Relationship"},
            "object": {"type": "string", "format": "uri"},
            "observedAt": _PROPERTY_META["observedAt"],
            "datasetId": _PROPERTY_META["datasetId"],
        }
        required = ["type", "object"]
    else:
        if value.get("format") == "date-time":
            typed = {
                "type": "object",
                "required": ["@type", "@value"],
                "properties": {"@type": {"const": "DateTime"}, "@value": value},
                "additionalProperties": False,
            }
            value = {"anyOf": [value, typed]}
        body = {"type": {"const": kind}, "value": value, **_PROPERTY_META}
        required = ["type", "value"]
    return {
        "type": "object",
        "required": required,
        "properties": body,
        "additionalProperties": False,
    }


@functools.cache
def schema(model: str, *, normalized: bool) -> dict[str, Any]:
    """The JSON Schema of one entity of ``model`` in the normalized or keyValues form."""
    rows = attributes(model)
    top: dict[str, dict[str, Any]] = {}
    subs: dict[str, dict[str, dict[str, Any]]] = {}
    geometry_types: list[str] = []
    for row in rows:
        name = str(row["property"])
        if row.get("parentId"):
            parent = str(row["parentId"]).rsplit("/", 1)[-1].split("#")[0]
            subs.setdefault(parent, {})[name] = _value_schema(row)
        elif name == "type" and _enum(row) != [model]:
            geometry_types.extend(_enum(row) or ())
        elif name in _GEOMETRY_MEMBERS or name in top:
            continue
        else:
            top[name] = row
    properties: dict[str, Any] = {
        "id": {"type": "string", "format": "uri"},
        "type": {"const": model},
        "@context": {
            "anyOf": [
                {"type": "string", "format": "uri"},
                {"type": "array", "items": {"type": "string", "format": "uri"}},
            ]
        },
    }
    for name, row in top.items():
        if name in ("id", "type"):
            continue
        if row.get("typeNGSI") == "GeoProperty":
            value = _geometry(geometry_types)
        elif name in subs:
            value = {
                "type": "object",
                "properties": subs[name],
                "additionalProperties": False,
                "minProperties": 1,
            }
        else:
            value = _value_schema(row)
        properties[name] = _normalized(row, value) if normalized else value
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{model} ({'normalized' if normalized else 'keyValues'}), from {DB_FILE}",
        "type": "object",
        "required": list(metadata(model)["required"]),
        "properties": properties,
        "additionalProperties": False,
    }


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _format_checker() -> FormatChecker:
    # jsonschema checks date-time and uri only with optional packages; these are explicit.
    checker = FormatChecker()
    checker.checks("date-time")(_date_time)
    checker.checks("uri")(lambda v: not isinstance(v, str) or bool(_URI.match(v)))
    return checker


@functools.cache
def validator(model: str, *, normalized: bool) -> Draft7Validator:
    s = schema(model, normalized=normalized)
    Draft7Validator.check_schema(s)
    return Draft7Validator(s, format_checker=_format_checker())


def errors_of(entity: dict[str, Any], *, normalized: bool) -> list[str]:
    """Every way ``entity`` breaks its model's schema ("" path = the entity), sorted."""
    model = str(entity.get("type"))
    if model not in ("WasteContainer", "WasteContainerModel"):
        return [f"type {model!r} is not WasteContainer or WasteContainerModel"]
    v = validator(model, normalized=normalized)
    return sorted(
        f"{entity.get('id')}: {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in v.iter_errors(entity)
    )
