"""FIWARE NGSI-LD entities for the bins: ``WasteContainer`` and ``WasteContainerModel``.

Attribute names, types and enums follow the smart-data-models WasteManagement
schemas (WasteContainer 0.3.0, WasteContainerModel 0.0.1): ``fillingLevel``
(0..1), ``location`` (GeoProperty, GeoJSON Point, longitude first),
``storedWasteKind`` (see :data:`WASTE_KIND`), ``status`` (ok, dropped, burning,
unknown), ``dateLastEmptying``, ``nextActuationDeadline`` (our forecast's
``collect_by``: the latest emptying that keeps the bin under its threshold),
``binCapacity`` (litres, unitCode LTR), ``binFullnessThreshold`` (per cent, as
the model defines it), ``dateServiceStarted``, ``address`` (the registry's Thai
address split into the model's sub-properties, see :func:`thai_address`),
``areaServed`` (the zone), ``refDevice`` and ``refWasteContainerModel``.

Normalized form: a Property is ``{"type": "Property", "value": ...}``, a
Relationship ``{"type": "Relationship", "object": "<one URI>"}``, a GeoProperty
``{"type": "GeoProperty", "value": <GeoJSON>}``, date-times
``{"@type": "DateTime", "@value": ...}`` (NGSI-LD's typed temporal values).
keyValues: the bare values; ``refDevice`` an array of URIs there, as the model
types it (``array``), ``refWasteContainerModel`` one URI (``string``).

Pure functions: a row of :data:`wastewatch.queries.queries.BIN_COLUMNS` (or of
:data:`wastewatch.queries.ngsi.MODEL_COLUMNS`) in, a JSON-LD dict out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote

__all__ = [
    "CONTEXT",
    "CONTEXT_URL",
    "CORE_CONTEXT",
    "DEVICE_PREFIX",
    "ENTITY_PREFIX",
    "ENTITY_TYPES",
    "MODEL_PREFIX",
    "WASTE_CONTAINER",
    "WASTE_CONTAINER_MODEL",
    "WASTE_KIND",
    "entity_id",
    "model_id",
    "model_of",
    "status_of",
    "thai_address",
    "waste_container",
    "waste_container_model",
]

WASTE_CONTAINER: Final = "WasteContainer"
WASTE_CONTAINER_MODEL: Final = "WasteContainerModel"
ENTITY_TYPES: Final = (WASTE_CONTAINER, WASTE_CONTAINER_MODEL)
ENTITY_TYPE: Final = WASTE_CONTAINER
ENTITY_PREFIX: Final = "urn:ngsi-ld:WasteContainer:"
MODEL_PREFIX: Final = "urn:ngsi-ld:WasteContainerModel:"
DEVICE_PREFIX: Final = "urn:ngsi-ld:Device:"
#: The WasteManagement context (the smart-data-models' ``@context`` of both models).
CONTEXT_URL: Final = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/"
    "master/context.jsonld"
)
CORE_CONTEXT: Final = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
CONTEXT: Final = (CONTEXT_URL, CORE_CONTEXT)
#: Our streams (Thailand's four-way sorting) as the model's ``storedWasteKind`` enum
#: (one string): recyclables (plastic, paper, glass, metal together) are ``inorganic``,
#: mixed general waste is ``other``.  One-to-one, so a consumer can map back; a
#: stream added later that the enum does not name is ``other`` too.
WASTE_KIND: Final = {
    "organic": "organic",
    "hazardous": "hazardous",
    "recyclable": "inorganic",
    "general": "other",
}
#: Container model prefixes: wheeled street containers (EN 840, 2 or 4 wheels).
PORTABLE_MODELS: Final = ("wheelie", "euro")
#: ``container_model`` values that name no model.
NO_MODEL: Final = ("", "unknown")
_POSTCODE: Final = re.compile(r"^\d{5}$")
#: Thai address parts by their prefix: ตำบล/แขวง (sub-district: the locality),
#: อำเภอ (district), จังหวัด (province: the region).  The abbreviations are
#: ต. อ. จ.; Bangkok's เขต is left in the street part (our registry uses
#: "เขต N" for a municipal area, not a district).
_ADMIN: Final = re.compile(
    r"(?<!\S)(?:(?P<locality>ต\.|ตำบล|แขวง)|(?P<district>อ\.|อำเภอ)|(?P<region>จ\.|จังหวัด))\s*(?P<name>\S+)"
)
_ADDRESS_KEYS: Final = {
    "locality": "addressLocality",
    "district": "district",
    "region": "addressRegion",
}


def entity_id(bin_id: str) -> str:
    return ENTITY_PREFIX + bin_id


def model_id(container_model: str) -> str:
    return MODEL_PREFIX + quote(container_model, safe="-._~")


def model_of(entity: str) -> str:
    """The ``container_model`` of a WasteContainerModel id (inverse of :func:`model_id`)."""
    return unquote(entity.removeprefix(MODEL_PREFIX))


def status_of(open_alerts: Sequence[str], has_state: bool) -> str:
    """The model's safety status from the bin's open alert kinds."""
    if "fire" in open_alerts:
        return "burning"
    if "tipped_over" in open_alerts:
        return "dropped"
    if not has_state or "offline" in open_alerts:
        return "unknown"
    return "ok"


def thai_address(text: str) -> dict[str, str]:
    """A Thai postal address as the model's address sub-properties.

    ``"ถนนกาฬสินธุ์ ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000"`` gives streetAddress
    ถนนกาฬสินธุ์, addressLocality กาฬสินธุ์ (the tambon), district เมืองกาฬสินธุ์ (the
    amphoe), addressRegion กาฬสินธุ์ (the province), postalCode 46000 and
    addressCountry TH.  A part the text does not state is left out; text without
    any of these parts (a landmark) is the streetAddress whole.
    """
    text = " ".join(text.split())
    out: dict[str, str] = {}
    street: list[str] = []
    pos = 0
    for m in _ADMIN.finditer(text):
        street.append(text[pos : m.start()])
        pos = m.end()
        kind = next(k for k in ("locality", "district", "region") if m.group(k))
        out.setdefault(_ADDRESS_KEYS[kind], m.group("name"))
    rest = text[pos:].split()
    if rest and _POSTCODE.match(rest[-1]):
        out["postalCode"] = rest.pop()
    street.append(" ".join(rest))
    street_text = " ".join(" ".join(street).split())
    if street_text:
        out["streetAddress"] = street_text
    out["addressCountry"] = "TH"
    return dict(sorted(out.items()))


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Entity:
    """Attributes collected once, written out in the normalized or keyValues form."""

    def __init__(self) -> None:
        self.attrs: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    def prop(self, name: str, value: Any, **meta: Any) -> None:
        if value is not None:
            self.attrs[name] = ("Property", value, meta)

    def when(self, name: str, t: datetime | None) -> None:
        if t is not None:
            self.attrs[name] = ("DateTime", _utc(t), {})

    def geo(self, name: str, value: dict[str, Any]) -> None:
        self.attrs[name] = ("GeoProperty", value, {})

    def rel(self, name: str, uri: str, *, many: bool = False) -> None:
        self.attrs[name] = ("Relationship", uri, {"many": many})

    def render(self, eid: str, etype: str, key_values: bool) -> dict[str, Any]:
        entity: dict[str, Any] = {"id": eid, "type": etype}
        for name, (kind, value, meta) in self.attrs.items():
            if kind == "Relationship":
                if key_values:
                    entity[name] = [value] if meta["many"] else value
                else:
                    entity[name] = {"type": "Relationship", "object": value}
            elif key_values:
                entity[name] = value
            elif kind == "DateTime":
                entity[name] = {"type": "Property", "value": {"@type": "DateTime", "@value": value}}
            else:
                entity[name] = {"type": kind, "value": value, **meta}
        entity["@context"] = list(CONTEXT)
        return entity


def _model_name(row: Mapping[str, Any]) -> str | None:
    model = str(row.get("container_model") or "")
    return None if model.strip().lower() in NO_MODEL else model


def waste_container(row: Mapping[str, Any], *, key_values: bool = False) -> dict[str, Any]:
    """One bin (a dict of BIN_COLUMNS) as an NGSI-LD WasteContainer entity."""
    e = _Entity()
    e.prop("name", row.get("name"))
    if row.get("address"):
        e.prop("address", thai_address(str(row["address"])))
    e.geo("location", {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]})
    observed = row.get("last_reading_at")
    fill = row.get("fill_level")
    if fill is not None:
        meta = {"observedAt": _utc(observed)} if observed else {}
        e.prop("fillingLevel", round(float(fill), 4), **meta)
    e.prop("storedWasteKind", WASTE_KIND.get(str(row["stream"]), "other"))
    model = _model_name(row)
    if model is not None and model.startswith(PORTABLE_MODELS):
        e.prop("category", ["portable"])
    e.prop("binCapacity", float(row["volume_l"]), unitCode="LTR")
    e.prop("binFullnessThreshold", round(float(row["collection_threshold"]) * 100, 1))
    e.prop("status", status_of(row.get("open_alerts") or (), row.get("urgency") is not None))
    e.when("dateLastEmptying", row.get("last_collection_at"))
    e.when("nextActuationDeadline", row.get("collect_by"))
    e.when("dateServiceStarted", row.get("installed_at"))
    e.prop("areaServed", row.get("zone_id"))
    if row.get("device_id"):
        e.rel("refDevice", DEVICE_PREFIX + str(row["device_id"]), many=True)
    if model is not None:
        e.rel("refWasteContainerModel", model_id(model))
    return e.render(entity_id(str(row["bin_id"])), WASTE_CONTAINER, key_values)


def waste_container_model(row: Mapping[str, Any], *, key_values: bool = False) -> dict[str, Any]:
    """One container model of the registry (a dict of MODEL_COLUMNS) as a WasteContainerModel.

    ``name`` is the registry's model code; ``cargoVolume`` the volume in litres when
    every bin of that model has the same one (left out otherwise); wheeled models
    (wheelie-*, euro-*: EN 840 two- and four-wheeled containers) are the category
    ``wheelieBin`` with the feature ``wheels``.  Nothing else is known about them.
    """
    e = _Entity()
    model = str(row["container_model"])
    e.prop("name", model)
    low, high = row.get("min_volume_l"), row.get("max_volume_l")
    if low is not None and low == high:
        e.prop("cargoVolume", float(low), unitCode="LTR")
    if model.startswith(PORTABLE_MODELS):
        e.prop("category", ["wheelieBin"])
        e.prop("features", ["wheels"])
    return e.render(model_id(model), WASTE_CONTAINER_MODEL, key_values)
