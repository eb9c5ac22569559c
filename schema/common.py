"""Vocabulary shared by every message: identifiers, enums, flag bits, time.

Kept in one module so that a value such as a waste stream or a flag bit has
exactly one spelling across firmware, bridge, processors and dashboards.
Names follow the FIWARE smart-data-models ``WasteContainer`` model where it
has one (``fillingLevel`` 0..1, ``status`` values), so an NGSI-LD export is a
renaming rather than a translation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntFlag, StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = [
    "BIN_ID_PATTERN",
    "CITY_PATTERN",
    "DEVICE_ID_PATTERN",
    "INT32_MAX",
    "KNOWN_FLAG_BITS",
    "LATEST_EPOCH_S",
    "SITE_ID_PATTERN",
    "STREAM_DENSITY_KG_PER_L",
    "ZONE_PATTERN",
    "BinId",
    "CityId",
    "ContainerStatus",
    "Count32",
    "DepotId",
    "DeviceId",
    "EpochSeconds",
    "FillLevel",
    "HeightMm",
    "Latitude",
    "Longitude",
    "MessageModel",
    "PlaceName",
    "PositiveCount32",
    "RecordId",
    "Severity",
    "SiteId",
    "TelemetryFlag",
    "Threshold",
    "TruckId",
    "UtcDatetime",
    "Version1",
    "WasteStream",
    "ZoneId",
    "to_utc",
]

# Identifiers are lower-case slugs so that they are safe, unescaped, as MQTT
# topic levels, Kafka keys, file names and URL path parts at the same time.
DEVICE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{2,63}$"
BIN_ID_PATTERN: Final = DEVICE_ID_PATTERN
SITE_ID_PATTERN: Final = DEVICE_ID_PATTERN
CITY_PATTERN: Final = r"^[a-z][a-z0-9-]{1,31}$"
ZONE_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,63}$"


def _slug(pattern: str, min_length: int, max_length: int, description: str, example: str) -> Any:
    """A lower-case slug id: its pattern, the lengths the pattern allows, one example."""
    return Field(
        pattern=pattern,
        min_length=min_length,
        max_length=max_length,
        description=description,
        examples=[example],
    )


def _slug_id(description: str, example: str) -> Any:
    """The id contract of devices, bins, sites, depots and trucks: a 3..64-char slug."""
    return _slug(DEVICE_ID_PATTERN, 3, 64, description, example)


DeviceId = Annotated[
    str,
    _slug_id("Device id: lower-case slug, 3..64 chars, also its MQTT topic level.", "kls-bin-0001"),
]
BinId = Annotated[
    str, _slug_id("Bin (container) id from the city's registry; outlives sensor swaps.", "kls-0001")
]
SiteId = Annotated[
    str, _slug_id("Landfill or transfer-site id from the city's registry.", "kls-landfill-1")
]
DepotId = Annotated[str, _slug_id("Depot id from the city's registry.", "kls-depot-1")]
TruckId = Annotated[
    str,
    _slug_id(
        "Collection-truck id from the city's fleet list (not the licence plate).", "kls-truck-03"
    ),
]
CityId = Annotated[
    str, _slug(CITY_PATTERN, 2, 32, "City slug used as the second MQTT topic level.", "kalasin")
]
ZoneId = Annotated[
    str,
    _slug(ZONE_PATTERN, 1, 64, "Collection zone id from the city's zone file.", "kls-z03"),
]
RecordId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9:._-]+$")]
"""A deterministic message id (alerts, collection events, route plans): replays reuse it."""
PlaceName = Annotated[str, Field(min_length=1, max_length=200)]
"""A human name of a place, zone, depot, site or truck; Thai or English."""
FillLevel = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        description="Fill level as a fraction of usable depth: 0 = empty, 1 = full "
        "(FIWARE fillingLevel).",
        examples=[0.42],
    ),
]
Latitude = Annotated[
    float,
    Field(ge=-90.0, le=90.0, description="WGS84 latitude, degrees north.", examples=[16.4322]),
]
Longitude = Annotated[
    float,
    Field(ge=-180.0, le=180.0, description="WGS84 longitude, degrees east.", examples=[103.5061]),
]


INT32_MAX: Final = 2**31 - 1
"""Counters fit PostgreSQL ``integer`` columns, so a valid message always inserts."""
LATEST_EPOCH_S: Final = 4_102_444_800
"""2100-01-01T00:00:00Z: upper bound so a corrupt clock cannot overflow a column."""

Count32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative counter that fits an ``integer`` column (boot count, sequence, ...)."""
PositiveCount32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""A positive count or revision that fits an ``integer`` column."""
EpochSeconds = Annotated[int, Field(ge=0, le=LATEST_EPOCH_S)]
"""Whole seconds since the Unix epoch (UTC), before 2100, as device clocks send them."""
HeightMm = Annotated[int, Field(gt=0, le=5000)]
"""A bin geometry height (sensor mounting height, usable depth), millimetres."""
Threshold = Annotated[float, Field(gt=0.0, le=1.0)]
"""A fill fraction or fill change used as a threshold: above 0, at most 1."""


def to_utc(value: datetime) -> datetime:
    """Normalise to UTC so equal instants serialise identically (store UTC, show Bangkok)."""
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A timezone-aware instant, normalised to UTC; naive datetimes are rejected."""


