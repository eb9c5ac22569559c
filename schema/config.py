"""Settings the server pushes to a device, retained on MQTT ``.../config``.

Retained so that a device waking from deep sleep gets the latest settings in
its first subscription, without the server knowing when it wakes. The device
applies a config only when ``config_version`` is higher than the one stored in
its NVS, so a replayed retained message is harmless.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from wastewatch.schema.common import HeightMm, MessageModel, PositiveCount32, Threshold

__all__ = ["Calibration", "DeviceConfig"]

_CALIBRATION_EXAMPLE: Final[JsonDict] = {
    "mounting_height_mm": 1050,
    "usable_depth_mm": 800,
    "dead_zone_mm": 200,
}


def _setting(default: Any, description: str, **bounds: Any) -> Any:
    """A setting with a default, which is also its documented example."""
    return Field(default=default, **bounds, description=description, examples=[default])


class Calibration(MessageModel):
    """Geometry that turns a distance into a fill level, measured at installation.

    ``fill = (mounting_height_mm - d_mm) / usable_depth_mm``, clamped to 0..1:
    the sensor looks down from ``mounting_height_mm`` above the bin floor and
    the bin counts as full when waste is ``usable_depth_mm`` above the floor.
    """

    model_config = ConfigDict(
        title="Calibration",
        json_schema_extra={"examples": [_CALIBRATION_EXAMPLE]},
    )

    mounting_height_mm: HeightMm = Field(
        description="Distance from the sensor face down to the bin floor, millimetres.",
        examples=[1050],
    )
    usable_depth_mm: HeightMm = Field(
        description="Height of the full line above the bin floor, millimetres.",
        examples=[800],
    )
    dead_zone_mm: int = _setting(
        200,
        "Closest distance the sensor can measure (JSN-SR04T: ~200 mm), millimetres.",
        ge=0,
        le=1000,
    )

    @model_validator(mode="after")
    def _full_line_visible(self) -> Self:
        # If the full line sits inside the dead zone, a full bin reads as
        # OVERFULL/no-echo and the device can never report fill = 1 honestly.
        if self.mounting_height_mm - self.usable_depth_mm < self.dead_zone_mm:
            raise ValueError(
                "full line is inside the sensor dead zone: "
                "mounting_height_mm - usable_depth_mm must be >= dead_zone_mm"
            )
        return self

    def fill_from_distance(self, distance_mm: int | None) -> float | None:
        """Fill level for a raw distance, the same formula the firmware runs.

        Kept here so the simulator and the processors recompute fill exactly as
        devices do; ``None`` (no echo) stays unknown.
        """
        if distance_mm is None:
            return None
        fill = (self.mounting_height_mm - distance_mm) / self.usable_depth_mm
        return min(1.0, max(0.0, fill))


class DeviceConfig(MessageModel):
    """Reporting, alarm and calibration settings for one device."""

    model_config = ConfigDict(
        title="DeviceConfig",
        json_schema_extra={
            "examples": [
                {
                    "v": 1,
                    "config_version": 3,
                    "report_interval_s": 900,
                    "nearly_full_interval_s": 300,
                    "heartbeat_interval_s": 3600,
                    "large_change_threshold": 0.1,
                    "nearly_full_threshold": 0.75,
                    "fire_temp_c": 70.0,
                    "fire_rise_c_per_min": 5.0,
                    "low_battery_mv": 3400,
                    "calibration": _CALIBRATION_EXAMPLE,
                }
            ]
        },
    )

    version: Literal[1] = Field(
        default=1,
        alias="v",
        description="Payload format version.",
        examples=[1],
    )
    config_version: PositiveCount32 = Field(
        description="Monotonic config revision; the device ignores anything not newer than "
        "what it holds.",
        examples=[3],
    )
    report_interval_s: int = _setting(
        900,
        "Seconds between wake-ups to measure; a reading is published when fill "
        "moved by large_change_threshold, a flag changed, or the heartbeat is due.",
        ge=10,
        le=86_400,
    )
    nearly_full_interval_s: int = _setting(
        300,
        "Seconds between measurements once fill >= nearly_full_threshold, so "
        "collection is seen promptly.",
        ge=10,
        le=86_400,
    )
    heartbeat_interval_s: int = _setting(
        3600,
        "Longest silence, in seconds, before a reading is published anyway; "
        "the offline alert waits for a few of these.",
        ge=60,
        le=86_400,
    )
    large_change_threshold: Threshold = _setting(
        0.1,
        "Fill change (fraction, 0..1) since the last published reading that "
        "triggers an early publish.",
    )
    nearly_full_threshold: Threshold = _setting(
        0.75,
        "Fill level (fraction, 0..1) from which the nearly-full interval applies.",
    )
    fire_temp_c: float = _setting(
        70.0,
        "Temperature in degrees Celsius at or above which the device sets FIRE.",
        ge=30.0,
        le=150.0,
    )
    fire_rise_c_per_min: float = _setting(
        5.0,
        "Temperature rise in degrees Celsius per minute that sets FIRE even below fire_temp_c.",
        gt=0.0,
        le=100.0,
    )
    low_battery_mv: int = _setting(
        3400,
        "Battery voltage in millivolts below which the device sets LOW_BATTERY.",
        ge=2000,
        le=5000,
    )
    calibration: Calibration = Field(
        description="Installation geometry for turning distance into fill.",
        examples=[_CALIBRATION_EXAMPLE],
    )

    @model_validator(mode="after")
    def _intervals_ordered(self) -> Self:
        # A nearly-full bin must be watched at least as often as a normal one,
        # and a heartbeat shorter than the measuring interval cannot be kept.
        if self.nearly_full_interval_s > self.report_interval_s:
            raise ValueError("nearly_full_interval_s must be <= report_interval_s")
        if self.heartbeat_interval_s < self.report_interval_s:
            raise ValueError("heartbeat_interval_s must be >= report_interval_s")
        return self
