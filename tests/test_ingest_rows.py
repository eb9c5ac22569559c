"""`wastewatch.ingest.rows`: Kafka record values and headers -> database rows, without raising."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wastewatch.ingest.rows import (
    STAGE_COLUMNS,
    STATUS_COLUMNS,
    Reject,
    reading_row,
    received_at,
    status_row,
)
from wastewatch.schema.telemetry import EARLIEST_PLAUSIBLE_TS

RECEIVED = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
TS = 1_767_225_600  # 2026-01-01T00:00:00Z

FULL = (
    b'{"v":1,"id":"kls-bin-0001","boot":17,"seq":4242,"ts":1767225600,"d_mm":612,'
    b'"fill":0.42,"t_c":31.5,"bat_mv":3870,"rssi":-71,"fl":9,"drop":2}'
)
MINIMAL = b'{"v":1,"id":"kls-bin-0003","boot":0,"seq":5,"ts":1767225600,"d_mm":null,"fill":null}'


def test_full_reading_in_column_order() -> None:
    row = reading_row(FULL, RECEIVED)
    assert not isinstance(row, Reject), row
    assert dict(zip(STAGE_COLUMNS, row, strict=True)) == {
        "time": datetime(2026, 1, 1, tzinfo=UTC),
        "device_id": "kls-bin-0001",
        "boot_counter": 17,
        "seq": 4242,
        "distance_mm": 612,
        "fill_level": 0.42,
        "temperature_c": 31.5,
        "battery_mv": 3870,
        "rssi_dbm": -71,
        "flags": 9,
        "dropped_count": 2,
        "payload_version": 1,
        "received_at": RECEIVED,
        "clock_unset": False,
    }
    assert row[0].tzinfo is UTC


def test_clockless_reading_is_stored_at_the_receive_time() -> None:
    """ts 0 means the device's clock was never set: the bridge's receive time stands in."""
    clockless = MINIMAL.replace(b'"ts":1767225600', b'"ts":0')
    row = reading_row(clockless, RECEIVED)
    assert not isinstance(row, Reject), row
    cols = dict(zip(STAGE_COLUMNS, row, strict=True))
    assert cols["time"] == RECEIVED
    assert cols["clock_unset"] is True


@pytest.mark.parametrize(
    "ts",
    [
        pytest.param(1, id="1970"),
        pytest.param(820_454_400, id="1996"),
        pytest.param(946_684_800, id="micropython-epoch-2000"),
        pytest.param(EARLIEST_PLAUSIBLE_TS - 1, id="one-second-early"),
    ],
)
def test_reading_before_the_plausible_time_is_clockless(ts: int) -> None:
    """A clock that was never set: stored at the receive time, deduplicated as clockless,
    never in a hypertable chunk of 1970 (one chunk per distinct day)."""
    row = reading_row(MINIMAL.replace(b"1767225600", str(ts).encode()), RECEIVED)
    assert not isinstance(row, Reject), row
    cols = dict(zip(STAGE_COLUMNS, row, strict=True))
    assert cols["time"] == RECEIVED
    assert cols["clock_unset"] is True


def test_reading_at_the_plausible_time_keeps_its_own() -> None:
    row = reading_row(MINIMAL.replace(b"1767225600", str(EARLIEST_PLAUSIBLE_TS).encode()), RECEIVED)
    assert not isinstance(row, Reject), row
    assert row[0] == datetime.fromtimestamp(EARLIEST_PLAUSIBLE_TS, tz=UTC)
    assert row[-1] is False


def test_minimal_reading_gets_nulls_and_zero_defaults() -> None:
    row = reading_row(MINIMAL, RECEIVED)
    assert not isinstance(row, Reject), row
    cols = dict(zip(STAGE_COLUMNS, row, strict=True))
    assert cols["distance_mm"] is None
    assert cols["fill_level"] is None
    assert cols["temperature_c"] is None
    assert cols["battery_mv"] is None
    assert cols["rssi_dbm"] is None
    assert cols["flags"] == 0
    assert cols["dropped_count"] == 0


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="tombstone"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe\x00", id="binary"),
        pytest.param(FULL[:-5], id="truncated"),
        pytest.param(b"[1,2,3]", id="array"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"kls-bin-0001"', id="string"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(MINIMAL.replace(b'"id":"kls-bin-0003",', b""), id="missing-id"),
        pytest.param(MINIMAL.replace(b'"seq":5,', b""), id="missing-seq"),
        pytest.param(MINIMAL.replace(b'"v":1,', b""), id="missing-v"),
        pytest.param(MINIMAL.replace(b"1767225600", b'"yesterday"'), id="ts-string"),
        pytest.param(MINIMAL.replace(b"1767225600", b"null"), id="ts-null"),
        pytest.param(MINIMAL.replace(b"1767225600", b"1e20"), id="ts-overflows-time_t"),
        pytest.param(MINIMAL.replace(b"1767225600", b"253402300800"), id="ts-year-10000"),
        pytest.param(MINIMAL.replace(b"1767225600", b"1e400"), id="ts-infinite"),
        pytest.param(MINIMAL.replace(b"1767225600", b"NaN"), id="ts-NaN"),
        pytest.param(MINIMAL.replace(b'"seq":5,', b'"seq":5,"seq":6,'), id="duplicate-key"),
        pytest.param(MINIMAL.replace(b'"v":1', b'"v":true'), id="v-true"),
        pytest.param(MINIMAL.replace(b'"fill":null', b'"fill":1e-400'), id="fill-underflow"),
    ],
)
def test_poison_reading_is_a_reject_not_an_exception(value: bytes | None) -> None:
    row = reading_row(value, RECEIVED)
    assert isinstance(row, Reject), f"{value!r} decoded to {row!r}"
    assert row.detail.startswith("undecodable reading")


def test_full_status_row() -> None:
    value = (
        b'{"v":1,"state":"online","id":"kls-bin-0001","fw":"0.3.1","boot":17,'
        b'"reason":"boot","ts":1767225600}'
    )
    row = status_row(value, RECEIVED)
    assert not isinstance(row, Reject), row
    assert dict(zip(STATUS_COLUMNS, row, strict=True)) == {
        "time": datetime(2026, 1, 1, tzinfo=UTC),
        "device_id": "kls-bin-0001",
        "state": "online",
        "firmware_version": "0.3.1",
        "boot_counter": 17,
        "reason": "boot",
        "received_at": RECEIVED,
    }


def test_status_without_time_falls_back_to_receive_time() -> None:
    row = status_row(b'{"id":"kls-bin-0001","state":"offline"}', RECEIVED)
    assert not isinstance(row, Reject), row
    assert row[0] == RECEIVED
    assert row[3:6] == (None, None, None)


@pytest.mark.parametrize("ts", [0, 1, 946_684_800, EARLIEST_PLAUSIBLE_TS - 1])
def test_status_before_the_plausible_time_falls_back_to_receive_time(ts: int) -> None:
    row = status_row(b'{"id":"kls-bin-0001","state":"online","ts":%d}' % ts, RECEIVED)
    assert not isinstance(row, Reject), row
    assert row[0] == RECEIVED


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="tombstone"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"state":"offline"}', id="bare-will-without-id"),
        pytest.param(b'{"id":"kls-bin-0001"}', id="missing-state"),
        pytest.param(b'{"id":"kls-bin-0001","state":"offline","ts":"now"}', id="ts-string"),
        pytest.param(b'{"id":"kls-bin-0001","state":"offline","ts":1e20}', id="ts-overflow"),
        pytest.param(b'{"id":"kls-bin-0001","state":"offline","state":"online"}', id="dup-key"),
    ],
)
def test_poison_status_is_a_reject_not_an_exception(value: bytes | None) -> None:
    row = status_row(value, RECEIVED)
    assert isinstance(row, Reject), f"{value!r} decoded to {row!r}"
    assert row.detail.startswith("undecodable status")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b'["offline"]', id="array"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"offline"', id="string"),
        pytest.param(b"null", id="null"),
    ],
)
def test_non_object_status_is_a_reject_not_an_exception(value: bytes) -> None:
    assert isinstance(status_row(value, RECEIVED), Reject)


# --- received_at ----------------------------------------------------------------------------

FALLBACK_MS = TS * 1000 + 250
FALLBACK = datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)


def test_received_at_reads_the_bridge_header() -> None:
    headers = [("other", b"x"), ("received_at_ms", b"1767225600123")]
    assert received_at(headers, FALLBACK_MS) == datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)


def test_received_at_uses_the_first_header() -> None:
    headers = [("received_at_ms", b"1767225600000"), ("received_at_ms", b"1767225700000")]
    assert received_at(headers, FALLBACK_MS) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(None, id="none"),
        pytest.param((), id="empty"),
        pytest.param([("other", b"1767225600123")], id="no-such-header"),
        pytest.param([("received_at_ms", b"soon")], id="not-a-number"),
        pytest.param([("received_at_ms", b"")], id="empty-value"),
        pytest.param([("received_at_ms", None)], id="null-value"),
        pytest.param([("received_at_ms", b"1.5e12")], id="float-text"),
        pytest.param([("received_at_ms", b"253402300800000")], id="year-10000"),
    ],
)
def test_received_at_falls_back_to_the_kafka_timestamp(headers: object) -> None:
    assert received_at(headers, FALLBACK_MS) == FALLBACK


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"99999999999999999999", id="beyond-time_t"),
        pytest.param(b"9" * 400, id="beyond-float"),
    ],
)
def test_received_at_survives_an_absurd_header(value: bytes) -> None:
    assert received_at([("received_at_ms", value)], FALLBACK_MS) == FALLBACK
