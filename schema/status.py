"""A device's connection state, published retained on MQTT ``.../status``.

The device registers ``{"state": "offline", ...}`` as its MQTT last will at
connect and publishes ``online`` right after, both retained, so a late
subscriber (or a restarted bridge) always sees the latest state. Because a will
is composed before anything happens, every field except ``state`` is optional.
The bridge forwards valid status messages to ``waste.status.v1`` keyed by the
device id it reads from the topic (a will may carry none).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from wastewatch.schema.common import Count32, DeviceId, EpochSeconds, MessageModel, Version1

__all__ = ["DeviceState", "DeviceStatus", "StatusReason"]


class DeviceState(StrEnum):
    """Whether the device holds an MQTT session; sleeping devices publish offline first."""

    ONLINE = "online"
    OFFLINE = "offline"


class StatusReason(StrEnum):
    """Why the state changed, so operators can tell a dead battery from a planned sleep."""

    BOOT = "boot"
    RECONNECT = "reconnect"
    SLEEP = "sleep"
    SHUTDOWN = "shutdown"
    CONNECTION_LOST = "connection_lost"
    LOW_BATTERY = "low_battery"
    OTA_UPDATE = "ota_update"


class DeviceStatus(MessageModel):
    """Retained device state; also the MQTT last will, so ``state`` alone is valid."""

    model_config = ConfigDict(
        title="DeviceStatus",
        json_schema_extra={
            "examples": [
                {"state": "offline"},
                {
                    "v": 1,
                    "state": "online",
                    "id": "kls-bin-0001",
                    "fw": "0.3.1",
                    "boot": 17,
                    "reason": "boot",
                    "ts": 1767225600,
                },
                {
                    "v": 1,
                    "state": "offline",
                    "id": "kls-bin-0001",
                    "fw": "0.3.1",
                    "boot": 17,
                    "reason": "connection_lost",
                },
            ]
        },
    )

    version: Version1 = Field(
        default=1,
        alias="v",
        description="Payload format version; defaults to 1 so a bare will is valid.",
        examples=[1],
    )
    state: DeviceState = Field(
        description="online after connecting; offline on clean sleep or as the last will.",
        examples=["online", "offline"],
    )
    device_id: DeviceId | None = Field(
        default=None,
        alias="id",
        description="Device id; when present the bridge checks it equals the topic's.",
        examples=["kls-bin-0001"],
    )
    firmware_version: str | None = Field(
        default=None,
        alias="fw",
        min_length=1,
        max_length=32,
        pattern=r"^[0-9A-Za-z.+-]+$",
        description="Firmware version string (semantic version, no spaces).",
        examples=["0.3.1"],
    )
    boot_count: Count32 | None = Field(
        default=None,
        alias="boot",
        description="Boot counter, the same as in telemetry, to tie status to readings.",
        examples=[17],
    )
    reason: StatusReason | None = Field(
        default=None,
        description="Why the state changed.",
        examples=["boot", "connection_lost"],
    )
    timestamp_s: EpochSeconds | None = Field(
        default=None,
        alias="ts",
        description="Time of the change, seconds since the Unix epoch (UTC) by the device's "
        "RTC; absent in a last will, where the bridge's receive time stands in.",
        examples=[1767225600],
    )
