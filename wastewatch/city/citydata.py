"""City data files: parse and validate the operator's CSV / GeoJSON registry files.

Pure (reads files, no database, no network), so that ``wastewatch bins
import`` and the simulator read the very same city and report a bad row the
same way: one line naming the file, the line (CSV) or feature (GeoJSON), the
field, and what to do. Every row is validated with its ``schema`` model
(:class:`~wastewatch.schema.bins.BinRegistration`, :class:`~wastewatch.schema.city.Truck`, ...)
before anything is used, so an import is all or nothing.

Which file holds what
---------------------
* A **CSV** file holds one kind of row, recognised by its header:
  ``bin_id`` -> bins, ``truck_id`` -> trucks, ``capacity_m3`` -> landfill sites,
  ``compacted_density_kg_m3`` + ``waste_stream`` -> landfill densities,
  ``depot_id`` -> depots, ``zone_id`` -> zones. List cells (``zones``,
  ``service_days``) are separated by ``;``. An empty cell means "not given".
* A **GeoJSON** FeatureCollection may hold every kind at once: each feature has
  ``properties.kind`` (``zone``, ``bin``, ``depot``, ``landfill_site``,
  ``truck``, ``landfill_density``); Point geometries give latitude/longitude,
  a zone's Polygon is its boundary; trucks and densities have ``null``
  geometry.
* A **directory** is every ``*.csv`` / ``*.geojson`` in it.

Columns the registry does not store but the simulator uses are allowed and
named in :data:`SIMULATOR_COLUMNS` (a bin's ``place`` kind, a truck's
``unmetered_kg_per_day``); any other unknown column is an error, because it is
usually a typo of a real one.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from wastewatch.city.errors import CityDataError
from wastewatch.schema import (
    BinRegistration,
    Depot,
    LandfillSite,
    LandfillStreamDensity,
    Truck,
    Zone,
)

__all__ = [
    "PLACE_KINDS",
    "SIMULATOR_COLUMNS",
    "CityData",
    "RowKind",
    "SimBin",
    "load_city",
]

"""The shipped Kalasin default (assumptions documented in its README)."""

PLACE_KINDS: Final = (
    "market",
    "residential",
    "commercial",
    "school",
    "temple",
    "park",
    "hospital",
    "office",
)
"""Kinds of place a bin stands at; they choose the fill-rate profile (simulator only)."""


class RowKind(StrEnum):
    """What one row or feature describes."""

    ZONE = "zone"
    BIN = "bin"
    DEPOT = "depot"
    LANDFILL_SITE = "landfill_site"
    TRUCK = "truck"
    LANDFILL_DENSITY = "landfill_density"


_MODELS: Final[dict[RowKind, type[BaseModel]]] = {
    RowKind.ZONE: Zone,
    RowKind.BIN: BinRegistration,
    RowKind.DEPOT: Depot,
    RowKind.LANDFILL_SITE: LandfillSite,
    RowKind.TRUCK: Truck,
    RowKind.LANDFILL_DENSITY: LandfillStreamDensity,
}

SIMULATOR_COLUMNS: Final[dict[RowKind, frozenset[str]]] = {
    RowKind.BIN: frozenset({"place"}),
    RowKind.TRUCK: frozenset({"unmetered_kg_per_day"}),
}
"""Extra columns the simulator reads and the registry ignores."""

_LIST_FIELDS: Final = frozenset({"zones", "service_days"})

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class SimBin:
    """A registered bin plus the simulator's knowledge of its surroundings."""

    reg: BinRegistration
    place: str = "residential"


