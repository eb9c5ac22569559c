"""City registry rows besides bins and landfill sites: zones, depots, trucks, densities.

Loaded from the operator's editable CSV/GeoJSON files by ``wastewatch bins
import`` into the plain tables of migrations 0002 and 0005; the simulator reads
the same files, so the simulated city and the registry never disagree. Like
:class:`wastewatch.schema.bins.BinRegistration`, each row is validated before anything is
written, so a typo is reported with its line instead of half an import.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import (
    DepotId,
    Latitude,
    Longitude,
    MessageModel,
    PlaceName,
    SiteId,
    TruckId,
    WasteStream,
    ZoneId,
)

__all__ = ["Depot", "LandfillStreamDensity", "Truck", "Weekday", "Zone"]


class Weekday(StrEnum):
    """Day of the week in Asia/Bangkok, as written in schedule files."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday = 0, as ``date.weekday()`` counts."""
        return list(Weekday).index(self)


class Zone(MessageModel):
    """A collection zone; trucks are scheduled per zone and stream."""

    model_config = ConfigDict(
        title="Zone",
        json_schema_extra={
            "examples": [
                {
                    "zone_id": "kls-z01",
                    "name_en": "Zone 1 (city centre north)",
                    "name_th": "เขต 1 (ใจกลางเมืองด้านเหนือ)",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [
                                [103.49, 16.43],
                                [103.51, 16.43],
                                [103.51, 16.45],
                                [103.49, 16.45],
                                [103.49, 16.43],
                            ]
                        ],
                    },
                }
            ]
        },
    )

    zone_id: ZoneId = Field(description="Zone id.", examples=["kls-z01"])
    name_en: PlaceName = Field(description="English name.", examples=["Zone 1"])
    name_th: PlaceName = Field(description="Thai name.", examples=["เขต 1"])
    geometry: dict[str, Any] | None = Field(
        default=None,
        description="GeoJSON Polygon or MultiPolygon (WGS84) of the zone, when known.",
        examples=[None],
    )

    @model_validator(mode="after")
    def _polygon(self) -> Self:
        if self.geometry is not None and self.geometry.get("type") not in {
            "Polygon",
            "MultiPolygon",
        }:
            raise ValueError("geometry must be a GeoJSON Polygon or MultiPolygon")
        return self


class Depot(MessageModel):
    """Where trucks start and end their shift."""

    model_config = ConfigDict(
        title="Depot",
        json_schema_extra={
            "examples": [
                {
                    "depot_id": "kls-depot-1",
                    "name": "โรงรถกองสาธารณสุขและสิ่งแวดล้อม เทศบาลเมืองกาฬสินธุ์",
                    "latitude": 16.4351,
                    "longitude": 103.5098,
                }
            ]
        },
    )

    depot_id: DepotId = Field(
        description="Depot id (lower-case slug).",
        examples=["kls-depot-1"],
    )
    name: PlaceName = Field(
        description="Depot name; Thai or English.",
        examples=["Kalasin municipal depot"],
    )
    latitude: Latitude = Field(examples=[16.4351])
    longitude: Longitude = Field(examples=[103.5098])


class Truck(MessageModel):
    """A collection truck, its capacity and its current fixed schedule.

    The schedule (zones, service days, shift start) is what the city runs
    without the route planner; a route plan for the day supersedes it.
    """

    model_config = ConfigDict(
        title="Truck",
        json_schema_extra={
            "examples": [
                {
                    "truck_id": "kls-truck-01",
                    "name": "รถอัดขยะ 10 ลบ.ม. คันที่ 1",
                    "depot_id": "kls-depot-1",
                    "site_id": "kls-landfill-1",
                    "waste_stream": "general",
                    "capacity_l": 25000.0,
                    "capacity_kg": 7000.0,
                    "tare_kg": 9500.0,
                    "zones": ["kls-z01", "kls-z02"],
                    "service_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "shift_start": "05:00:00",
                    "speed_kmh": 18.0,
                }
            ]
        },
    )

    truck_id: TruckId = Field(description="Fleet id of the truck.", examples=["kls-truck-01"])
    name: PlaceName = Field(
        description="Name or licence plate.",
        examples=["รถอัดขยะ 10 ลบ.ม. คันที่ 1"],
    )
    depot_id: DepotId = Field(
        description="Home depot.",
        examples=["kls-depot-1"],
    )
    site_id: SiteId = Field(
        description="Landfill or transfer site the truck unloads at.", examples=["kls-landfill-1"]
    )
    waste_stream: WasteStream = Field(
        description="Stream the truck collects.", examples=["general"]
    )
    capacity_l: float = Field(
        gt=0.0,
        le=200_000.0,
        description="Loose waste it takes before it must unload, litres (body volume times "
        "compaction ratio).",
        examples=[25000.0],
    )
    capacity_kg: float = Field(
        gt=0.0, le=40_000.0, description="Payload limit, kilograms.", examples=[7000.0]
    )
    tare_kg: float = Field(
        gt=0.0, le=40_000.0, description="Empty mass, kilograms.", examples=[9500.0]
    )
    zones: list[ZoneId] = Field(
        min_length=1, description="Zones the fixed schedule covers.", examples=[["kls-z01"]]
    )
    service_days: list[Weekday] = Field(
        min_length=1, description="Days (Asia/Bangkok) the fixed schedule runs.", examples=[["mon"]]
    )
    shift_start: time = Field(
        description="Local (Asia/Bangkok) time the shift leaves the depot.", examples=["05:00:00"]
    )
    speed_kmh: float = Field(
        default=18.0,
        gt=0.0,
        le=90.0,
        description="Average speed between stops in town, km/h.",
        examples=[18.0],
    )


class LandfillStreamDensity(MessageModel):
    """In-place density of one waste stream at one site, to turn tonnes into airspace."""

    model_config = ConfigDict(
        title="LandfillStreamDensity",
        json_schema_extra={
            "examples": [
                {
                    "site_id": "kls-landfill-1",
                    "waste_stream": "organic",
                    "compacted_density_kg_m3": 900.0,
                }
            ]
        },
    )

    site_id: SiteId = Field(description="Site.", examples=["kls-landfill-1"])
    waste_stream: WasteStream = Field(description="Stream.", examples=["organic"])
    compacted_density_kg_m3: float = Field(
        gt=0.0, le=2000.0, description="Density after compaction, kg per m³.", examples=[900.0]
    )
