"""The bridge's verdict on one MQTT message: `wastewatch.ingest.validate.classify` and its dead
letters.

Pure logic, so a fixed clock and no broker: every `DeadLetterReason` is
produced by the input that should produce it, valid telemetry passes through
byte for byte, and hypothesis checks that no payload can make `classify`
raise (a raise in the bridge's pump would stop all ingest).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import postgres
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import Format

from tests.strategies import telemetry_payloads
from wastewatch.ingest.rows import STAGE_COLUMNS, STAGE_TYPES, Reject, reading_row
from wastewatch.ingest.validate import (
    READINGS,
    STATUS,
    Accepted,
    Rejected,
    classify,
    dead_letter_bytes,
)
from wastewatch.schema.dlq import MAX_DLQ_PAYLOAD_BYTES, DeadLetter, DeadLetterReason
from wastewatch.schema.status import DeviceState, DeviceStatus
from wastewatch.schema.telemetry import (
    EARLIEST_PLAUSIBLE_TS,
    EXAMPLE_READING,
    LATEST_TS,
    MAX_PAYLOAD_BYTES,
    DeviceTelemetry,
)
from wastewatch.schema.topics import config_topic, status_topic, telemetry_topic

CITY = "kalasin"
DEVICE = "kls-bin-0001"
OTHER_DEVICE = "kls-bin-0002"
TELEMETRY = telemetry_topic(CITY, DEVICE)
STATUS_TOPIC = status_topic(CITY, DEVICE)
NOW_S = 1_767_225_600.75  # the bridge's clock in these tests (2026-01-01T00:00:00.75Z)
MAX_FUTURE_S = 3600
INT32_MAX = 2**31 - 1

Reason = DeadLetterReason


def reading(**changes: Any) -> dict[str, Any]:
    """A valid reading by wire alias; keyword arguments replace keys, ``_drop=[...]`` removes."""
    body: dict[str, Any] = {**EXAMPLE_READING, "id": DEVICE, "ts": int(NOW_S) - 60}
    for key in changes.pop("_drop", ()):
        del body[key]
    body.update(changes)
    return body


def wire(body: Any) -> bytes:
    """Compact JSON, the way firmware writes it."""
    return json.dumps(body, separators=(",", ":")).encode()


def raw(**tokens: str) -> bytes:
    """A valid reading with some values spliced in as raw JSON text (``NaN``, ``1e400``)."""
    text = wire(reading(**{key: f"@@{key}@@" for key in tokens})).decode()
    for key, token in tokens.items():
        text = text.replace(f'"@@{key}@@"', token)
    return text.encode()


def verdict(payload: bytes, topic: str = TELEMETRY) -> Accepted | Rejected:
    return classify(topic, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)


def assert_rejected(result: Accepted | Rejected, reason: DeadLetterReason) -> Rejected:
    assert isinstance(result, Rejected), f"expected a {reason.value} dead letter, got {result!r}"
    assert result.reason is reason, f"expected {reason.value}, got {result!r}"
    assert result.detail, "a dead letter must say why"
    return result


# --- accepted --------------------------------------------------------------------------------


def test_valid_telemetry_is_forwarded_byte_for_byte() -> None:
    payload = wire(reading())
    result = verdict(payload)
    assert result == Accepted(READINGS, DEVICE, payload)


def test_valid_telemetry_is_not_reserialised() -> None:
    """Whitespace, key order and optional keys left out survive: no re-encoding on the hot path."""
    payload = b'{ "fill": 0.5, "d_mm": null,\n "ts": 1767225000, "seq": 0, "boot": 0, "id": "kls-bin-0001", "v": 1 }'  # noqa: E501
    result = verdict(payload)
    assert isinstance(result, Accepted)
    assert result.value == payload
    assert result.topic == READINGS
    assert result.device_id == DEVICE


def test_payload_of_exactly_the_limit_is_accepted() -> None:
    body = wire(reading())
    payload = body[:-1] + b" " * (MAX_PAYLOAD_BYTES - len(body)) + b"}"
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert isinstance(verdict(payload), Accepted)


def test_timestamp_exactly_max_future_ahead_is_accepted() -> None:
    limit = int(NOW_S) + MAX_FUTURE_S
    assert isinstance(verdict(wire(reading(ts=limit))), Accepted)


def test_bare_last_will_is_completed_with_topic_id_and_receive_time() -> None:
    result = verdict(b'{"state":"offline"}', STATUS_TOPIC)
    assert isinstance(result, Accepted), result
    assert result.topic == STATUS
    assert result.device_id == DEVICE
    status = DeviceStatus.model_validate_json(result.value)
    assert status.state is DeviceState.OFFLINE
    assert status.device_id == DEVICE
    assert status.timestamp_s == int(NOW_S)


def test_full_status_keeps_its_own_time() -> None:
    payload = wire(
        {
            "v": 1,
            "state": "online",
            "id": DEVICE,
            "fw": "0.3.1",
            "boot": 17,
            "reason": "boot",
            "ts": int(NOW_S) - 5,
        }
    )
    result = verdict(payload, STATUS_TOPIC)
    assert isinstance(result, Accepted), result
    status = DeviceStatus.model_validate_json(result.value)
    assert status.timestamp_s == int(NOW_S) - 5
    assert status.firmware_version == "0.3.1"


# --- every reason, from the input that should produce it -------------------------------------

VALID = wire(reading())

REJECTIONS: list[tuple[str, str, bytes, DeadLetterReason]] = [
    # not JSON at all / truncated
    ("plain-text", TELEMETRY, b"fill=0.42", Reason.NOT_JSON),
    ("binary-garbage", TELEMETRY, b"\xff\xfe\x00\x81", Reason.NOT_JSON),
    ("empty", TELEMETRY, b"", Reason.NOT_JSON),
    ("truncated-last-byte", TELEMETRY, VALID[:-1], Reason.NOT_JSON),
    ("truncated-mid-key", TELEMETRY, VALID[:20], Reason.NOT_JSON),
    ("trailing-garbage", TELEMETRY, VALID + b"}", Reason.NOT_JSON),
    ("single-quotes", TELEMETRY, VALID.replace(b'"', b"'"), Reason.NOT_JSON),
    # JSON, but not an object
    ("array", TELEMETRY, b"[" + VALID + b"]", Reason.INVALID),
    ("number", TELEMETRY, b"42", Reason.INVALID),
    ("string", TELEMETRY, b'"kls-bin-0001"', Reason.INVALID),
    ("null", TELEMETRY, b"null", Reason.INVALID),
    # wrong types (strings that are not numbers, numbers for strings)
    ("string-for-seq", TELEMETRY, wire(reading(seq="four")), Reason.INVALID),
    ("string-for-fill", TELEMETRY, wire(reading(fill="full")), Reason.INVALID),
    ("number-for-id", TELEMETRY, wire(reading(id=1)), Reason.INVALID),
    ("object-for-d_mm", TELEMETRY, wire(reading(d_mm={"mm": 612})), Reason.INVALID),
    ("fraction-for-ts", TELEMETRY, wire(reading(ts=1767225000.5)), Reason.INVALID),
    # out of range
    ("fill-1.5", TELEMETRY, wire(reading(fill=1.5)), Reason.INVALID),
    ("fill-negative", TELEMETRY, wire(reading(fill=-0.01)), Reason.INVALID),
    ("seq-negative", TELEMETRY, wire(reading(seq=-1)), Reason.INVALID),
    ("boot-over-int32", TELEMETRY, wire(reading(boot=INT32_MAX + 1)), Reason.INVALID),
    ("d_mm-over-20m", TELEMETRY, wire(reading(d_mm=20_001)), Reason.INVALID),
    ("rssi-positive", TELEMETRY, wire(reading(rssi=3)), Reason.INVALID),
    ("fl-over-16-bits", TELEMETRY, wire(reading(fl=0x10000)), Reason.INVALID),
    ("ts-after-2100", TELEMETRY, wire(reading(ts=LATEST_TS + 1)), Reason.INVALID),
    # NaN / Infinity tokens (non-standard JSON the parser tolerates; the ranges refuse them)
    ("fill-NaN", TELEMETRY, raw(fill="NaN"), Reason.INVALID),
    ("t_c-Infinity", TELEMETRY, raw(t_c="Infinity"), Reason.INVALID),
    ("t_c-minus-Infinity", TELEMETRY, raw(t_c="-Infinity"), Reason.INVALID),
    ("seq-NaN", TELEMETRY, raw(seq="NaN"), Reason.INVALID),
    # huge numbers
    ("seq-10e30", TELEMETRY, wire(reading(seq=10**30)), Reason.INVALID),
    ("ts-2e64", TELEMETRY, wire(reading(ts=2**64)), Reason.INVALID),
    ("d_mm-1e400", TELEMETRY, raw(d_mm="1e400"), Reason.INVALID),
    ("drop-100-digits", TELEMETRY, raw(drop="9" * 100), Reason.INVALID),
    # missing required fields (d_mm and fill are required, if nullable)
    *[
        (f"missing-{key}", TELEMETRY, wire(reading(_drop=[key])), Reason.INVALID)
        for key in ("id", "boot", "seq", "ts", "d_mm", "fill")
    ],
    ("missing-v", TELEMETRY, wire(reading(_drop=["v"])), Reason.INVALID),
    ("empty-object", TELEMETRY, b"{}", Reason.INVALID),
    # extra fields
    ("extra-field", TELEMETRY, wire(reading(hum=55)), Reason.INVALID),
    ("extra-null-field", TELEMETRY, wire(reading(note=None)), Reason.INVALID),
    # oversize: checked before parsing, whatever the bytes are
    ("oversize-valid-json", TELEMETRY, VALID[:-1] + b" " * 600 + b"}", Reason.OVERSIZE),
    ("oversize-garbage", TELEMETRY, b"\x00" * (MAX_PAYLOAD_BYTES + 1), Reason.OVERSIZE),
    ("oversize-status", STATUS_TOPIC, b'{"state":"offline"' + b" " * 600 + b"}", Reason.OVERSIZE),
    # unknown version
    ("v-2", TELEMETRY, wire(reading(v=2)), Reason.UNKNOWN_VERSION),
    ("v-0", TELEMETRY, wire(reading(v=0)), Reason.UNKNOWN_VERSION),
    ("v-2-and-new-field", TELEMETRY, wire(reading(v=2, hum=55)), Reason.UNKNOWN_VERSION),
    ("v-1-as-string", TELEMETRY, wire(reading(v="1")), Reason.INVALID),
    ("v-1-as-float", TELEMETRY, wire(reading(v=1.0)), Reason.INVALID),
    ("status-v-2", STATUS_TOPIC, b'{"v":2,"state":"online"}', Reason.UNKNOWN_VERSION),
    # device id in payload differs from the topic's
    ("other-device", TELEMETRY, wire(reading(id=OTHER_DEVICE)), Reason.DEVICE_MISMATCH),
    (
        "status-other-device",
        STATUS_TOPIC,
        wire({"state": "online", "id": OTHER_DEVICE}),
        Reason.DEVICE_MISMATCH,
    ),
    # clock ahead of the bridge's
    (
        "ts-1s-beyond-max-future",
        TELEMETRY,
        wire(reading(ts=int(NOW_S) + MAX_FUTURE_S + 1)),
        Reason.FUTURE_TIMESTAMP,
    ),
    (
        "status-ts-in-future",
        STATUS_TOPIC,
        wire({"state": "online", "ts": int(NOW_S) + MAX_FUTURE_S + 1}),
        Reason.FUTURE_TIMESTAMP,
    ),
    # topics devices must not publish on, or that are not device topics at all
    ("config-topic", config_topic(CITY, DEVICE), VALID, Reason.BAD_TOPIC),
    ("too-few-levels", f"ww/{CITY}/bins/{DEVICE}", VALID, Reason.BAD_TOPIC),
    ("too-many-levels", f"ww/{CITY}/bins/{DEVICE}/telemetry/x", VALID, Reason.BAD_TOPIC),
    ("upper-case-device", f"ww/{CITY}/bins/KLS-BIN-0001/telemetry", VALID, Reason.BAD_TOPIC),
    ("underscore-device", f"ww/{CITY}/bins/kls_bin_0001/telemetry", VALID, Reason.BAD_TOPIC),
    ("dot-device", f"ww/{CITY}/bins/kls.bin.0001/telemetry", VALID, Reason.BAD_TOPIC),
    ("unknown-kind", f"ww/{CITY}/bins/{DEVICE}/firmware", VALID, Reason.BAD_TOPIC),
    ("wrong-root", f"xx/{CITY}/bins/{DEVICE}/telemetry", VALID, Reason.BAD_TOPIC),
    (
        "reading-on-a-ticket-topic",
        f"ww/{CITY}/landfill/kls-landfill-1/tickets",
        VALID,
        Reason.INVALID,
    ),
    ("landfill-wrong-leaf", f"ww/{CITY}/landfill/kls-landfill-1/readings", VALID, Reason.BAD_TOPIC),
    ("empty-topic", "", VALID, Reason.BAD_TOPIC),
    # the topic is judged first: an oversize payload on a bad topic is a bad topic
    ("bad-topic-wins", f"ww/{CITY}/bins/BAD/telemetry", b"x" * 1000, Reason.BAD_TOPIC),
]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [pytest.param(t, p, r, id=name) for name, t, p, r in REJECTIONS],
)
def test_each_bad_input_gets_its_reason(topic: str, payload: bytes, reason: Reason) -> None:
    assert_rejected(verdict(payload, topic), reason)


def test_every_reason_is_covered() -> None:
    assert {reason for *_, reason in REJECTIONS} == set(DeadLetterReason)


def test_device_id_is_kept_when_the_topic_names_one() -> None:
    assert assert_rejected(verdict(b"nope"), Reason.NOT_JSON).device_id == DEVICE
    bad = assert_rejected(verdict(VALID, f"ww/{CITY}/bins/A_B/telemetry"), Reason.BAD_TOPIC)
    assert bad.device_id is None
    config = assert_rejected(verdict(VALID, config_topic(CITY, DEVICE)), Reason.BAD_TOPIC)
    assert config.device_id == DEVICE


def test_detail_names_the_offending_field() -> None:
    assert "fill" in assert_rejected(verdict(wire(reading(fill=1.5))), Reason.INVALID).detail
    many = verdict(wire(dict.fromkeys(reading(), "x") | {"a": 1, "b": 2, "c": 3}))
    detail = assert_rejected(many, Reason.INVALID).detail  # "v": "x" is no version at all
    assert "more" in detail
    assert len(detail) <= 2000


# --- dead letters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(t, p, r, id=name)
        for name, t, p, r in REJECTIONS
        if name in {"binary-garbage", "fill-1.5", "other-device", "upper-case-device", "empty"}
    ],
)
def test_dead_letter_parses_back_with_the_original(
    topic: str, payload: bytes, reason: Reason
) -> None:
    rejected = assert_rejected(verdict(payload, topic), reason)
    letter = DeadLetter.model_validate_json(
        dead_letter_bytes(payload, source_topic=topic, verdict=rejected, received_at_s=NOW_S)
    )
    assert letter.original_bytes == payload
    assert letter.payload_size == len(payload)
    assert letter.truncated is False
    assert letter.source_topic == topic
    assert letter.reason is reason
    assert letter.device_id == rejected.device_id
    assert letter.detail == rejected.detail
    assert letter.received_at == datetime.fromtimestamp(NOW_S, tz=UTC)


def test_one_megabyte_dead_letter_is_truncated_but_keeps_its_size() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, not UTF-8
    rejected = assert_rejected(verdict(payload), Reason.OVERSIZE)
    letter_bytes = dead_letter_bytes(
        payload, source_topic=TELEMETRY, verdict=rejected, received_at_s=NOW_S
    )
    assert len(letter_bytes) < 1_000_000, "a dead letter must fit Kafka's 1 MiB record limit"
    letter = DeadLetter.model_validate_json(letter_bytes)
    assert letter.truncated is True
    assert letter.payload_size == len(payload) == 1 << 20
    assert letter.original_bytes == payload[:MAX_DLQ_PAYLOAD_BYTES]
    assert letter.reason is Reason.OVERSIZE


def test_dead_letter_of_an_absurd_topic_still_validates() -> None:
    topic = "ww/" + "x" * 5000
    rejected = assert_rejected(verdict(b"{}", topic), Reason.BAD_TOPIC)
    letter = DeadLetter.model_validate_json(
        dead_letter_bytes(b"{}", source_topic=topic, verdict=rejected, received_at_s=NOW_S)
    )
    assert letter.source_topic == topic[:1024]
    assert base64.b64decode(letter.payload_b64) == b"{}"


# --- properties ------------------------------------------------------------------------------

TOPICS = [
    TELEMETRY,
    STATUS_TOPIC,
    config_topic(CITY, DEVICE),
    f"ww/{CITY}/bins/BAD_ID/telemetry",
    f"ww/{CITY}/bins/{DEVICE}",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*reading(), "state", "x"]), children, max_size=8)
    ),
    max_leaves=12,
)
near_readings = st.builds(
    lambda changes: wire(reading() | changes),
    st.dictionaries(st.sampled_from(list(reading())), json_values, max_size=3),
)
any_payload = st.one_of(
    st.binary(max_size=700),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_readings,
)


@settings(max_examples=400, deadline=None)
@given(topic=st.sampled_from(TOPICS), payload=any_payload)
def test_classify_never_raises(topic: str, payload: bytes) -> None:
    result = classify(topic, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        letter = DeadLetter.model_validate_json(
            dead_letter_bytes(payload, source_topic=topic, verdict=result, received_at_s=NOW_S)
        )
        assert letter.original_bytes == payload[:MAX_DLQ_PAYLOAD_BYTES]
        assert letter.reason is result.reason


telemetry_models = st.builds(
    DeviceTelemetry.model_validate, telemetry_payloads(max_ts=int(NOW_S) + MAX_FUTURE_S)
)


@settings(max_examples=300, deadline=None)
@given(model=telemetry_models)
def test_any_valid_reading_is_accepted_unchanged(model: DeviceTelemetry) -> None:
    payload = model.model_dump_json(by_alias=True).encode()
    topic = telemetry_topic(CITY, model.device_id)
    result = classify(topic, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert result == Accepted(READINGS, model.device_id, payload)
    assert sink_can_store(result.value)


# --- the contract with the sink --------------------------------------------------------------

_OIDS = [postgres.types[name].oid for name in STAGE_TYPES]


def sink_can_store(value: bytes) -> bool:
    """Whether the sink can decode ``value`` and binary-COPY it (the same dumpers, no server)."""
    row = reading_row(value, datetime.fromtimestamp(NOW_S, tz=UTC))
    if isinstance(row, Reject):
        return False
    assert len(row) == len(STAGE_COLUMNS)
    transformer = Transformer()
    transformer.set_dumper_types(_OIDS, Format.BINARY)
    try:
        transformer.dump_sequence(row, [PyFormat.BINARY] * len(row))
    except (TypeError, ValueError, OverflowError):
        return False
    return True


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(wire(reading(seq="42")), id="numeric-string-seq"),
        pytest.param(wire(reading(fill="0.5")), id="numeric-string-fill"),
        pytest.param(wire(reading(ts=str(int(NOW_S) - 60))), id="numeric-string-ts"),
        pytest.param(wire(reading(d_mm=612.0)), id="integral-float-d_mm"),
        pytest.param(raw(boot="1e3"), id="exponent-boot"),
        pytest.param(raw(rssi="-0.0"), id="negative-zero-rssi"),
        pytest.param(
            wire(
                {
                    "version": 1,
                    "device_id": DEVICE,
                    "boot_count": 1,
                    "sequence": 2,
                    "timestamp_s": int(NOW_S) - 60,
                    "distance_mm": 600,
                    "fill_level": 0.4,
                }
            ),
            id="field-names-not-aliases",
        ),
    ],
)
def test_what_classify_accepts_the_sink_can_store(payload: bytes) -> None:
    result = verdict(payload)
    assert isinstance(result, Rejected) or sink_can_store(result.value), (
        f"classify accepted {payload!r} but the sink cannot store it"
    )


# --- weighbridge tickets ---------------------------------------------------------------------

TICKET_TOPIC = "ww/kalasin/landfill/kls-landfill-1/tickets"
TICKET = {
    "ticket_id": "KLS-LF1-2026-000123",
    "site_id": "kls-landfill-1",
    "truck_id": "kls-truck-03",
    "weighed_at": "2025-12-31T22:12:00Z",
    "gross_kg": 14820.0,
    "tare_kg": 9310.0,
    "net_kg": 5510.0,
    "waste_stream": "general",
}


def test_ticket_is_forwarded_to_the_landfill_topic_keyed_by_site() -> None:
    from wastewatch.ingest.validate import LANDFILL
    from wastewatch.schema.landfill import LandfillDelivery

    result = classify(
        TICKET_TOPIC, json.dumps(TICKET).encode(), now_s=NOW_S, max_future_s=MAX_FUTURE_S
    )
    assert isinstance(result, Accepted)
    assert (result.topic, result.device_id) == (LANDFILL, "kls-landfill-1")
    assert LandfillDelivery.model_validate_json(result.value).net_kg == 5510.0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"site_id": "kls-landfill-2"}, DeadLetterReason.DEVICE_MISMATCH),
        ({"net_kg": "5510"}, DeadLetterReason.INVALID),
        ({"waste_stream": "plutonium"}, DeadLetterReason.INVALID),
        ({"weighed_at": "2099-01-01T00:00:00Z"}, DeadLetterReason.FUTURE_TIMESTAMP),
    ],
)
def test_bad_ticket_is_a_dead_letter(change: dict[str, object], reason: DeadLetterReason) -> None:
    body = json.dumps({**TICKET, **change}).encode()
    result = classify(TICKET_TOPIC, body, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert isinstance(result, Rejected)
    assert result.reason == reason


# --- issue 17: duplicate keys, non-integers, numbers a double cannot hold, unset clocks -------
#
# Every case below was accepted before issue 17 and forwarded byte for byte; each is now an
# `invalid` dead letter whose detail names the key or says what is wrong.

INT_KEYS = ("v", "boot", "seq", "ts", "d_mm", "bat_mv", "rssi", "fl", "drop")
FLOAT_KEYS = ("fill", "t_c")
NOT_INTEGERS = ("true", "false", "1.0", "0.0", "-0.0", "1e0", "1E2", "17.0", "-71.0")
BIG_INTEGERS = (
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "1" + "0" * 200,
)
#: Literals a double cannot hold: non-zero numbers that parse to zero (underflow), numbers
#: that parse to infinity (overflow), and tokens that are not JSON numbers at all.
NOT_DOUBLES = (
    "1e-400",
    "-1e-400",
    "2e-324",
    "0." + "0" * 330 + "1",
    "1e400",
    "-1e400",
    "1" + "0" * 320,
    "NaN",
    "Infinity",
    "-Infinity",
)


def refused(payload: bytes, topic: str = TELEMETRY) -> Rejected:
    assert len(payload) <= MAX_PAYLOAD_BYTES, "make the case smaller: it would be oversize"
    return assert_rejected(verdict(payload, topic), Reason.INVALID)


@pytest.mark.parametrize("token", NOT_INTEGERS + BIG_INTEGERS)
@pytest.mark.parametrize("key", INT_KEYS)
def test_integer_fields_refuse_booleans_floats_and_big_numbers(key: str, token: str) -> None:
    assert key in refused(raw(**{key: token})).detail


@pytest.mark.parametrize("token", NOT_DOUBLES)
@pytest.mark.parametrize("key", INT_KEYS + FLOAT_KEYS)
def test_numeric_fields_refuse_what_a_double_cannot_hold(key: str, token: str) -> None:
    detail = refused(raw(**{key: token})).detail
    assert key in detail or token[:8] in detail, detail


@pytest.mark.parametrize("token", ["true", "false"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_float_fields_refuse_booleans(key: str, token: str) -> None:
    assert key in refused(raw(**{key: token})).detail


@pytest.mark.parametrize(
    ("key", "token"),
    [
        ("fill", "0"),
        ("fill", "0.0"),
        ("fill", "-0.0"),
        ("fill", "0e-400"),
        ("fill", "0.000E+5"),
        ("fill", "1e-300"),
        ("fill", "2.2250738585072014e-308"),
        # subnormal: less precise, but not zero, and what the model dumps for such a value
        ("fill", "1e-310"),
        ("fill", "5e-324"),
        ("fill", "1"),
        ("t_c", "0.0"),
        ("t_c", "-0.0"),
        ("t_c", "-40"),
        ("t_c", "1.5e2"),
    ],
)
def test_zeros_and_tiny_normal_numbers_are_still_accepted(key: str, token: str) -> None:
    payload = raw(**{key: token})
    assert verdict(payload) == Accepted(READINGS, DEVICE, payload)


@pytest.mark.parametrize("token", ["true", "1.0", "1e0"])
def test_status_version_refuses_booleans_and_floats(token: str) -> None:
    payload = b'{"v":' + token.encode() + b',"state":"online"}'
    assert "v" in refused(payload, STATUS_TOPIC).detail


@pytest.mark.parametrize("token", NOT_INTEGERS + BIG_INTEGERS[:2] + NOT_DOUBLES[:3] + ("NaN",))
@pytest.mark.parametrize("key", ["boot", "ts"])
def test_status_integer_fields_refuse_non_integers(key: str, token: str) -> None:
    payload = b'{"state":"online","' + key.encode() + b'":' + token.encode() + b"}"
    refused(payload, STATUS_TOPIC)


def splice_pair(payload: bytes, pair: bytes, *, at_end: bool = True) -> bytes:
    """``payload`` (a JSON object) with one more raw ``"key":value`` pair."""
    if at_end:
        return payload[:-1] + b"," + pair + b"}"
    return b"{" + pair + b"," + payload[1:]


DUPLICATES: list[tuple[str, str, bytes]] = [
    # (name, topic, payload)
    ("id-B-then-A", TELEMETRY, splice_pair(wire(reading(id="b-bin-0001")), b'"id":"kls-bin-0001"')),
    ("id-twice-same", TELEMETRY, splice_pair(VALID, b'"id":"kls-bin-0001"')),
    ("seq-twice-same", TELEMETRY, splice_pair(VALID, b'"seq":4242', at_end=False)),
    ("seq-string-then-int", TELEMETRY, splice_pair(VALID, b'"seq":"x"', at_end=False)),
    ("seq-object-then-int", TELEMETRY, splice_pair(VALID, b'"seq":{"a":1,"a":2}', at_end=False)),
    ("seq-null-then-int", TELEMETRY, splice_pair(VALID, b'"seq":null', at_end=False)),
    ("escaped-key", TELEMETRY, splice_pair(VALID, b'"\\u0073eq":4243')),
    ("v-twice", TELEMETRY, splice_pair(VALID, b'"v":1')),
    ("ts-twice", TELEMETRY, splice_pair(VALID, b'"ts":0', at_end=False)),
    ("fill-twice", TELEMETRY, splice_pair(VALID, b'"fill":0.9', at_end=False)),
    ("optional-t_c-twice", TELEMETRY, splice_pair(VALID, b'"t_c":20.0')),
    (
        "three-times",
        TELEMETRY,
        splice_pair(splice_pair(VALID, b'"drop":1'), b'"drop":2', at_end=False),
    ),
    (
        "optional-keys-left-out",
        TELEMETRY,
        splice_pair(wire(reading(_drop=["t_c", "bat_mv", "rssi", "fl", "drop"])), b'"boot":17'),
    ),
    ("status-state-twice", STATUS_TOPIC, b'{"state":"online","state":"offline"}'),
    (
        "status-id-B-then-A",
        STATUS_TOPIC,
        b'{"state":"offline","id":"kls-bin-0002","id":"kls-bin-0001"}',
    ),
    ("status-ts-twice", STATUS_TOPIC, b'{"state":"online","ts":1767225000,"ts":1767225001}'),
    ("status-null-id-twice", STATUS_TOPIC, b'{"state":"online","id":null,"id":null}'),
]


@pytest.mark.parametrize(("topic", "payload"), [pytest.param(t, p, id=n) for n, t, p in DUPLICATES])
def test_duplicate_keys_are_refused(topic: str, payload: bytes) -> None:
    assert "duplicate key" in refused(payload, topic).detail


def test_duplicate_key_detail_names_the_key() -> None:
    detail = refused(DUPLICATES[0][2]).detail
    assert "'id'" in detail, detail


@pytest.mark.parametrize(
    ("change", "token"),
    [
        ("net_kg", "1e-400"),
        ("net_kg", "-1e-400"),
        ("net_kg", "NaN"),
        ("gross_kg", "1e400"),
        ("gross_kg", "Infinity"),
        ("tare_kg", "-Infinity"),
        ("gross_kg", "true"),
        ("net_kg", "false"),
    ],
)
def test_ticket_numbers_a_double_cannot_hold_are_refused(change: str, token: str) -> None:
    body = {**TICKET, "gross_kg": 9310.5, "tare_kg": 9310.0, "net_kg": 0.5} | {change: "@@"}
    payload = json.dumps(body).replace('"@@"', token).encode()
    assert_rejected(
        classify(TICKET_TOPIC, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S), Reason.INVALID
    )


@pytest.mark.parametrize("key", ["net_kg", "site_id", "ticket_id", "weighed_at"])
def test_ticket_duplicate_keys_are_refused(key: str) -> None:
    payload = splice_pair(
        json.dumps(TICKET).encode(), json.dumps({key: TICKET[key]})[1:-1].encode()
    )
    result = classify(TICKET_TOPIC, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert "duplicate key" in assert_rejected(result, Reason.INVALID).detail


def test_ticket_weighed_before_the_plausible_time_is_refused() -> None:
    """A weighbridge whose clock was reset: a ticket of 1970 would land in a 1970 chunk."""
    payload = json.dumps({**TICKET, "weighed_at": "1970-01-01T00:05:00Z"}).encode()
    result = classify(TICKET_TOPIC, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert "weighed_at" in assert_rejected(result, Reason.INVALID).detail


@pytest.mark.parametrize("ts", [0, 1, 86_400, 820_454_400, 946_684_800, EARLIEST_PLAUSIBLE_TS - 1])
def test_status_before_the_plausible_time_gets_the_receive_time(ts: int) -> None:
    """As for a last will without ``ts``: the device's clock was never set."""
    payload = wire({"v": 1, "state": "online", "id": DEVICE, "ts": ts})
    result = verdict(payload, STATUS_TOPIC)
    assert isinstance(result, Accepted), result
    assert DeviceStatus.model_validate_json(result.value).timestamp_s == int(NOW_S)


