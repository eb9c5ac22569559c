"""FIWARE NGSI-LD export of the bins as ``WasteContainer`` entities.

Attribute names follow the smart-data-models WasteManagement ``WasteContainer``
schema: ``fillingLevel`` (0..1), ``location`` (GeoProperty, GeoJSON Point,
longitude first), ``storedWasteKind``, ``status`` (ok, dropped, burning,
unknown...), ``dateLastEmptying``, ``nextActuationDeadline`` (our forecast's
``collect_by``: the latest emptying that keeps the bin under its threshold),
``binCapacity`` (litres, unitCode LTR), ``binFullnessThreshold`` (per cent, as
the model defines it), ``dateServiceStarted``, ``refDevice``, ``areaServed``.
Pure functions: a row of :data:`wastewatch.queries.queries.BIN_COLUMNS` in,
a JSON-LD dict out, in the normalized or the keyValues (simplified) form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["CONTEXT", "ENTITY_PREFIX", "entity_id", "status_of", "waste_container"]

ENTITY_TYPE: Final = "WasteContainer"
ENTITY_PREFIX: Final = "urn:ngsi-ld:WasteContainer:"
CONTEXT: Final = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/"
    "master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
)
#: Our streams as the model's storedWasteKind; the model allows other values where
#: none of its kinds fits (mixed general waste, mixed recyclables).
WASTE_KIND: Final = {
    "organic": "organic",
    "hazardous": "hazardous",
    "recyclable": "recyclable",
    "general": "other",
}
#: Wheeled street containers; the model's category for containers that can be moved.
PORTABLE_MODELS: Final = ("wheelie", "euro")


def entity_id(bin_id: str) -> str:
    return ENTITY_PREFIX + bin_id


def status_of(open_alerts: Sequence[str], has_state: bool) -> str:
    """The model's safety status from the bin's open alert kinds."""
    if "fire" in open_alerts:
        return "burning"
    if "tipped_over" in open_alerts:
        return "dropped"
    if not has_state or "offline" in open_alerts:
        return "unknown"
    return "ok"


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def waste_container(row: Mapping[str, Any], *, key_values: bool = False) -> dict[str, Any]:
    """One bin (a dict of BIN_COLUMNS) as an NGSI-LD WasteContainer entity."""
    attrs: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    def prop(name: str, value: Any, **meta: Any) -> None:
        if value is not None:
            attrs[name] = ("Property", value, meta)

    def when(name: str, t: datetime | None) -> None:
        if t is not None:
            attrs[name] = ("DateTime", _utc(t), {})

    prop("name", row.get("name"))
    if row.get("address"):
        prop("address", {"streetAddress": row["address"], "addressCountry": "TH"})
    attrs["location"] = (
        "GeoProperty",
        {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
        {},
    )
    observed = row.get("last_reading_at")
    fill = row.get("fill_level")
    if fill is not None:
        meta = {"observedAt": _utc(observed)} if observed else {}
        prop("fillingLevel", round(float(fill), 4), **meta)
    prop("storedWasteKind", WASTE_KIND.get(row["stream"], row["stream"]))
    model = str(row.get("container_model") or "")
    if model.startswith(PORTABLE_MODELS):
        prop("category", ["portable"])
    prop("binCapacity", float(row["volume_l"]), unitCode="LTR")
    prop("binFullnessThreshold", round(float(row["collection_threshold"]) * 100, 1))
    prop("status", status_of(row.get("open_alerts") or (), row.get("urgency") is not None))
    when("dateLastEmptying", row.get("last_collection_at"))
    when("nextActuationDeadline", row.get("collect_by"))
    when("dateServiceStarted", row.get("installed_at"))
    prop("areaServed", row.get("zone_id"))
    entity: dict[str, Any] = {"id": entity_id(row["bin_id"]), "type": ENTITY_TYPE}
    for name, (kind, value, meta) in attrs.items():
        if key_values:
            entity[name] = value
        elif kind == "DateTime":
            entity[name] = {"type": "Property", "value": {"@type": "DateTime", "@value": value}}
        else:
            entity[name] = {"type": kind, "value": value, **meta}
    if row.get("device_id"):
        device = f"urn:ngsi-ld:Device:{row['device_id']}"
        entity["refDevice"] = (
            [device] if key_values else {"type": "Relationship", "object": [device]}
        )
    entity["@context"] = list(CONTEXT)
    return entity
