"""Operator alerts, on ``waste.alerts.v1``, keyed by ``alert_id``.

An alert is emitted when it opens and again, with the same id, when it
resolves; keying by id keeps the two in order on one partition and lets a
compacted topic or an upserting table hold the latest state. Messages come in
Thai and English because boards are shown in both.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import (
    BinId,
    DeviceId,
    MessageModel,
    RecordId,
    Severity,
    UtcDatetime,
)

__all__ = ["Alert", "AlertKind", "AlertState", "DetailValue"]

DetailValue = str | int | float | bool | None


class AlertKind(StrEnum):
    """What went wrong; each maps to one detector in ``processors/``."""

    OFFLINE = "offline"
    LOW_BATTERY = "low_battery"
    SENSOR_FAULT = "sensor_fault"
    FIRE = "fire"
    TIPPED_OVER = "tipped_over"
    OVERFLOWING = "overflowing"
    LID_OPEN = "lid_open"
    CLOCK_UNSET = "clock_unset"
    DATA_LOSS = "data_loss"


class AlertState(StrEnum):
    """Lifecycle of an alert; resolution is a new message with the same id."""

    OPEN = "open"
    RESOLVED = "resolved"


class Alert(MessageModel):
    """One condition an operator should see, from opening to resolution."""

    model_config = ConfigDict(
        title="Alert",
        json_schema_extra={
            "examples": [
                {
                    "alert_id": "fire:kls-bin-0002:3:0",
                    "kind": "fire",
                    "severity": "critical",
                    "state": "open",
                    "bin_id": "kls-0002",
                    "device_id": "kls-bin-0002",
                    "opened_at": "2026-01-01T01:00:00Z",
                    "resolved_at": None,
                    "message_en": "Possible fire in bin kls-0002: 78.0 °C",
                    "message_th": "อาจเกิดไฟไหม้ในถัง kls-0002: 78.0 °C",
                    "details": {"temperature_c": 78.0, "flags": 9},
                },
                {
                    "alert_id": "low_battery:kls-bin-0001:17",
                    "kind": "low_battery",
                    "severity": "warning",
                    "state": "resolved",
                    "bin_id": "kls-0001",
                    "device_id": "kls-bin-0001",
                    "opened_at": "2026-01-01T00:00:00Z",
                    "resolved_at": "2026-01-02T06:30:00Z",
                    "message_en": "Battery low on kls-bin-0001 (3350 mV)",
                    "message_th": "แบตเตอรี่ต่ำที่ kls-bin-0001 (3350 mV)",
                    "details": {"battery_mv": 3350},
                },
            ]
        },
    )

    alert_id: RecordId = Field(
        description="Deterministic id chosen by the detector (kind and subject), so replays "
        "and resolution refer to the same alert.",
        examples=["fire:kls-bin-0002:3:0"],
    )
    kind: AlertKind = Field(description="What went wrong.", examples=["fire"])
    severity: Severity = Field(description="How urgent it is.", examples=["critical"])
    state: AlertState = Field(description="open or resolved.", examples=["open"])
    bin_id: BinId | None = Field(
        default=None, description="Affected bin, if known.", examples=["kls-0002"]
    )
    device_id: DeviceId | None = Field(
        default=None, description="Affected device, if any.", examples=["kls-bin-0002"]
    )
    opened_at: UtcDatetime = Field(
        description="Event time the condition began, UTC.", examples=["2026-01-01T01:00:00Z"]
    )
    resolved_at: UtcDatetime | None = Field(
        default=None,
        description="Event time the condition ended, UTC; set exactly when state is resolved.",
        examples=[None, "2026-01-02T06:30:00Z"],
    )
    message_en: str = Field(
        min_length=1,
        max_length=500,
        description="One-line message for operators, English.",
        examples=["Possible fire in bin kls-0002: 78.0 °C"],
    )
    message_th: str = Field(
        min_length=1,
        max_length=500,
        description="The same message in Thai.",
        examples=["อาจเกิดไฟไหม้ในถัง kls-0002: 78.0 °C"],
    )
    details: dict[str, DetailValue] = Field(
        default_factory=dict,
        description="Flat measured values behind the alert (units in the key suffix, e.g. "
        "temperature_c, battery_mv).",
        examples=[{"temperature_c": 78.0, "flags": 9}],
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # An alert about nothing cannot be routed to anyone, and a resolution
        # time only makes sense on a resolved alert, after it opened.
        if self.bin_id is None and self.device_id is None:
            raise ValueError("an alert needs a bin_id or a device_id")
        if (self.state is AlertState.RESOLVED) != (self.resolved_at is not None):
            raise ValueError("resolved_at must be set exactly when state is resolved")
        if self.resolved_at is not None and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at must not be before opened_at")
        return self
