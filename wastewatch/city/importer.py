"""The database edge of the city data: ``bins import`` (upsert) and ``bins list``.

Import semantics: everything in the files is validated first
(:mod:`wastewatch.city.citydata`), references are checked against the files *and*
what the database already holds, then every row is upserted (``INSERT ... ON
CONFLICT DO UPDATE``) in **one transaction**: an import is all or nothing, and
importing the same files again changes nothing but ``updated_at``. Rows that
are in the database but not in the files are left alone (an import adds and
updates; it never deletes).

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from wastewatch.city.citydata import CityData
from wastewatch.city.errors import CityDataError, CityError

__all__ = ["ImportCounts", "import_city", "list_bins"]


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """Rows upserted per table."""

    zones: int
    bins: int
    depots: int
    landfill_sites: int
    landfill_stream_densities: int
    trucks: int

    def __str__(self) -> str:
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.as_dict().items() if v)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _ids(conn: psycopg.Connection[Any], table: str, column: str) -> set[str]:
    return {row[0] for row in conn.execute(f"select {column} from {table}")}


def _check_references(conn: psycopg.Connection[Any], city: CityData) -> None:
    where = ", ".join(city.sources)
    zones = {z.zone_id for z in city.zones} | _ids(conn, "zones", "zone_id")
    depots = {d.depot_id for d in city.depots} | _ids(conn, "depots", "depot_id")
    sites = {s.site_id for s in city.sites} | _ids(conn, "landfill_sites", "site_id")
    hint = "add it to the zones file (or import that first)"
    for b in city.bins:
        if b.reg.zone not in zones:
            raise CityDataError(
                where,
                f"bin {b.reg.bin_id}",
                "zone",
                f"zone {b.reg.zone!r} is neither in the files nor in the database; {hint}",
            )
    for t in city.trucks:
        for name, value, known in (
            ("depot_id", t.depot_id, depots),
            ("site_id", t.site_id, sites),
        ):
            if value not in known:
                raise CityDataError(
                    where,
                    f"truck {t.truck_id}",
                    name,
                    f"{value!r} is neither in the files nor in the database",
                )
        for z in t.zones:
            if z not in zones:
                raise CityDataError(
                    where, f"truck {t.truck_id}", "zones", f"zone {z!r} is unknown; {hint}"
                )
    for d in city.densities:
        if d.site_id not in sites:
            raise CityDataError(
                where, f"density {d.site_id}/{d.waste_stream}", "site_id", "unknown site"
            )


def import_city(dsn: str, city: CityData) -> ImportCounts:
    """Upsert every row of ``city`` in one transaction; raises before writing anything."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn, conn.transaction():
            missing = conn.execute(
                "select t from unnest(array['zones','bins','depots','trucks','landfill_sites',"
                "'landfill_stream_densities']) t where to_regclass(t) is null"
            ).fetchall()
            if missing:
                raise CityError(
                    f"the database lacks table(s) {', '.join(r[0] for r in missing)}: "
                    "run `wastewatch db migrate` first"
                )
            _check_references(conn, city)
            _upsert(conn, city)
    except psycopg.Error as exc:
        raise CityError(
            f"import failed, nothing was written: {exc.diag.message_primary or exc}"
            + (f" ({exc.diag.message_detail})" if exc.diag.message_detail else "")
        ) from exc
    return ImportCounts(
        zones=len(city.zones),
        bins=len(city.bins),
        depots=len(city.depots),
        landfill_sites=len(city.sites),
        landfill_stream_densities=len(city.densities),
        trucks=len(city.trucks),
    )


