"""A detected emptying of a bin, on ``waste.events.v1``.

Collections are the planners' core fact: how much of which stream left which
zone when. The collection processor derives them from readings on event time,
so ``event_id`` is deterministic (from the device and the reading that showed
the drop) and a replay re-emits the same id, which consumers upsert.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import (
    BinId,
    DeviceId,
    FillLevel,
    MessageModel,
    RecordId,
    UtcDatetime,
    WasteStream,
    ZoneId,
)

__all__ = ["CollectionEvent", "DetectionMethod"]


class DetectionMethod(StrEnum):
    """How the collection was recognised; planners weigh confidence by it."""

    FILL_DROP = "fill_drop"
    MANUAL = "manual"
    RFID = "rfid"


class CollectionEvent(MessageModel):
    """One emptying of one bin, with the estimated quantity removed."""

    model_config = ConfigDict(
        title="CollectionEvent",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "kls-bin-0001:17:4242",
                    "bin_id": "kls-0001",
                    "device_id": "kls-bin-0001",
                    "collected_at": "2026-01-01T00:00:00Z",
                    "fill_before": 0.86,
                    "fill_after": 0.04,
                    "volume_l": 196.8,
                    "mass_kg": 39.36,
                    "zone": "kls-z03",
                    "waste_stream": "general",
                    "method": "fill_drop",
                    "confidence": 0.95,
                }
            ]
        },
    )

    event_id: RecordId = Field(
        description="Deterministic id, by convention '<device_id>:<boot>:<seq>' of the reading "
        "that showed the drop, so replays upsert instead of duplicating.",
        examples=["kls-bin-0001:17:4242"],
    )
    bin_id: BinId = Field(description="Bin that was emptied.", examples=["kls-0001"])
    device_id: DeviceId | None = Field(
        default=None,
        description="Sensor whose readings showed the collection; null for manual entries.",
        examples=["kls-bin-0001"],
    )
    collected_at: UtcDatetime = Field(
        description="Event time of the collection (the first reading after the drop), UTC.",
        examples=["2026-01-01T00:00:00Z"],
    )
    fill_before: FillLevel = Field(
        description="Fill level (fraction, 0..1) just before collection.", examples=[0.86]
    )
    fill_after: FillLevel = Field(
        description="Fill level (fraction, 0..1) just after collection.", examples=[0.04]
    )
    volume_l: float = Field(
        ge=0.0,
        le=40_000.0,
        description="Estimated volume removed, litres: (fill_before - fill_after) x bin volume.",
        examples=[196.8],
    )
    mass_kg: float = Field(
        ge=0.0,
        le=40_000.0,
        description="Estimated mass removed, kilograms: volume x the stream's bulk density.",
        examples=[39.36],
    )
    zone: ZoneId = Field(description="Collection zone of the bin.", examples=["kls-z03"])
    waste_stream: WasteStream = Field(description="Waste stream of the bin.", examples=["general"])
    method: DetectionMethod = Field(
        description="How the collection was detected.", examples=["fill_drop"]
    )
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="Detector's confidence that this was a real collection, 0..1.",
        examples=[0.95],
    )

    @model_validator(mode="after")
    def _fill_dropped(self) -> Self:
        # Emptying can only lower the level; anything else is a detector bug.
        if self.fill_after > self.fill_before:
            raise ValueError("fill_after must not exceed fill_before")
        return self