@dataclass(frozen=True, slots=True)
class CityData:
    """Everything the files held, validated, in file order (which is deterministic)."""

    zones: tuple[Zone, ...] = ()
    bins: tuple[SimBin, ...] = ()
    depots: tuple[Depot, ...] = ()
    sites: tuple[LandfillSite, ...] = ()
    trucks: tuple[Truck, ...] = ()
    densities: tuple[LandfillStreamDensity, ...] = ()
    unmetered_kg_per_day: Mapping[str, float] = field(default_factory=dict)
    """truck_id -> bagged waste from streets without sensored bins, kg per service day."""
    sources: tuple[str, ...] = ()

    def check_references(self) -> None:
        """Every zone, depot, site and truck a row names is defined in the same data.

        The simulator needs a closed city; the database import instead checks
        against what is already registered (see ``wastewatch.workbench.simulators.plans``).
        """
        where = ", ".join(self.sources) or "city data"
        zones = {z.zone_id for z in self.zones}
        depots = {d.depot_id for d in self.depots}
        sites = {s.site_id for s in self.sites}
        for b in self.bins:
            if b.reg.zone not in zones:
                raise CityDataError(
                    where, f"bin {b.reg.bin_id}", "zone", f"zone {b.reg.zone!r} is not defined"
                )
        for t in self.trucks:
            if t.depot_id not in depots:
                raise CityDataError(
                    where, f"truck {t.truck_id}", "depot_id", f"depot {t.depot_id!r} not defined"
                )
            if t.site_id not in sites:
                raise CityDataError(
                    where, f"truck {t.truck_id}", "site_id", f"site {t.site_id!r} not defined"
                )
            for z in t.zones:
                if z not in zones:
                    raise CityDataError(
                        where, f"truck {t.truck_id}", "zones", f"zone {z!r} is not defined"
                    )
        if not self.depots and self.trucks:
            raise CityDataError(where, None, None, "trucks need at least one depot")


def load_city(paths: Iterable[Path]) -> CityData:
    """Read every file (directories expanded, sorted) into one validated :class:`CityData`.

    Raises :class:`CityDataError` on the first bad row or a duplicate id.
    """
    rows: dict[RowKind, list[tuple[BaseModel, dict[str, str]]]] = {k: [] for k in RowKind}
    sources: list[str] = []
    for path in _expand(paths):
        sources.append(str(path))
        for kind, model, extra in _read_file(path):
            rows[kind].append((model, extra))
    city = CityData(
        zones=tuple(_typed(rows[RowKind.ZONE], Zone)),
        bins=tuple(
            SimBin(reg=m, place=e.get("place") or "residential")
            for m, e in _typed_pairs(rows[RowKind.BIN], BinRegistration)
        ),
        depots=tuple(_typed(rows[RowKind.DEPOT], Depot)),
        sites=tuple(_typed(rows[RowKind.LANDFILL_SITE], LandfillSite)),
        trucks=tuple(_typed(rows[RowKind.TRUCK], Truck)),
        densities=tuple(_typed(rows[RowKind.LANDFILL_DENSITY], LandfillStreamDensity)),
        unmetered_kg_per_day={
            m.truck_id: float(e["unmetered_kg_per_day"])
            for m, e in _typed_pairs(rows[RowKind.TRUCK], Truck)
            if e.get("unmetered_kg_per_day")
        },
        sources=tuple(sources),
    )
    _check_unique(city)
    return city


def _typed(pairs: list[tuple[BaseModel, dict[str, str]]], model: type[M]) -> list[M]:
    return [m for m, _ in _typed_pairs(pairs, model)]


def _typed_pairs(
    pairs: list[tuple[BaseModel, dict[str, str]]], model: type[M]
) -> list[tuple[M, dict[str, str]]]:
    return [(m, e) for m, e in pairs if isinstance(m, model)]


def _check_unique(city: CityData) -> None:
    where = ", ".join(city.sources)
    for what, ids in (
        ("zone_id", [z.zone_id for z in city.zones]),
        ("bin_id", [b.reg.bin_id for b in city.bins]),
        ("device_id", [b.reg.device_id for b in city.bins if b.reg.device_id]),
        ("depot_id", [d.depot_id for d in city.depots]),
        ("site_id", [s.site_id for s in city.sites]),
        ("truck_id", [t.truck_id for t in city.trucks]),
    ):
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise CityDataError(
                    where, None, what, f"{value!r} appears twice; ids must be unique"
                )
            seen.add(value)


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in {".csv", ".geojson", ".json"}
            )
            found = [p for p in found if p.name != "calendar.json"]
            if not found:
                raise CityDataError(str(path), None, None, "no .csv or .geojson files in it")
            yield from found
        elif path.exists():
            yield path
        else:
            raise CityDataError(str(path), None, None, "no such file")