def _upsert(conn: psycopg.Connection[Any], city: CityData) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """insert into zones (zone_id, name_en, name_th, geometry) values (%s, %s, %s, %s)
            on conflict (zone_id) do update set name_en = excluded.name_en,
              name_th = excluded.name_th, geometry = excluded.geometry, updated_at = now()""",
            [
                (z.zone_id, z.name_en, z.name_th, None if z.geometry is None else Jsonb(z.geometry))
                for z in city.zones
            ],
        )
        cur.executemany(
            """insert into depots (depot_id, name, latitude, longitude) values (%s, %s, %s, %s)
            on conflict (depot_id) do update set name = excluded.name,
              latitude = excluded.latitude, longitude = excluded.longitude, updated_at = now()""",
            [(d.depot_id, d.name, d.latitude, d.longitude) for d in city.depots],
        )
        cur.executemany(
            """insert into landfill_sites (site_id, name, latitude, longitude, capacity_m3,
              used_m3, surveyed_on, compacted_density_kg_m3)
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (site_id) do update set name = excluded.name,
              latitude = excluded.latitude, longitude = excluded.longitude,
              capacity_m3 = excluded.capacity_m3, used_m3 = excluded.used_m3,
              surveyed_on = excluded.surveyed_on,
              compacted_density_kg_m3 = excluded.compacted_density_kg_m3, updated_at = now()""",
            [
                (
                    s.site_id,
                    s.name,
                    s.latitude,
                    s.longitude,
                    s.capacity_m3,
                    s.used_m3,
                    s.surveyed_on,
                    s.compacted_density_kg_m3,
                )
                for s in city.sites
            ],
        )
        cur.executemany(
            """insert into landfill_stream_densities (site_id, stream, compacted_density_kg_m3)
            values (%s, %s, %s)
            on conflict (site_id, stream) do update
              set compacted_density_kg_m3 = excluded.compacted_density_kg_m3""",
            [(d.site_id, d.waste_stream.value, d.compacted_density_kg_m3) for d in city.densities],
        )
        cur.executemany(
            """insert into trucks (truck_id, name, depot_id, site_id, stream, capacity_l,
              capacity_kg, tare_kg, zones, service_days, shift_start, speed_kmh)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (truck_id) do update set name = excluded.name,
              depot_id = excluded.depot_id, site_id = excluded.site_id, stream = excluded.stream,
              capacity_l = excluded.capacity_l, capacity_kg = excluded.capacity_kg,
              tare_kg = excluded.tare_kg, zones = excluded.zones,
              service_days = excluded.service_days, shift_start = excluded.shift_start,
              speed_kmh = excluded.speed_kmh, updated_at = now()""",
            [
                (
                    t.truck_id,
                    t.name,
                    t.depot_id,
                    t.site_id,
                    t.waste_stream.value,
                    t.capacity_l,
                    t.capacity_kg,
                    t.tare_kg,
                    list(t.zones),
                    [d.value for d in t.service_days],
                    t.shift_start,
                    t.speed_kmh,
                )
                for t in city.trucks
            ],
        )
        cur.executemany(
            """insert into bins (bin_id, device_id, name, address, zone_id, stream, latitude,
              longitude, volume_l, container_model, mounting_height_mm, usable_depth_mm,
              collection_threshold, installed_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (bin_id) do update set device_id = excluded.device_id,
              name = excluded.name, address = excluded.address, zone_id = excluded.zone_id,
              stream = excluded.stream, latitude = excluded.latitude,
              longitude = excluded.longitude, volume_l = excluded.volume_l,
              container_model = excluded.container_model,
              mounting_height_mm = excluded.mounting_height_mm,
              usable_depth_mm = excluded.usable_depth_mm,
              collection_threshold = excluded.collection_threshold,
              installed_at = excluded.installed_at, active = true, updated_at = now()""",
            [
                (
                    r.bin_id,
                    r.device_id,
                    r.name,
                    r.address,
                    r.zone,
                    r.waste_stream.value,
                    r.latitude,
                    r.longitude,
                    r.volume_l,
                    r.container_model,
                    r.mounting_height_mm,
                    r.usable_depth_mm,
                    r.collection_threshold,
                    r.installed_at,
                )
                for r in (b.reg for b in city.bins)
            ],
        )


def list_bins(dsn: str, zone: str | None = None) -> list[tuple[Any, ...]]:
    """Registered bins (id, device, zone, stream, volume, name), by bin id."""
    query = (
        "select bin_id, device_id, zone_id, stream, volume_l, name from bins"
        + (" where zone_id = %s" if zone else "")
        + " order by bin_id"
    )
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            return conn.execute(query, [zone] if zone else []).fetchall()
    except psycopg.Error as exc:
        raise CityError(f"cannot list bins: {exc}") from exc
