"""Unit tests for the message models, flag bits and topic helpers in ``schema``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.strategies import telemetry_payloads
from wastewatch.schema.alerts import Alert
from wastewatch.schema.bins import BinRegistration
from wastewatch.schema.common import (
    CITY_PATTERN,
    DEVICE_ID_PATTERN,
    KNOWN_FLAG_BITS,
    STREAM_DENSITY_KG_PER_L,
    TelemetryFlag,
    WasteStream,
)
from wastewatch.schema.config import Calibration, DeviceConfig
from wastewatch.schema.dlq import MAX_DLQ_PAYLOAD_BYTES, DeadLetter, DeadLetterReason
from wastewatch.schema.errors import SchemaError, TopicError, UnknownTopicError
from wastewatch.schema.events import CollectionEvent
from wastewatch.schema.export import MODELS, model_examples
from wastewatch.schema.landfill import LandfillDelivery, LandfillSite
from wastewatch.schema.routes import RoutePlan
from wastewatch.schema.status import DeviceState, DeviceStatus
from wastewatch.schema.telemetry import MAX_PAYLOAD_BYTES, DeviceTelemetry
from wastewatch.schema.topics import (
    KAFKA_TOPICS,
    DeviceTopicKind,
    KafkaTopic,
    config_topic,
    device_filter,
    device_topic,
    landfill_ticket_filter,
    landfill_ticket_topic,
    parse_device_topic,
    parse_landfill_topic,
    status_topic,
    telemetry_topic,
    topic_by_name,
)

MODEL_ITEMS = sorted(MODELS.items())
MODEL_IDS = [stem for stem, _ in MODEL_ITEMS]

TELEMETRY: dict[str, Any] = model_examples(DeviceTelemetry)[0]


def _example(model: type[BaseModel], **changes: Any) -> dict[str, Any]:
    return {**model_examples(model)[0], **changes}


# --- every model -----------------------------------------------------------------


@pytest.mark.parametrize(("stem", "model"), MODEL_ITEMS, ids=MODEL_IDS)
def test_examples_validate_and_round_trip_by_alias(stem: str, model: type[BaseModel]) -> None:
    examples = model_examples(model)
    assert examples, f"{stem}: declare whole-message examples in json_schema_extra"
    for example in examples:
        parsed = model.model_validate(example)
        wire = parsed.model_dump_json(by_alias=True)
        assert model.model_validate_json(wire) == parsed
        # Default dumps use the wire names too, so nobody emits Python names by accident.
        assert json.loads(parsed.model_dump_json()) == json.loads(wire)


@pytest.mark.parametrize(("stem", "model"), MODEL_ITEMS, ids=MODEL_IDS)
def test_every_field_has_description_and_valid_examples(stem: str, model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        assert field.description, f"{stem}.{name} needs a description"
        assert field.examples, f"{stem}.{name} needs examples"
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        for example in field.examples:
            adapter.validate_python(example)


@pytest.mark.parametrize(("stem", "model"), MODEL_ITEMS, ids=MODEL_IDS)
def test_models_are_frozen_and_forbid_extra_keys(stem: str, model: type[BaseModel]) -> None:
    assert model.model_config.get("frozen") is True
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({**model_examples(model)[0], "surprise": 1})


# --- telemetry -------------------------------------------------------------------


def test_telemetry_wire_keys_are_short_aliases() -> None:
    reading = DeviceTelemetry.model_validate(TELEMETRY)
    assert set(json.loads(reading.to_json_bytes())) == set(TELEMETRY)
    assert reading.fill_level == 0.42
    assert reading.distance_mm == 612
    assert reading.natural_key == ("kls-bin-0001", 17, 4242, 1767225600)


def test_telemetry_can_be_built_by_python_names() -> None:
    reading = DeviceTelemetry(
        version=1,
        device_id="kls-bin-0009",
        boot_count=1,
        sequence=2,
        timestamp_s=1767225600,
        distance_mm=None,
        fill_level=None,
    )
    assert reading.to_json_dict()["id"] == "kls-bin-0009"
    assert reading.flag_bits == 0
    assert reading.dropped_count == 0


def test_telemetry_time_is_aware_utc() -> None:
    reading = DeviceTelemetry.model_validate(TELEMETRY)
    assert reading.time == datetime(2026, 1, 1, tzinfo=UTC)
    assert reading.time.tzinfo is UTC


def test_telemetry_flags() -> None:
    bits = int(TelemetryFlag.FIRE | TelemetryFlag.OVERFULL) | (1 << 15)
    reading = DeviceTelemetry.model_validate({**TELEMETRY, "fl": bits})
    assert reading.flag_set == {TelemetryFlag.FIRE, TelemetryFlag.OVERFULL}
    assert reading.has(TelemetryFlag.FIRE)
    assert not reading.has(TelemetryFlag.TILTED)
    assert reading.unknown_flag_bits == 1 << 15
    assert reading.flags & TelemetryFlag.FIRE


def test_clock_trust() -> None:
    assert DeviceTelemetry.model_validate(TELEMETRY).clock_trusted
    unset = DeviceTelemetry.model_validate({**TELEMETRY, "fl": int(TelemetryFlag.CLOCK_UNSET)})
    assert not unset.clock_trusted
    # MicroPython's own epoch (2000-01-01) leaks through when the RTC was never set.
    assert not DeviceTelemetry.model_validate({**TELEMETRY, "ts": 946_684_800}).clock_trusted


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fill", 1.01),
        ("fill", -0.01),
        ("fill", float("nan")),
        ("t_c", 150.5),
        ("t_c", -41),
        ("bat_mv", 5001),
        ("rssi", 1),
        ("rssi", -128),
        ("fl", 1 << 16),
        ("d_mm", -1),
        ("seq", -1),
        ("boot", 2**31),
        ("seq", 2**31),
        ("drop", 2**31),
        ("ts", -1),
        ("drop", -1),
        ("v", 2),
        ("v", "1"),
        ("id", "KLS-BIN-0001"),
        ("id", "ab"),
        ("id", "-kls-bin"),
        ("id", "kls_bin_0001"),
        ("id", "kls/bin/0001"),
        ("id", "k" * 65),
        ("id", "kls-bin-0001\n"),
    ],
)
def test_telemetry_rejects_out_of_range(key: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        DeviceTelemetry.model_validate({**TELEMETRY, key: value})


_STRICT_JSON: dict[str, Any] = {"strict": True, "by_alias": True, "by_name": False}


@pytest.mark.parametrize("token", ["true", "false", "1.0", "1e0", "NaN", "1e400"])
@pytest.mark.parametrize("model", [DeviceTelemetry, DeviceStatus])
def test_version_refuses_booleans_and_floats(model: type[BaseModel], token: str) -> None:
    """``Literal[1]`` compares by equality (``True == 1.0 == 1``), even in strict mode."""
    body = json.dumps({**model_examples(model)[1], "v": "@@"}).replace('"@@"', token)
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body, **_STRICT_JSON)
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("v",), "int_type")]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize(
    ("model", "key"),
    [
        (DeviceTelemetry, "fill"),
        (DeviceTelemetry, "t_c"),
        (LandfillDelivery, "gross_kg"),
        (LandfillDelivery, "tare_kg"),
        (LandfillDelivery, "net_kg"),
    ],
)
def test_inbound_floats_must_be_finite(model: type[BaseModel], key: str, token: str) -> None:
    body = json.dumps({**model_examples(model)[0], key: "@@"}).replace('"@@"', token)
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body, **_STRICT_JSON)
    assert ((key,), "finite_number") in [(e["loc"], e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize("key", ["v", "id", "boot", "seq", "ts", "d_mm", "fill"])
def test_telemetry_requires_core_keys(key: str) -> None:
    payload = {k: v for k, v in TELEMETRY.items() if k != key}
    with pytest.raises(ValidationError):
        DeviceTelemetry.model_validate(payload)


def test_telemetry_rejects_python_names_mixed_with_extra_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        DeviceTelemetry.model_validate({**TELEMETRY, "fill_pct": 42})


@settings(max_examples=300, deadline=None)
@given(telemetry_payloads())
def test_any_valid_telemetry_fits_the_payload_limit_and_round_trips(
    payload: dict[str, Any],
) -> None:
    reading = DeviceTelemetry.model_validate(payload)
    wire = reading.to_json_bytes()
    assert len(wire) <= MAX_PAYLOAD_BYTES
    assert DeviceTelemetry.model_validate_json(wire) == reading


# --- flags and enums -------------------------------------------------------------


def test_flag_numbering_is_pinned() -> None:
    # Wire format: changing a value here breaks every deployed device.
    assert {flag.name: int(flag) for flag in TelemetryFlag} == {
        "OVERFULL": 1,
        "NO_ECHO": 2,
        "TILTED": 4,
        "FIRE": 8,
        "LOW_BATTERY": 16,
        "CLOCK_UNSET": 32,
        "SENSOR_FAULT": 64,
        "BUFFERED": 128,
        "LID_OPEN": 256,
        "TEMP_FAULT": 512,
    }
    assert KNOWN_FLAG_BITS == 0x3FF


def test_streams_cover_the_minimum_and_have_densities() -> None:
    assert {"general", "recyclable", "organic", "hazardous"} <= {s.value for s in WasteStream}
    assert set(STREAM_DENSITY_KG_PER_L) == set(WasteStream)


# --- status and config -----------------------------------------------------------


def test_bare_last_will_is_a_valid_status() -> None:
    will = DeviceStatus.model_validate_json(b'{"state":"offline"}')
    assert will.state is DeviceState.OFFLINE
    assert will.device_id is None
    assert will.version == 1


def test_status_rejects_unknown_state() -> None:
    with pytest.raises(ValidationError):
        DeviceStatus.model_validate({"state": "asleep"})


def test_config_interval_order() -> None:
    with pytest.raises(ValidationError, match="nearly_full_interval_s"):
        DeviceConfig.model_validate(_example(DeviceConfig, nearly_full_interval_s=1800))
    with pytest.raises(ValidationError, match="heartbeat_interval_s"):
        DeviceConfig.model_validate(_example(DeviceConfig, heartbeat_interval_s=600))


def test_calibration_rejects_full_line_inside_dead_zone() -> None:
    with pytest.raises(ValidationError, match="dead zone"):
        Calibration(mounting_height_mm=900, usable_depth_mm=800, dead_zone_mm=200)


@pytest.mark.parametrize(
    ("distance_mm", "fill"),
    [(1050, 0.0), (1200, 0.0), (650, 0.5), (250, 1.0), (100, 1.0), (None, None)],
)
def test_fill_from_distance(distance_mm: int | None, fill: float | None) -> None:
    calibration = Calibration(mounting_height_mm=1050, usable_depth_mm=800, dead_zone_mm=200)
    assert calibration.fill_from_distance(distance_mm) == fill


# --- registry, events, alerts, landfill, routes ----------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"latitude": 90.5},
        {"longitude": -180.1},
        {"collection_threshold": 0.0},
        {"collection_threshold": 1.1},
        {"volume_l": 0},
        {"usable_depth_mm": 1050},
        {"installed_at": "2026-01-05T03:00:00"},
        {"waste_stream": "plastic"},
        {"zone": "Zone 3"},
    ],
)
def test_bin_registration_rejects(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BinRegistration.model_validate(_example(BinRegistration, **changes))


def test_times_are_normalised_to_utc() -> None:
    bangkok = timezone(timedelta(hours=7))
    registration = BinRegistration.model_validate(
        _example(BinRegistration, installed_at=datetime(2026, 1, 5, 10, 0, tzinfo=bangkok))
    )
    assert registration.installed_at == datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    assert registration.installed_at.utcoffset() == timedelta(0)
    assert registration.name.startswith("หน้า")


def test_collection_must_lower_the_fill() -> None:
    with pytest.raises(ValidationError, match="fill_after"):
        CollectionEvent.model_validate(_example(CollectionEvent, fill_after=0.9))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bin_id": None, "device_id": None}, "bin_id or a device_id"),
        ({"state": "resolved"}, "resolved_at"),
        ({"resolved_at": "2026-01-02T00:00:00Z"}, "resolved_at"),
        ({"state": "resolved", "resolved_at": "2025-12-31T00:00:00Z"}, "before opened_at"),
        ({"severity": "panic"}, "severity"),
        ({"details": {"nested": {"a": 1}}}, "details"),
    ],
)
def test_alert_consistency(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Alert.model_validate(_example(Alert, **changes))


def test_landfill_ticket_arithmetic() -> None:
    with pytest.raises(ValidationError, match="net_kg"):
        LandfillDelivery.model_validate(_example(LandfillDelivery, net_kg=5000.0))
    rounded = LandfillDelivery.model_validate(_example(LandfillDelivery, net_kg=5510.8))
    assert rounded.net_kg == 5510.8


def test_landfill_site_used_within_capacity() -> None:
    with pytest.raises(ValidationError, match="used_m3"):
        LandfillSite.model_validate(_example(LandfillSite, used_m3=300000.0))


def _stops() -> list[dict[str, Any]]:
    return [dict(stop) for stop in _example(RoutePlan)["stops"]]


def test_route_stops_must_be_numbered_in_order() -> None:
    stops = _stops()
    stops[1]["sequence"] = 3
    with pytest.raises(ValidationError, match="sequences"):
        RoutePlan.model_validate(_example(RoutePlan, stops=stops))


def test_route_etas_must_not_decrease() -> None:
    stops = _stops()
    stops[1]["eta"] = "2026-01-01T23:00:00Z"
    with pytest.raises(ValidationError, match="ETAs"):
        RoutePlan.model_validate(_example(RoutePlan, stops=stops))


def test_route_bins_are_visited_once() -> None:
    stops = _stops()
    stops[1]["bin_id"] = stops[0]["bin_id"]
    with pytest.raises(ValidationError, match="more than once"):
        RoutePlan.model_validate(_example(RoutePlan, stops=stops))


def test_empty_route_is_valid() -> None:
    assert RoutePlan.model_validate(_example(RoutePlan, stops=[])).stops == ()


# --- dead letters ----------------------------------------------------------------


def test_dead_letter_keeps_non_utf8_bytes() -> None:
    raw = b"\xff\xfe not json"
    letter = DeadLetter.from_payload(
        raw,
        source_topic="ww/kalasin/bins/kls-bin-0001/telemetry",
        reason=DeadLetterReason.NOT_JSON,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        device_id="kls-bin-0001",
    )
    again = DeadLetter.model_validate_json(letter.to_json_bytes())
    assert again.original_bytes == raw
    assert again.payload_size == len(raw)
    assert not again.truncated


def test_dead_letter_truncates_floods() -> None:
    raw = b"x" * (MAX_DLQ_PAYLOAD_BYTES + 10)
    letter = DeadLetter.from_payload(
        raw,
        source_topic="ww/kalasin/bins/kls-bin-0001/telemetry",
        reason=DeadLetterReason.OVERSIZE,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert letter.truncated
    assert letter.payload_size == len(raw)
    assert len(letter.original_bytes) == MAX_DLQ_PAYLOAD_BYTES


@pytest.mark.parametrize(
    "changes",
    [{"payload_b64": "not base64!"}, {"payload_size": 10}, {"truncated": True}],
)
def test_dead_letter_rejects_inconsistent_payload(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DeadLetter.model_validate(_example(DeadLetter, **changes))


# --- MQTT topics -----------------------------------------------------------------


def test_topic_builders() -> None:
    assert telemetry_topic("kalasin", "kls-bin-0001") == "ww/kalasin/bins/kls-bin-0001/telemetry"
    assert status_topic("kalasin", "kls-bin-0001") == "ww/kalasin/bins/kls-bin-0001/status"
    assert config_topic("kalasin", "kls-bin-0001") == "ww/kalasin/bins/kls-bin-0001/config"
    assert device_filter("telemetry", "kalasin") == "ww/kalasin/bins/+/telemetry"
    assert device_filter(DeviceTopicKind.STATUS) == "ww/+/bins/+/status"
    assert landfill_ticket_topic("kalasin", "kls-landfill-1") == (
        "ww/kalasin/landfill/kls-landfill-1/tickets"
    )
    assert landfill_ticket_filter() == "ww/+/landfill/+/tickets"


@pytest.mark.parametrize(
    ("city", "device_id", "kind"),
    [
        ("kalasin", "kls/bin", "telemetry"),
        ("kalasin", "+", "telemetry"),
        ("Kalasin", "kls-bin-0001", "telemetry"),
        ("kalasin", "kls-bin-0001", "reboot"),
        ("#", "kls-bin-0001", "status"),
    ],
)
def test_topic_builders_reject_bad_levels(city: str, device_id: str, kind: str) -> None:
    with pytest.raises(TopicError):
        device_topic(city, device_id, kind)


def test_parse_device_topic() -> None:
    city, device_id, kind = parse_device_topic("ww/kalasin/bins/kls-bin-0001/telemetry")
    assert (city, device_id, kind) == ("kalasin", "kls-bin-0001", DeviceTopicKind.TELEMETRY)
    assert parse_device_topic("ww/kalasin/bins/kls-bin-0001/status").kind is DeviceTopicKind.STATUS


@pytest.mark.parametrize(
    "topic",
    [
        "xx/kalasin/bins/kls-bin-0001/telemetry",
        "/ww/kalasin/bins/kls-bin-0001/telemetry",
        "ww/kalasin/bins/kls-bin-0001/telemetry/extra",
        "ww/kalasin/bins/kls-bin-0001",
        "ww/kalasin/bins/+/telemetry",
        "ww/kalasin/bins/#",
        "ww/kalasin/trucks/kls-bin-0001/telemetry",
        "ww/kalasin/bins/kls-bin-0001/firmware",
        "ww/kalasin/bins/KLS-BIN-0001/telemetry",
        "ww/kalasin/bins//telemetry",
        "ww/kalasin/landfill/kls-landfill-1/tickets",
        "",
    ],
)
def test_parse_device_topic_rejects(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_device_topic(topic)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SchemaError)


def test_parse_landfill_topic() -> None:
    assert parse_landfill_topic("ww/kalasin/landfill/kls-landfill-1/tickets") == (
        "kalasin",
        "kls-landfill-1",
    )
    with pytest.raises(TopicError):
        parse_landfill_topic("ww/kalasin/landfill/kls-landfill-1/receipts")
    with pytest.raises(TopicError):
        parse_landfill_topic("ww/kalasin/bins/kls-bin-0001/telemetry")


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(CITY_PATTERN, fullmatch=True),
    st.from_regex(DEVICE_ID_PATTERN, fullmatch=True),
    st.sampled_from(DeviceTopicKind),
)
def test_device_topics_round_trip(city: str, device_id: str, kind: DeviceTopicKind) -> None:
    assert parse_device_topic(device_topic(city, device_id, kind)) == (city, device_id, kind)


# --- Kafka catalog ---------------------------------------------------------------

REQUIRED_KAFKA_TOPICS = {
    "waste.readings.v1",
    "waste.status.v1",
    "waste.dlq.v1",
    "waste.events.v1",
    "waste.alerts.v1",
    "waste.landfill.v1",
    "waste.routes.v1",
}


def test_kafka_catalog_is_well_formed() -> None:
    names = [topic.name for topic in KAFKA_TOPICS]
    assert len(names) == len(set(names)), "Kafka topic names must be unique"
    assert set(names) >= REQUIRED_KAFKA_TOPICS
    for topic in KAFKA_TOPICS:
        assert topic.partitions >= 1, topic.name
        assert topic.key, topic.name
        assert topic.description, topic.name
        assert topic.value_model in MODELS, f"{topic.name}: unknown value_model"
        assert topic.name.endswith(".v1") == topic.value_model.endswith(".v1")
        key_model = MODELS[topic.value_model]
        if topic.name != "waste.dlq.v1":
            # The key is a field of the value, so producers need nothing else to key it.
            assert topic.key in key_model.model_fields, topic.name


def test_readings_topic_contract() -> None:
    readings = topic_by_name("waste.readings.v1")
    assert readings == KafkaTopic(
        name="waste.readings.v1",
        partitions=12,
        key="device_id",
        value_model="device_telemetry.v1",
        description=readings.description,
    )


def test_unknown_kafka_topic() -> None:
    with pytest.raises(UnknownTopicError) as info:
        topic_by_name("waste.readings.v9")
    assert isinstance(info.value, LookupError)


def test_kafka_topic_is_frozen() -> None:
    with pytest.raises(AttributeError):
        KAFKA_TOPICS[0].partitions = 1  # type: ignore[misc]
