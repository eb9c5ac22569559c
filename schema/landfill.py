"""Landfill inputs: weighbridge tickets and the site registry.

Tickets are the only measured mass in the system (bins give volume), so they
both feed the landfill-life projection and calibrate stream densities. A
weighbridge publishes each ticket on MQTT ``ww/<city>/landfill/<site>/tickets``;
the bridge validates it and produces it to ``waste.landfill.v1`` keyed by site.
"""

from __future__ import annotations

from datetime import date
from typing import Final, Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import (
    Latitude,
    Longitude,
    MessageModel,
    PlaceName,
    SiteId,
    TruckId,
    UtcDatetime,
    WasteStream,
)

__all__ = ["NET_TOLERANCE_KG", "LandfillDelivery", "LandfillSite"]

NET_TOLERANCE_KG: Final = 1.0
"""Rounding slack between net and gross - tare; weighbridges print whole kilograms."""


class LandfillDelivery(MessageModel):
    """One weighbridge ticket: a truck's load delivered to a site."""

    model_config = ConfigDict(
        title="LandfillDelivery",
        allow_inf_nan=False,  # NaN, +-Infinity and 1e400 are not masses
        json_schema_extra={
            "examples": [
                {
                    "ticket_id": "KLS-LF1-2026-000123",
                    "site_id": "kls-landfill-1",
                    "truck_id": "kls-truck-03",
                    "weighed_at": "2026-01-01T04:12:00Z",
                    "gross_kg": 14820.0,
                    "tare_kg": 9310.0,
                    "net_kg": 5510.0,
                    "waste_stream": "general",
                }
            ]
        },
    )

    ticket_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9:._/-]+$",
        description="Weighbridge ticket number, unique per site; the dedup key with site_id.",
        examples=["KLS-LF1-2026-000123"],
    )
    site_id: SiteId = Field(description="Receiving site.", examples=["kls-landfill-1"])
    truck_id: TruckId = Field(description="Delivering truck.", examples=["kls-truck-03"])
    weighed_at: UtcDatetime = Field(
        description="Time of the (gross) weighing, UTC.", examples=["2026-01-01T04:12:00Z"]
    )
    gross_kg: float = Field(
        gt=0.0, le=100_000.0, description="Loaded truck mass, kilograms.", examples=[14820.0]
    )
    tare_kg: float = Field(
        gt=0.0, le=100_000.0, description="Empty truck mass, kilograms.", examples=[9310.0]
    )
    net_kg: float = Field(
        ge=0.0, le=100_000.0, description="Delivered waste mass, kilograms.", examples=[5510.0]
    )
    waste_stream: WasteStream = Field(
        description="Stream declared for the load.", examples=["general"]
    )

    @model_validator(mode="after")
    def _net_matches(self) -> Self:
        # A ticket whose arithmetic does not add up is a misread or a typo,
        # and would skew the landfill projection silently.
        if abs(self.gross_kg - self.tare_kg - self.net_kg) > NET_TOLERANCE_KG:
            raise ValueError("net_kg must equal gross_kg - tare_kg (within 1 kg)")
        return self


class LandfillSite(MessageModel):
    """A landfill cell or site with its surveyed remaining capacity."""

    model_config = ConfigDict(
        title="LandfillSite",
        json_schema_extra={
            "examples": [
                {
                    "site_id": "kls-landfill-1",
                    "name": "บ่อฝังกลบขยะเทศบาลเมืองกาฬสินธุ์",
                    "latitude": 16.4705,
                    "longitude": 103.4862,
                    "capacity_m3": 250000.0,
                    "used_m3": 221000.0,
                    "surveyed_on": "2025-12-15",
                    "compacted_density_kg_m3": 750.0,
                }
            ]
        },
    )

    site_id: SiteId = Field(description="Registry id of the site.", examples=["kls-landfill-1"])
    name: PlaceName = Field(
        description="Site name; Thai or English.",
        examples=["บ่อฝังกลบขยะเทศบาลเมืองกาฬสินธุ์"],
    )
    latitude: Latitude = Field(examples=[16.4705])
    longitude: Longitude = Field(examples=[103.4862])
    capacity_m3: float = Field(
        gt=0.0, description="Permitted total airspace, cubic metres.", examples=[250000.0]
    )
    used_m3: float = Field(
        ge=0.0, description="Airspace used at the last survey, cubic metres.", examples=[221000.0]
    )
    surveyed_on: date = Field(
        description="Local (Asia/Bangkok) date of the survey that measured used_m3.",
        examples=["2025-12-15"],
    )
    compacted_density_kg_m3: float = Field(
        default=750.0,
        gt=0.0,
        le=2000.0,
        description="In-place density after compaction, kg per cubic metre, to turn "
        "delivered mass into airspace.",
        examples=[750.0],
    )

    @model_validator(mode="after")
    def _used_within_capacity(self) -> Self:
        if self.used_m3 > self.capacity_m3:
            raise ValueError("used_m3 must not exceed capacity_m3")
        return self