def _read_file(path: Path) -> Iterator[tuple[RowKind, BaseModel, dict[str, str]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _read_csv(path)
    elif suffix in {".geojson", ".json"}:
        yield from _read_geojson(path)
    else:
        raise CityDataError(str(path), None, None, "expected a .csv or .geojson file")


def csv_kind(header: list[str]) -> RowKind | None:
    """Which kind of row a CSV header describes, by its identifying column."""
    cols = set(header)
    if "truck_id" in cols:
        return RowKind.TRUCK
    if "bin_id" in cols:
        return RowKind.BIN
    if "capacity_m3" in cols:
        return RowKind.LANDFILL_SITE
    if "compacted_density_kg_m3" in cols and "waste_stream" in cols:
        return RowKind.LANDFILL_DENSITY
    if "depot_id" in cols:
        return RowKind.DEPOT
    if "zone_id" in cols:
        return RowKind.ZONE
    return None


def _read_csv(path: Path) -> Iterator[tuple[RowKind, BaseModel, dict[str, str]]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CityDataError(name, None, None, f"cannot read it as UTF-8 text: {exc}") from exc
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CityDataError(name, "line 1", None, "the file is empty; expected a header") from None
    kind = csv_kind(header)
    if kind is None:
        raise CityDataError(
            name,
            "line 1",
            None,
            "cannot tell what the file holds: the header needs one of bin_id, truck_id, "
            "capacity_m3, depot_id, zone_id",
        )
    allowed = set(_MODELS[kind].model_fields) | SIMULATOR_COLUMNS.get(kind, frozenset())
    for col in header:
        if col not in allowed:
            raise CityDataError(
                name,
                "line 1",
                col,
                f"unknown column for {kind.value} rows; known: {', '.join(sorted(allowed))}",
            )
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise CityDataError(
                name,
                f"line {line_no}",
                None,
                f"{len(cells)} cells but the header has {len(header)} columns",
            )
        raw = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        yield _validate(kind, raw, name, f"line {line_no}")


def _validate(
    kind: RowKind, raw: Mapping[str, Any], path: str, where: str
) -> tuple[RowKind, BaseModel, dict[str, str]]:
    sim_cols = SIMULATOR_COLUMNS.get(kind, frozenset())
    data: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if key in sim_cols:
            extra[key] = str(value)
        elif key in _LIST_FIELDS and isinstance(value, str):
            data[key] = [v.strip() for v in value.split(";") if v.strip()]
        else:
            data[key] = value
    if kind is RowKind.BIN and extra.get("place", "residential") not in PLACE_KINDS:
        raise CityDataError(
            path, where, "place", f"{extra['place']!r} is not one of {', '.join(PLACE_KINDS)}"
        )
    if kind is RowKind.TRUCK and "unmetered_kg_per_day" in extra:
        try:
            unmetered = float(extra["unmetered_kg_per_day"])
        except ValueError:
            unmetered = -1.0
        if not unmetered >= 0:
            raise CityDataError(
                path, where, "unmetered_kg_per_day", "must be a number of kilograms >= 0"
            )
    try:
        model = _MODELS[kind].model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field_name = ".".join(str(p) for p in err["loc"]) or None
        got = data.get(str(err["loc"][0])) if err["loc"] else None
        shown = f" (got {got!r})" if got is not None else ""
        raise CityDataError(
            path,
            where,
            field_name,
            f"{err['msg']}{shown}; correct the {kind.value} row and import again",
        ) from None
    return kind, model, extra


def _read_geojson(path: Path) -> Iterator[tuple[RowKind, BaseModel, dict[str, str]]]:
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CityDataError(name, None, None, f"not a readable GeoJSON file: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise CityDataError(name, None, None, "expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise CityDataError(name, None, "features", "expected a list of features")
    for index, feature in enumerate(features, start=1):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise CityDataError(name, where, None, "expected a GeoJSON Feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise CityDataError(name, where, "properties", "expected an object")
        try:
            kind = RowKind(props.get("kind", ""))
        except ValueError:
            raise CityDataError(
                name,
                where,
                "kind",
                f"{props.get('kind')!r} is not one of {', '.join(k.value for k in RowKind)}",
            ) from None
        raw = {k: v for k, v in props.items() if k != "kind"}
        geometry = feature.get("geometry")
        if kind is RowKind.ZONE:
            raw["geometry"] = geometry
        elif kind in {RowKind.BIN, RowKind.DEPOT, RowKind.LANDFILL_SITE}:
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                raise CityDataError(name, where, "geometry", f"a {kind.value} needs a Point")
            coords = geometry.get("coordinates")
            if not isinstance(coords, list) or len(coords) < 2:
                raise CityDataError(name, where, "geometry", "Point needs [longitude, latitude]")
            raw["longitude"], raw["latitude"] = coords[0], coords[1]
        allowed = set(_MODELS[kind].model_fields) | SIMULATOR_COLUMNS.get(kind, frozenset())
        for key in raw:
            if key not in allowed:
                raise CityDataError(name, where, key, f"unknown property for a {kind.value}")
        yield _validate(kind, raw, name, where)
