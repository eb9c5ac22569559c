"""Decoding of Kafka records into the small, typed values the detectors work on.

Records on ``waste.readings.v1`` were validated strictly by the bridge, so the
processors decode them with ``orjson.loads`` into a slotted dataclass instead of
the pydantic model: five consumer groups read every reading, and this is their
hot path.  A record that does not decode is skipped and counted, never fatal
(the sink has already dead-lettered anything truly broken).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import orjson

from wastewatch.schema import EARLIEST_PLAUSIBLE_TS, TelemetryFlag

__all__ = [
    "ALARM_FLAGS",
    "LEVEL_INVALID",
    "BinInfo",
    "Reading",
    "decode_reading",
    "utc",
]

LEVEL_INVALID: Final = int(
    TelemetryFlag.SENSOR_FAULT | TelemetryFlag.NO_ECHO | TelemetryFlag.TILTED
)
"""Flags under which the fill value says nothing about the content."""

ALARM_FLAGS: Final = int(TelemetryFlag.FIRE | TelemetryFlag.TILTED)
_CLOCK_UNSET: Final = int(TelemetryFlag.CLOCK_UNSET)
"""Plain ints, not the enum: ``int & IntFlag`` goes through enum code on the hot path."""
"""Events that change the content without a collection (burnt, spilt)."""


class Reading(NamedTuple):
    """One device reading, as the detectors need it (event time in epoch seconds).

    A named tuple rather than a frozen dataclass: immutable all the same, and built
    several times faster (a frozen dataclass sets each field through
    ``object.__setattr__``), which matters at thousands of readings a second.
    """

    device_id: str
    boot: int
    seq: int
    ts: int
    """Event time, UTC epoch seconds; 0 (or any time before 2024) when the device's clock
    was unset."""
    d_mm: int | None
    fill: float | None
    temp_c: float | None
    battery_mv: int | None
    flags: int
    dropped: int = 0

    @property
    def has_time(self) -> bool:
        """False for clockless readings (ts 0 or before 2024, or CLOCK_UNSET): they cannot
        be placed on the event-time axis (nor in a 1970 chunk of a rollup)."""
        return self.ts >= EARLIEST_PLAUSIBLE_TS and not self.flags & _CLOCK_UNSET

    @property
    def level(self) -> float | None:
        """The fill level when it can be trusted as a measure of the content, else None."""
        if self.fill is None or self.flags & LEVEL_INVALID:
            return None
        return self.fill

    def has(self, flag: TelemetryFlag) -> bool:
        return bool(self.flags & flag)


@dataclass(frozen=True, slots=True)
class BinInfo:
    """What the processors need from the bin registry for one device."""

    bin_id: str
    device_id: str
    zone: str
    stream: str
    volume_l: float
    threshold: float
    mounting_height_mm: int
    usable_depth_mm: int
    density_kg_per_l: float


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def decode_reading(value: bytes | None) -> Reading | None:
    """A telemetry record's value as a Reading; None when it is not one."""
    if not value:
        return None
    try:
        raw = orjson.loads(value)
        return Reading(
            device_id=str(raw["id"]),
            boot=int(raw["boot"]),
            seq=int(raw["seq"]),
            ts=int(raw["ts"]),
            d_mm=_int(raw.get("d_mm")),
            fill=_float(raw.get("fill")),
            temp_c=_float(raw.get("t_c")),
            battery_mv=_int(raw.get("bat_mv")),
            flags=int(raw.get("fl", 0)),
            dropped=int(raw.get("drop", 0)),
        )
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
        return None


def utc(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (what the database and models take)."""
    return datetime.fromtimestamp(ts, tz=UTC)
