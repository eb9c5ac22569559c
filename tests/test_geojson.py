"""Every GeoJSON the project writes, checked against RFC 7946.

What the project writes: the day's routes (``wastewatch routes plan --geojson``, the
demo's ``routes-YYYY-MM-DD.geojson``), the city's zones (``citygen`` and the shipped
``simulators/data/kalasin/zones.geojson``) and the ``location`` of each NGSI-LD
WasteContainer the API serves (a GeoJSON Point). A planned day's routes are checked where
they are made (``test_routes_unit``, ``test_routes_db`` through the CLI, ``test_demo``)
with :func:`assert_geojson` from here.

Two checks:

* the RFC's object models, from ``geojson-pydantic`` (strict JSON validation: a
  position is an array of 2 or 3 numbers, a LineString has 2 positions or more, a
  linear ring is closed with 4 or more, a Feature has ``geometry`` and ``properties``);
* what a schema lets through, since JSON Schemas and these models allow any extra
  member: §7.1's members that must not appear (``properties`` on a FeatureCollection
  above all), positions in WGS84 range in lon/lat order, and the right-hand rule of
  §3.1.6 for the polygons we write.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from geojson_pydantic import Feature, FeatureCollection
from geojson_pydantic.geometries import Geometry
from pydantic import TypeAdapter, ValidationError

from tests.test_ngsi_ld import _row as _bin_row
from wastewatch.api.ngsi import waste_container
from wastewatch.city.citydata import load_city
from wastewatch.workbench.simulators import citygen
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR

_COLLECTION = TypeAdapter(FeatureCollection[Feature[Geometry, dict[str, Any]]])
_FEATURE = TypeAdapter(Feature[Geometry, dict[str, Any]])
_GEOMETRY: TypeAdapter[Any] = TypeAdapter(Geometry)

# RFC 7946 §7.1: members that define one kind of object must not appear on another.
_FORBIDDEN = {
    "FeatureCollection": {"coordinates", "geometries", "geometry", "properties"},
    "Feature": {"coordinates", "geometries", "features"},
    "Geometry": {"geometry", "properties", "features"},
}
_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
# Where this project's places are (Thailand): a swapped lat/lon falls outside.
THAILAND = ((97.0, 106.0), (5.0, 21.0))


def _positions(geometry: dict[str, Any]) -> Iterator[list[float]]:
    if geometry["type"] == "GeometryCollection":
        for g in geometry["geometries"]:
            yield from _positions(g)
        return

    def walk(c: Any) -> Iterator[list[float]]:
        if c and isinstance(c[0], int | float):
            yield c
        else:
            for inner in c:
                yield from walk(inner)

    yield from walk(geometry["coordinates"])


def _ring_area2(ring: list[list[float]]) -> float:
    """Twice the signed area (shoelace): positive for counterclockwise."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))


def _member_problems(obj: dict[str, Any], where: str) -> list[str]:
    kind = "Geometry" if obj.get("type") in _GEOMETRY_TYPES else obj.get("type")
    out = [
        f"{where}: a {obj.get('type')} must not have a {m!r} member (RFC 7946 §7.1)"
        for m in sorted(_FORBIDDEN.get(str(kind), set()) & obj.keys())
    ]
    if kind == "FeatureCollection":
        for i, f in enumerate(obj.get("features") or []):
            out += _member_problems(f, f"{where}.features[{i}]")
    elif kind == "Feature":
        if "geometry" not in obj or "properties" not in obj:
            out.append(f"{where}: a Feature has 'geometry' and 'properties' (may be null)")
        if isinstance(obj.get("geometry"), dict):
            out += _member_problems(obj["geometry"], f"{where}.geometry")
    elif kind == "Geometry":
        for i, g in enumerate(obj.get("geometries") or []):
            out += _member_problems(g, f"{where}.geometries[{i}]")
        for p in _positions(obj):
            if not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
                out.append(f"{where}: position {p} is not lon/lat in WGS84")
        polygons = {"Polygon": [obj.get("coordinates")], "MultiPolygon": obj.get("coordinates")}
        for polygon in polygons.get(obj["type"]) or []:
            for n, ring in enumerate(polygon or []):
                area = _ring_area2(ring)
                if (n == 0 and area < 0) or (n > 0 and area > 0):
                    out.append(f"{where}: ring {n} against the right-hand rule (§3.1.6)")
    return out


