"""Kafka records -> database rows: pure decoding, no I/O.

The bridge has validated every record on these topics; the sink validates
again with the same strict models and wire checks (a few microseconds a
record) because anything may be produced to a Kafka topic, and one poison
record must never stop the sink: it is returned as a reject, never raised.

A device time before `EARLIEST_PLAUSIBLE_TS` (``ts`` 0, 1970, MicroPython's
2000 epoch: the clock was never set) is replaced by the bridge's receive time:
such a reading is staged as clockless (`wastewatch.ingest.store`), and a status row gets
the receive time, so no hypertable chunk before 2024 is ever created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from wastewatch.ingest.validate import describe_errors
from wastewatch.schema import (
    EARLIEST_PLAUSIBLE_TS,
    BrokerEvent,
    DeviceStatus,
    DeviceTelemetry,
    LandfillDelivery,
    wire_problem,
)

READING_COLUMNS = (
    "time",
    "device_id",
    "boot_counter",
    "seq",
    "distance_mm",
    "fill_level",
    "temperature_c",
    "battery_mv",
    "rssi_dbm",
    "flags",
    "dropped_count",
    "payload_version",
    "received_at",
)
#: The staging table: the readings columns plus whether the device's clock was unset.
STAGE_COLUMNS = (*READING_COLUMNS, "clock_unset")
STAGE_TYPES = (
    "timestamptz",
    "text",
    "int4",
    "int4",
    "int4",
    "float4",
    "float4",
    "int4",
    "int2",
    "int4",
    "int4",
    "int2",
    "timestamptz",
    "bool",
)
TICKET_COLUMNS = (
    "time",
    "ticket_id",
    "site_id",
    "truck_id",
    "stream",
    "gross_kg",
    "tare_kg",
    "net_kg",
    "received_at",
)
BROKER_EVENT_COLUMNS = (
    "time",
    "event",
    "access",
    "client_id",
    "username",
    "address",
    "topic",
    "count",
    "attempts",
    "window_s",
    "received_at",
)
STATUS_COLUMNS = (
    "time",
    "device_id",
    "state",
    "firmware_version",
    "boot_counter",
    "reason",
    "received_at",
)

ReadingRow = tuple[Any, ...]
_STRICT: dict[str, Any] = {"strict": True, "by_alias": True, "by_name": False}
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that could not be decoded, with why."""

    detail: str


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def received_at(headers: Any, fallback_ms: int) -> datetime:
    """The bridge's receive time from the record header, else the Kafka timestamp."""
    for key, value in headers or ():
        if key == "received_at_ms":
            try:
                return _utc(int(value) / 1000)
            except (TypeError, ValueError, OverflowError, OSError):
                break
    return _utc(fallback_ms / 1000)


def _decode(model: type[_M], value: bytes | None, what: str) -> _M | Reject:
    """``value`` validated as the bridge validates it: the strict model, then the wire checks."""
    payload = value or b""
    try:
        message = model.model_validate_json(payload, **_STRICT)
    except ValidationError as exc:
        return Reject(f"undecodable {what}: {describe_errors(exc)}")
    problem = wire_problem(payload, message)
    if problem is not None:
        return Reject(f"undecodable {what}: {problem}")
    return message


def reading_row(value: bytes | None, received: datetime) -> ReadingRow | Reject:
    """One telemetry record as a staging row."""
    r = _decode(DeviceTelemetry, value, "reading")
    if isinstance(r, Reject):
        return r
    # ts 0 or any time before 2024 means "my clock was never set": the bridge's receive
    # time stands in.  (A plausible ts with the CLOCK_UNSET flag is kept: the row's flags say
    # it, and the processors do not place such a reading in event time.)
    clock_unset = r.timestamp_s < EARLIEST_PLAUSIBLE_TS
    return (
        received if clock_unset else r.time,
        r.device_id,
        r.boot_count,
        r.sequence,
        r.distance_mm,
        r.fill_level,
        r.temperature_c,
        r.battery_mv,
        r.rssi_dbm,
        r.flag_bits,
        r.dropped_count,
        r.version,
        received,
        clock_unset,
    )


def status_row(value: bytes | None, received: datetime) -> tuple[Any, ...] | Reject:
    """One device-status record as a row of device_status_history."""
    s = _decode(DeviceStatus, value, "status")
    if isinstance(s, Reject):
        return s
    if s.device_id is None:
        return Reject("undecodable status: no device id")
    ts = s.timestamp_s
    time = _utc(ts) if ts is not None and ts >= EARLIEST_PLAUSIBLE_TS else received
    reason = None if s.reason is None else str(s.reason)
    return (time, s.device_id, str(s.state), s.firmware_version, s.boot_count, reason, received)


def ticket_row(value: bytes | None, received: datetime) -> tuple[Any, ...] | Reject:
    """One weighbridge ticket as a row of landfill_deliveries."""
    t = _decode(LandfillDelivery, value, "ticket")
    if isinstance(t, Reject):
        return t
    return (
        t.weighed_at,
        t.ticket_id,
        t.site_id,
        t.truck_id,
        str(t.waste_stream),
        t.gross_kg,
        t.tare_kg,
        t.net_kg,
        received,
    )


def broker_event_row(value: bytes | None, received: datetime) -> tuple[Any, ...] | Reject:
    """One report of the broker's guard plugins as a row of broker_events (its time is the
    broker's ``at``, part of the natural key: the same report from two bridges is one row)."""
    e = _decode(BrokerEvent, value, "broker report")
    if isinstance(e, Reject):
        return e
    return (
        e.time,
        str(e.event),
        None if e.access is None else str(e.access),
        e.client_id,
        e.username,
        e.address,
        e.topic,
        e.count,
        e.attempts,
        e.window_s,
        received,
    )
