"""Device ids, message numbering and pre-serialised telemetry for the ingest benchmark.

Every message of a run has a global number ``k``.  Message ``k`` belongs to
device ``k % devices`` and carries ``seq = k // devices`` (boot 1), so each
device's seq increases and the database row of a message maps back to its
number exactly: ``k = seq * devices + device_index``.  A later phase with
"new seqs" starts at ``seq_base`` and so at ``k = seq_base * devices``: the two
phases never share a number.

Payloads are built from a template cut out of a real
:class:`~wastewatch.schema.telemetry.DeviceTelemetry` serialisation (so key order and
formatting are the model's own) and one payload is validated against the model
at import: a publisher can then format tens of thousands of valid readings a
second without calling pydantic.
"""

from __future__ import annotations

from typing import Final

from wastewatch.schema import DeviceTelemetry

__all__ = [
    "BENCH_DEVICE_PREFIX",
    "NAIVE_DEVICE_PREFIX",
    "device_id",
    "device_index",
    "payload",
]

BENCH_DEVICE_PREFIX: Final = "bench-dev-"
"""Devices of the end-to-end leg: ``bench-dev-00001`` .. ``bench-dev-<D>``."""

NAIVE_DEVICE_PREFIX: Final = "naive-dev-"
"""Devices of the naive-bridge leg, so its rows never count as end-to-end rows."""

BOOT: Final = 1

_SENTINEL_ID: Final = "sentinel-device-id"
_SENTINEL_SEQ: Final = 987_654_321
_SENTINEL_TS: Final = 1_999_999_999


def _template() -> bytes:
    sample = DeviceTelemetry(
        version=1,
        device_id=_SENTINEL_ID,
        boot_count=BOOT,
        sequence=_SENTINEL_SEQ,
        timestamp_s=_SENTINEL_TS,
        distance_mm=612,
        fill_level=0.42,
        temperature_c=31.5,
        battery_mv=3870,
        rssi_dbm=-71,
    ).to_json_bytes()
    assert b"%" not in sample
    for sentinel, slot in (
        (f'"{_SENTINEL_ID}"'.encode(), b'"%s"'),
        (str(_SENTINEL_SEQ).encode(), b"%d"),
        (str(_SENTINEL_TS).encode(), b"%d"),
    ):
        if sample.count(sentinel) != 1:  # pragma: no cover - the model changed shape
            raise RuntimeError(f"cannot build the payload template from {sample!r}")
        sample = sample.replace(sentinel, slot)
    return sample


_TEMPLATE: Final = _template()


def payload(device: bytes, seq: int, ts: int) -> bytes:
    """One valid ``device_telemetry.v1`` payload; ``device`` is the id, ASCII-encoded."""
    return _TEMPLATE % (device, seq, ts)


def device_id(prefix: str, index: int) -> str:
    """Device number ``index`` (0-based) as an id: ``bench-dev-00001`` for index 0."""
    return f"{prefix}{index + 1:05d}"


def device_index(prefix: str, device: str) -> int:
    """Inverse of :func:`device_id`."""
    return int(device.removeprefix(prefix)) - 1


def _self_check() -> None:
    raw = payload(device_id(BENCH_DEVICE_PREFIX, 0).encode(), 7, 1_767_225_600)
    parsed = DeviceTelemetry.model_validate_json(raw)
    assert parsed.natural_key == ("bench-dev-00001", BOOT, 7, 1_767_225_600), parsed


_self_check()
