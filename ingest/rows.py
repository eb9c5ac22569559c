"""Kafka records -> database rows: pure decoding, no I/O.

The bridge has validated every record on these topics, so decoding is the
short-key JSON to a tuple in the staging table's column order.  A record that
still fails (someone else produced to the topic) is returned as a reject
rather than raised, so one poison record cannot stop the sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

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
READING_TYPES = (
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
            except (TypeError, ValueError):
                break
    return _utc(fallback_ms / 1000)


def reading_row(value: bytes | None, received: datetime) -> ReadingRow | Reject:
    """One telemetry record as a staging row."""
    try:
        d = orjson.loads(value or b"")
        return (
            _utc(d["ts"]),
            d["id"],
            d["boot"],
            d["seq"],
            d.get("d_mm"),
            d.get("fill"),
            d.get("t_c"),
            d.get("bat_mv"),
            d.get("rssi"),
            d.get("fl", 0),
            d.get("drop", 0),
            d["v"],
            received,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        return Reject(f"undecodable reading: {exc!r}")


def status_row(value: bytes | None, received: datetime) -> tuple[Any, ...] | Reject:
    """One device-status record as a row of device_status_history."""
    try:
        d = orjson.loads(value or b"")
        ts = d.get("ts")
        return (
            _utc(ts) if ts is not None else received,
            d["id"],
            d["state"],
            d.get("fw"),
            d.get("boot"),
            d.get("reason"),
            received,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        return Reject(f"undecodable status: {exc!r}")