def test_status_at_the_plausible_time_keeps_it() -> None:
    payload = wire({"v": 1, "state": "online", "id": DEVICE, "ts": EARLIEST_PLAUSIBLE_TS})
    result = verdict(payload, STATUS_TOPIC)
    assert isinstance(result, Accepted), result
    assert DeviceStatus.model_validate_json(result.value).timestamp_s == EARLIEST_PLAUSIBLE_TS


@pytest.mark.parametrize("ts", [1, 86_400, 820_454_400, EARLIEST_PLAUSIBLE_TS - 1])
def test_reading_before_the_plausible_time_is_forwarded_as_clockless(ts: int) -> None:
    """The bridge forwards it unchanged; the sink stores it at the receive time."""
    payload = wire(reading(ts=ts))
    assert verdict(payload) == Accepted(READINGS, DEVICE, payload)
    row = reading_row(payload, datetime.fromtimestamp(NOW_S, tz=UTC))
    assert not isinstance(row, Reject), row
    cols = dict(zip(STAGE_COLUMNS, row, strict=True))
    assert cols["time"] == datetime.fromtimestamp(NOW_S, tz=UTC)
    assert cols["clock_unset"] is True


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)


@settings(max_examples=400, deadline=None)
@given(model=telemetry_models, data=st.data())
def test_any_duplicated_key_is_refused(model: DeviceTelemetry, data: st.DataObject) -> None:
    """A valid reading with any of its keys repeated anywhere, with any value, is refused."""
    pairs = list(json.loads(model.model_dump_json(by_alias=True)).items())
    key = data.draw(st.sampled_from([k for k, _ in pairs]), label="key")
    same = dict(pairs)[key]
    value = data.draw(st.just(same) | json_scalars | st.lists(json_scalars, max_size=2))
    pairs.insert(data.draw(st.integers(0, len(pairs)), label="at"), (key, value))
    payload = ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()
    topic = telemetry_topic(CITY, model.device_id)
    result = classify(topic, payload, now_s=NOW_S, max_future_s=MAX_FUTURE_S)
    assert isinstance(result, Rejected), f"{payload!r} was accepted"
    if len(payload) > MAX_PAYLOAD_BYTES:
        assert result.reason is Reason.OVERSIZE
    elif key == "v" and value != 1:
        assert result.reason in {Reason.INVALID, Reason.UNKNOWN_VERSION}
    else:
        assert result.reason is Reason.INVALID, result
    if value == same and type(value) is type(same) and len(payload) <= MAX_PAYLOAD_BYTES:
        assert "duplicate key" in result.detail, result