class _IntegerFirst:
    """Marker: validate as a strict integer, then as the annotated literal.

    A literal compares by equality, so even strict mode takes JSON ``true`` and
    ``1.0`` for ``Literal[1]`` (``True == 1.0 == 1``), and the bridge would forward
    them as they are.  A chain of two core validators refuses them like any
    integer field does, at no measurable cost (no Python call); the JSON Schema
    stays the literal's.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.chain_schema([core_schema.int_schema(strict=True), handler(source)])

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if schema["type"] == "chain":
            return handler(schema["steps"][-1])
        return handler(schema)


Version1 = Annotated[Literal[1], _IntegerFirst]
"""Payload format version 1: the JSON integer ``1``; ``true``, ``1.0`` and ``"1"`` are
invalid, another integer is an unknown version."""


class MessageModel(BaseModel):
    """Base of every message: immutable, strict about unknown keys.

    ``extra="forbid"`` everywhere because the versioning policy never changes a
    published model in place: an unexpected key is a bug or a newer producer,
    and either way it must surface (the bridge sends it to the DLQ) rather than
    be silently dropped.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        serialize_by_alias=True,
        use_enum_values=False,
    )

    def to_json_bytes(self) -> bytes:
        """Compact wire form (by alias, no spaces), as produced to Kafka or MQTT."""
        return self.model_dump_json(by_alias=True).encode()

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-compatible dict by alias, e.g. for a ``jsonb`` column."""
        return self.model_dump(mode="json", by_alias=True)


class WasteStream(StrEnum):
    """What a bin collects; drives truck assignment, density and landfill policy."""

    GENERAL = "general"
    RECYCLABLE = "recyclable"
    ORGANIC = "organic"
    HAZARDOUS = "hazardous"


STREAM_DENSITY_KG_PER_L: Final[dict[WasteStream, float]] = {
    WasteStream.GENERAL: 0.20,
    WasteStream.RECYCLABLE: 0.08,
    WasteStream.ORGANIC: 0.45,
    WasteStream.HAZARDOUS: 0.25,
}
"""Default loose bulk density in a bin, kg per litre, used to turn litres into kg.

Rough values for uncompacted Thai municipal waste; a city may override them in
its data files once weighbridge tickets let it calibrate.
"""


class ContainerStatus(StrEnum):
    """Safety status of a container, FIWARE ``WasteContainer.status`` values plus overflowing."""

    OK = "ok"
    LID_OPEN = "lidOpen"
    DROPPED = "dropped"
    MOVED = "moved"
    VANDALIZED = "vandalized"
    BURNING = "burning"
    OVERFLOWING = "overflowing"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    """How urgently an operator must act; boards sort and colour by it."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class TelemetryFlag(IntFlag):
    """Bits of the telemetry ``fl`` field.

    The numbering is part of the wire format: a bit keeps its meaning forever
    and a retired bit is never reused. Bits 10..15 are free for new flags; the
    field is 16 bits wide so unknown (newer) bits are carried, not rejected.
    """

    NONE = 0
    OVERFULL = 1 << 0
    """Echo inside the sensor's dead zone: waste is above the full line or something
    blocks the sensor. ``d_mm`` is null and ``fill`` is 1.0 or null."""
    NO_ECHO = 1 << 1
    """No echo before timeout: lid open, sensor dislodged, or beyond range. ``d_mm`` null."""
    TILTED = 1 << 2
    """Tilt switch or accelerometer says the container is not upright (FIWARE dropped)."""
    FIRE = 1 << 3
    """Device-side fire heuristic fired: temperature over the configured threshold or
    rising faster than the configured rate (FIWARE burning)."""
    LOW_BATTERY = 1 << 4
    """Battery below the configured low-battery threshold."""
    CLOCK_UNSET = 1 << 5
    """RTC not synchronised since boot, so ``ts`` is not trustworthy."""
    SENSOR_FAULT = 1 << 6
    """Distance sensor failed (bus error, implausible or unstable readings)."""
    BUFFERED = 1 << 7
    """Reading was held in the offline buffer and is published late."""
    LID_OPEN = 1 << 8
    """Lid switch reports the lid open (only on bins that have one; FIWARE lidOpen)."""
    TEMP_FAULT = 1 << 9
    """Temperature sensor failed; ``t_c`` is null."""


KNOWN_FLAG_BITS: Final[int] = sum(int(flag) for flag in TelemetryFlag)
"""Mask of every defined flag bit, for telling known bits from newer ones."""
