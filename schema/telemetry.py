"""The fill-level reading a bin sensor publishes: the hot path of the system.

Keys on the wire are short aliases (``fill``, ``t_c``, ...) because every byte
costs radio time on a battery device; Python code uses the descriptive
attribute names. The bridge validates every MQTT payload with
:class:`DeviceTelemetry`, rejects anything larger than
:data:`MAX_PAYLOAD_BYTES` before parsing, and produces the validated reading
to ``waste.readings.v1``. ``(device_id, boot_count, sequence, timestamp)`` is
the natural key that makes replays idempotent in TimescaleDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from wastewatch.schema.common import (
    KNOWN_FLAG_BITS,
    LATEST_EPOCH_S,
    Count32,
    DeviceId,
    EpochSeconds,
    MessageModel,
    TelemetryFlag,
    Version1,
)

__all__ = [
    "EARLIEST_PLAUSIBLE_TS",
    "EXAMPLE_READING",
    "LATEST_TS",
    "MAX_PAYLOAD_BYTES",
    "SUPPORTED_VERSIONS",
    "DeviceTelemetry",
]

MAX_PAYLOAD_BYTES: Final = 512
"""Largest telemetry payload the bridge accepts; a real one is ~150 bytes."""

SUPPORTED_VERSIONS: Final = frozenset({1})
"""Values of ``v`` this code understands; anything else goes to the DLQ as unknown_version."""

EARLIEST_PLAUSIBLE_TS: Final = 1_704_067_200
"""2024-01-01T00:00:00Z. An earlier ``ts`` means the RTC was never set (MicroPython
boots at its own epoch), whatever the CLOCK_UNSET flag says."""

LATEST_TS: Final = LATEST_EPOCH_S
"""2100-01-01T00:00:00Z: upper bound so a corrupt clock cannot overflow a column."""


EXAMPLE_READING: Final[JsonDict] = {
    "v": 1,
    "id": "kls-bin-0001",
    "boot": 17,
    "seq": 4242,
    "ts": 1767225600,
    "d_mm": 612,
    "fill": 0.42,
    "t_c": 31.5,
    "bat_mv": 3870,
    "rssi": -71,
    "fl": 0,
    "drop": 0,
}
"""A valid reading by wire alias (the first JSON Schema example); tests vary it."""


class DeviceTelemetry(MessageModel):
    """One measurement as the device sends it (MQTT ``ww/<city>/bins/<id>/telemetry``).

    ``d_mm`` and ``fill`` are required but nullable so that "no reading" is said
    explicitly rather than by a missing key; optional extras (temperature,
    battery, RSSI) may be omitted by hardware that lacks them.
    """

    model_config = ConfigDict(
        title="DeviceTelemetry",
        # NaN and +-Infinity literals, and 1e400 (a double holds it as infinity), are not
        # measurements: refused with a clear error rather than by whichever range fails.
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                EXAMPLE_READING,
                {
                    "v": 1,
                    "id": "kls-bin-0002",
                    "boot": 3,
                    "seq": 0,
                    "ts": 1767229200,
                    "d_mm": None,
                    "fill": 1.0,
                    "t_c": 78.0,
                    "bat_mv": 3410,
                    "rssi": -88,
                    "fl": int(TelemetryFlag.OVERFULL | TelemetryFlag.FIRE | TelemetryFlag.BUFFERED),
                    "drop": 12,
                },
                {
                    "v": 1,
                    "id": "kls-bin-0003",
                    "boot": 0,
                    "seq": 5,
                    "ts": 1767232800,
                    "d_mm": None,
                    "fill": None,
                },
            ]
        },
    )

    version: Version1 = Field(
        alias="v",
        description="Payload format version; a new format is a new model and topic.",
        examples=[1],
    )
    device_id: DeviceId = Field(
        alias="id",
        description="Sending device's id; the bridge checks it equals the MQTT topic's.",
        examples=["kls-bin-0001"],
    )
    boot_count: Count32 = Field(
        alias="boot",
        description="Boot counter kept in device flash, incremented on every cold boot (or when "
        "the RTC memory holding seq is lost); deep-sleep wakes keep it. With seq it "
        "identifies a reading.",
        examples=[17],
    )
    sequence: Count32 = Field(
        alias="seq",
        description="Reading sequence number, restarting at 0 when boot increments; it carries "
        "on across deep-sleep wakes.",
        examples=[4242],
    )
    timestamp_s: EpochSeconds = Field(
        alias="ts",
        description="Measurement time, whole seconds since the Unix epoch (UTC) by the "
        "device's RTC.",
        examples=[1767225600],
    )
    distance_mm: int | None = Field(
        alias="d_mm",
        ge=0,
        le=20_000,
        description="Raw sensor-to-surface distance in millimetres; null when there is no "
        "echo or the echo is inside the dead zone (see fl).",
        examples=[612, None],
    )
    fill_level: float | None = Field(
        alias="fill",
        ge=0.0,
        le=1.0,
        description="Fill level as a fraction of usable depth, 0 = empty, 1 = full (FIWARE "
        "fillingLevel); null when unknown.",
        examples=[0.42, None],
    )
    temperature_c: float | None = Field(
        default=None,
        alias="t_c",
        ge=-40.0,
        le=150.0,
        description="Temperature inside the bin, degrees Celsius; the high limit leaves room "
        "for fires.",
        examples=[31.5],
    )
    battery_mv: int | None = Field(
        default=None,
        alias="bat_mv",
        ge=0,
        le=5000,
        description="Battery voltage in millivolts, measured under load.",
        examples=[3870],
    )
    rssi_dbm: int | None = Field(
        default=None,
        alias="rssi",
        ge=-127,
        le=0,
        description="Received signal strength of the uplink in dBm.",
        examples=[-71],
    )
    flag_bits: int = Field(
        default=0,
        alias="fl",
        ge=0,
        le=0xFFFF,
        description="Bitmask of TelemetryFlag (16 bits; bits this code does not know are kept).",
        examples=[0, 9],
    )
    dropped_count: Count32 = Field(
        default=0,
        alias="drop",
        description="Readings the device discarded since boot because its offline buffer "
        "was full; a gap in seq that this explains is data loss, not a bug.",
        examples=[0],
    )

    @property
    def time(self) -> datetime:
        """Measurement instant as an aware UTC datetime, for event-time processing."""
        return datetime.fromtimestamp(self.timestamp_s, tz=UTC)

    @property
    def flags(self) -> TelemetryFlag:
        """The ``fl`` bitmask as a flag, unknown bits included."""
        return TelemetryFlag(self.flag_bits)

    @property
    def flag_set(self) -> frozenset[TelemetryFlag]:
        """The known flags that are set, one member per bit, for iteration and display."""
        return frozenset(flag for flag in TelemetryFlag if flag and flag & self.flag_bits)

    @property
    def unknown_flag_bits(self) -> int:
        """Bits set by newer firmware that this code does not know."""
        return self.flag_bits & ~KNOWN_FLAG_BITS

    def has(self, flag: TelemetryFlag) -> bool:
        """Whether every bit of ``flag`` is set."""
        return self.flag_bits & int(flag) == int(flag)

    @property
    def clock_trusted(self) -> bool:
        """Whether ``ts`` can be used as event time, or the receive time must stand in."""
        return not self.has(TelemetryFlag.CLOCK_UNSET) and self.timestamp_s >= EARLIEST_PLAUSIBLE_TS

    @property
    def natural_key(self) -> tuple[str, int, int, int]:
        """``(device_id, boot_count, sequence, timestamp_s)``: the dedup key in storage."""
        return (self.device_id, self.boot_count, self.sequence, self.timestamp_s)
