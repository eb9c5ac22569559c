"""The bin registry row: where a bin is, what it holds and how it is measured.

Loaded from the city's editable CSV/GeoJSON files; processors join readings to
it through ``device_id`` to turn a fill level into litres, kilograms and a
place on a route.
"""

from __future__ import annotations

from typing import Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import (
    BinId,
    DeviceId,
    HeightMm,
    Latitude,
    Longitude,
    MessageModel,
    PlaceName,
    Threshold,
    UtcDatetime,
    WasteStream,
    ZoneId,
)

__all__ = ["BinRegistration"]


class BinRegistration(MessageModel):
    """One container in the city's registry (FIWARE WasteContainer, trimmed)."""

    model_config = ConfigDict(
        title="BinRegistration",
        json_schema_extra={
            "examples": [
                {
                    "bin_id": "kls-0001",
                    "device_id": "kls-bin-0001",
                    "latitude": 16.4322,
                    "longitude": 103.5061,
                    "zone": "kls-z03",
                    "waste_stream": "general",
                    "volume_l": 240.0,
                    "container_model": "wheelie-240",
                    "mounting_height_mm": 1050,
                    "usable_depth_mm": 800,
                    "collection_threshold": 0.8,
                    "name": "หน้าตลาดโต้รุ่ง ถนนกาฬสินธุ์",
                    "address": "ถนนกาฬสินธุ์ ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000",
                    "installed_at": "2026-01-05T03:00:00Z",
                },
                {
                    "bin_id": "kls-0002",
                    "device_id": None,
                    "latitude": 16.4291,
                    "longitude": 103.5102,
                    "zone": "kls-z01",
                    "waste_stream": "recyclable",
                    "volume_l": 660.0,
                    "container_model": "euro-660",
                    "mounting_height_mm": 1250,
                    "usable_depth_mm": 1000,
                    "name": "Kalasin City Hall recycling point",
                    "installed_at": "2026-01-06T02:30:00Z",
                },
            ]
        },
    )

    bin_id: BinId = Field(
        description="Registry id of the container; stays when the sensor is swapped.",
        examples=["kls-0001"],
    )
    device_id: DeviceId | None = Field(
        default=None,
        description="Sensor currently fitted, or null for a bin that is collected but not "
        "(yet) instrumented.",
        examples=["kls-bin-0001", None],
    )
    latitude: Latitude = Field(
        description="WGS84 latitude of the container, degrees north.", examples=[16.4322]
    )
    longitude: Longitude = Field(
        description="WGS84 longitude of the container, degrees east.", examples=[103.5061]
    )
    zone: ZoneId = Field(
        description="Collection zone the bin belongs to.",
        examples=["kls-z03"],
    )
    waste_stream: WasteStream = Field(
        description="Waste stream the bin collects.",
        examples=["general", "recyclable"],
    )
    volume_l: float = Field(
        gt=0.0,
        le=40_000.0,
        description="Nominal container volume in litres (120, 240, 660, 1100 L bins; skips).",
        examples=[240.0],
    )
    container_model: str = Field(
        default="unknown",
        min_length=1,
        max_length=64,
        description="Container make/model, used to look up default geometry.",
        examples=["wheelie-240"],
    )
    mounting_height_mm: HeightMm = Field(
        description="Sensor face to bin floor, millimetres (see DeviceConfig calibration).",
        examples=[1050],
    )
    usable_depth_mm: HeightMm = Field(
        description="Full line above the bin floor, millimetres.",
        examples=[800],
    )
    collection_threshold: Threshold = Field(
        default=0.8,
        description="Fill level (fraction, 0..1) at which the bin is due for collection "
        "(FIWARE binFullnessThreshold, as a fraction).",
        examples=[0.8],
    )
    name: PlaceName = Field(
        description="Human name of the location; Thai or English.",
        examples=["หน้าตลาดโต้รุ่ง ถนนกาฬสินธุ์"],
    )
    address: str | None = Field(
        default=None,
        max_length=500,
        description="Postal address or landmark description; Thai or English.",
        examples=["ถนนกาฬสินธุ์ ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000"],
    )
    installed_at: UtcDatetime = Field(
        description="When the bin (and sensor) went into service, UTC.",
        examples=["2026-01-05T03:00:00Z"],
    )

    @model_validator(mode="after")
    def _depth_fits(self) -> Self:
        # The full line cannot be above the sensor that looks down at it.
        if self.usable_depth_mm >= self.mounting_height_mm:
            raise ValueError("usable_depth_mm must be less than mounting_height_mm")
        return self