def geojson_problems(doc: dict[str, Any]) -> list[str]:
    """What makes ``doc`` (a GeoJSON object) break RFC 7946, one line each; [] if valid."""
    text = json.dumps(doc, allow_nan=False)
    kind = doc.get("type")
    adapter = {"FeatureCollection": _COLLECTION, "Feature": _FEATURE}.get(str(kind), _GEOMETRY)
    try:
        adapter.validate_json(text, strict=True)
    except ValidationError as exc:
        return [f"{e['loc']}: {e['msg']}" for e in exc.errors()]
    return _member_problems(doc, "$")


def assert_geojson(doc: dict[str, Any], *, in_thailand: bool = True) -> None:
    """``doc`` is valid GeoJSON (and, by default, every position is in Thailand)."""
    problems = geojson_problems(doc)
    assert not problems, "\n".join(problems[:20])
    if in_thailand:
        geometries = (
            [f["geometry"] for f in doc["features"] if f["geometry"]]
            if doc["type"] == "FeatureCollection"
            else [doc["geometry"]]
            if doc["type"] == "Feature"
            else [doc]
        )
        (lon0, lon1), (lat0, lat1) = THAILAND
        for g in geometries:
            for lon, lat, *_ in _positions(g):
                assert lon0 <= lon <= lon1, (lon, lat)
                assert lat0 <= lat <= lat1, (lon, lat)


# --- what the project writes ---------------------------------------------------------


def test_the_generated_and_the_shipped_zones_are_valid_geojson() -> None:
    generated = json.loads(citygen.generate(bins=40)["zones.geojson"])
    shipped = json.loads((DEFAULT_CITY_DIR / "zones.geojson").read_text(encoding="utf-8"))
    for doc in (generated, shipped):
        assert len(doc["features"]) == 8
        assert_geojson(doc)


def test_every_city_file_that_is_geojson_is_valid() -> None:
    files = sorted(Path(DEFAULT_CITY_DIR).glob("*.geojson"))
    assert files
    for path in files:
        assert_geojson(json.loads(path.read_text(encoding="utf-8")))


def test_the_location_of_every_ngsi_entity_is_a_geojson_point() -> None:
    city = load_city([DEFAULT_CITY_DIR])
    assert len(city.bins) >= 100
    for b in city.bins:
        row = _bin_row(bin_id=b.reg.bin_id, latitude=b.reg.latitude, longitude=b.reg.longitude)
        normalized = waste_container(row)["location"]
        assert normalized["type"] == "GeoProperty"
        assert_geojson(normalized["value"])
        assert normalized["value"]["type"] == "Point"
        assert_geojson(waste_container(row, key_values=True)["location"])


# --- the checker itself ----------------------------------------------------------------

_POINT = {"type": "Point", "coordinates": [103.5, 16.4]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"type": "FeatureCollection", "features": [], "properties": {"a": 1}},
            "a FeatureCollection must not have a 'properties' member",
        ),
        (
            {"type": "Feature", "geometry": _POINT, "properties": {}, "features": []},
            "a Feature must not have a 'features' member",
        ),
        ({"type": "Point", "coordinates": [103.5, 16.4], "properties": {}}, "'properties'"),
        ({"type": "Feature", "geometry": _POINT}, "Field required"),
        ({"type": "Point", "coordinates": [16.4, 200.0]}, "not lon/lat in WGS84"),
        ({"type": "LineString", "coordinates": [[103.5, 16.4]]}, "at least 2"),
        ({"type": "Point", "coordinates": ["103.5", "16.4"]}, "valid number"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]},
            "right-hand rule",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            "same start and end",
        ),
    ],
)
def test_the_checker_finds_what_breaks_rfc_7946(doc: dict[str, Any], expected: str) -> None:
    problems = "\n".join(geojson_problems(doc))
    assert expected in problems, problems


def test_foreign_members_are_allowed() -> None:
    doc = {"type": "FeatureCollection", "features": [], "wastewatch": {"service_date": "x"}}
    assert geojson_problems(doc) == []
