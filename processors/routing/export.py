"""Plans for people and maps: GeoJSON for the boards and a printable driver sheet; and
for machines, the whole route as a ``route_plan.v2`` message (:func:`route_plan_v2`).

Pure functions of a :class:`~wastewatch.processors.routing.planner.DayPlan` and the
places it was made from. The sheet is bilingual (Thai first, English beside
it) because crews read Thai and the municipality reports to outside funders
in English; times are Asia/Bangkok, as the crew's watches are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wastewatch.processors.routing.distances import Place
from wastewatch.processors.routing.planner import DayPlan, TruckRoute
from wastewatch.processors.routing.problem import BANGKOK
from wastewatch.schema import RoutePlanV2, RouteVisit, WasteStream

__all__ = ["STREAM_NAMES", "day_geojson", "driver_sheet", "route_plan_v2"]

STREAM_NAMES: dict[WasteStream, tuple[str, str]] = {
    WasteStream.GENERAL: ("ขยะทั่วไป", "General waste"),
    WasteStream.RECYCLABLE: ("ขยะรีไซเคิล", "Recyclable waste"),
    WasteStream.ORGANIC: ("ขยะอินทรีย์", "Organic waste"),
    WasteStream.HAZARDOUS: ("ขยะอันตราย", "Hazardous waste"),
}


def route_plan_v2(route: TruckRoute) -> RoutePlanV2:
    """The whole route of ``route`` as the ``route_plan.v2`` message: every stop of
    ``all_stops`` in driving order, a bin's visits numbered 1, 2, and the unload points.

    Its :meth:`~wastewatch.schema.routes.RoutePlanV2.first_visits` is ``route.plan``
    (each bin once, at its first visit, renumbered), what ``waste.routes.v1`` carries.
    """
    unloads = set(route.all_unload_after)
    seen: dict[str, int] = {}
    stops: list[RouteVisit] = []
    for s in route.all_stops:
        visit = seen[s.bin_id] = seen.get(s.bin_id, 0) + 1
        stops.append(
            RouteVisit(
                **s.model_dump(),  # RouteVisit is a RouteStop with two fields more
                visit=visit,
                unload_after=s.sequence in unloads,
            )
        )
    return RoutePlanV2(**route.plan.model_dump(exclude={"stops"}), stops=tuple(stops))


def _point(p: Place) -> list[float]:
    return [round(p.longitude, 6), round(p.latitude, 6)]


def day_geojson(day: DayPlan, places: Mapping[str, Place]) -> dict[str, Any]:
    """A FeatureCollection: per truck one LineString (depot, stops, landfill visits,
    depot) and one Point per stop. ``places`` maps bin, depot and site ids to places.

    The day's own facts sit in the foreign member ``wastewatch``: RFC 7946 §7.1 forbids
    a ``properties`` member on a FeatureCollection (tests/test_geojson.py checks it)."""
    features: list[dict[str, Any]] = []
    for r in day.routes:
        plan = r.plan
        if not plan.stops:
            continue
        depot, site = places[r.depot_id], places[r.site_id]
        stops, unloads = r.all_stops, set(r.all_unload_after)
        repeats = {s.sequence for s in r.repeat_visits}
        line = [_point(depot)]
        for s in stops:
            line.append(_point(places[s.bin_id]))
            if s.sequence in unloads:
                line.append(_point(site))
        line += [_point(site), _point(depot)]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {
                    "kind": "route",
                    "plan_id": plan.plan_id,
                    "truck_id": plan.truck_id,
                    "waste_stream": plan.waste_stream.value,
                    "stops": len(stops),
                    "repeat_visits": len(repeats),
                    "unloads": len(unloads) + 1,
                    "total_distance_km": plan.total_distance_km,
                    "total_duration_s": plan.total_duration_s,
                },
            }
        )
        for s in stops:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": _point(places[s.bin_id])},
                    "properties": {
                        "kind": "stop",
                        "plan_id": plan.plan_id,
                        "truck_id": plan.truck_id,
                        "sequence": s.sequence,
                        "bin_id": s.bin_id,
                        "eta": s.eta.isoformat().replace("+00:00", "Z"),
                        "eta_local": s.eta.astimezone(BANGKOK).strftime("%H:%M"),
                        "expected_load_l": s.expected_load_l,
                        "expected_load_kg": s.expected_load_kg,
                        "unload_after": s.sequence in unloads,
                        "repeat_visit": s.sequence in repeats,
                    },
                }
            )
    return {
        "type": "FeatureCollection",
        "features": features,
        "wastewatch": {"service_date": str(day.service_date), "fill_source": day.fill_source},
    }


def driver_sheet(route: TruckRoute, names: Mapping[str, str] | None = None) -> str:
    """The printable sheet for one truck: stops, times, loads and where to unload."""
    names = names or {}
    plan = route.plan
    th, en = STREAM_NAMES[plan.waste_stream]
    lines = [
        f"ใบงานเก็บขยะ / Collection sheet — {plan.truck_id} ({route.truck.name})",
        f"วันที่ / Date: {plan.service_date}    ประเภทขยะ / Stream: {th} / {en}",
        f"แผน / Plan: {plan.plan_id}",
        f"ออกจากโรงรถ / Leave depot {route.depot_id}: {route.truck.shift_start:%H:%M}",
    ]
    if not plan.stops:
        lines.append("วันนี้ไม่มีถังที่ต้องเก็บ / No bins to collect today.")
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"{'ลำดับ/No.':>9}  {'เวลา/ETA':8}  {'ถัง/Bin':12}  {'ปริมาณ/Load':>16}  สถานที่/Location",
    ]
    stops, unloads = route.all_stops, set(route.all_unload_after)
    repeats = {s.sequence for s in route.repeat_visits}
    for s in stops:
        eta = s.eta.astimezone(BANGKOK).strftime("%H:%M")
        load = f"{s.expected_load_l:,.0f} L {s.expected_load_kg:,.0f} kg"
        again = " (รอบ 2 / 2nd visit)" if s.sequence in repeats else ""
        lines.append(
            f"{s.sequence:>9}  {eta:8}  {s.bin_id:12}  {load:>16}  {names.get(s.bin_id, '')}{again}"
        )
        if s.sequence in unloads:
            lines.append(
                f"{'':>9}  ไปเทที่ {route.site_id} แล้วกลับมาเก็บต่อ / "
                f"Unload at {route.site_id}, then continue"
            )
    hours, rest = divmod(plan.total_duration_s, 3600)
    lines += [
        f"{'':>9}  เทครั้งสุดท้ายที่ {route.site_id} แล้วกลับโรงรถ / "
        f"Final unload at {route.site_id}, then back to the depot",
        "",
        f"รวม / Total: {len(stops)} จุด/stops, {plan.total_distance_km:.1f} กม./km, "
        f"{hours} ชม. {rest // 60} นาที / {hours} h {rest // 60} min, "
        f"{plan.expected_load_l:,.0f} L / {plan.expected_load_kg:,.0f} kg, "
        f"เทขยะ {len(unloads) + 1} ครั้ง / {len(unloads) + 1} unloads",
    ]
    return "\n".join(lines) + "\n"
