"""`wastewatch.schema.wire`: repeated keys and underflowing numbers, and the cheap proof that skips
the
exact parse agreeing with it on every payload a model accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tests.strategies import device_ids, int32, telemetry_payloads
from wastewatch.schema.landfill import LandfillDelivery
from wastewatch.schema.status import DeviceStatus
from wastewatch.schema.telemetry import DeviceTelemetry
from wastewatch.schema.wire import text_problem, wire_problem

STRICT: dict[str, Any] = {"strict": True, "by_alias": True, "by_name": False}


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":1}',
        '{"a":1,"b":{"c":1,"c":2}}',
        '[{"x":null,"x":null}]',
        '{"a":1,"\\u0061":2}',
        '{"a":{"a":1},"b":[{"k":1},{"k":2,"k":3}]}',
    ],
)
def test_repeated_keys_anywhere(text: str) -> None:
    assert (text_problem(text.encode()) or "").startswith("duplicate key")


@pytest.mark.parametrize(
    "token",
    ["1e-400", "-1e-400", "2e-324", "1E-999", "0.5e-330", "0." + "0" * 330 + "1", "-0.00001e-320"],
)
def test_underflows(token: str) -> None:
    assert "underflows" in (text_problem(b'{"x":' + token.encode() + b"}") or "")


@pytest.mark.parametrize(
    "token", ["0", "0.0", "-0.0", "0e-400", "0.000E+5", "1e-310", "5e-324", "1e308", "-7", "1e-3"]
)
def test_representable_numbers(token: str) -> None:
    assert text_problem(b'{"x":' + token.encode() + b"}") is None


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants(token: str) -> None:
    assert "not a JSON number" in (text_problem(b'{"x":' + token.encode() + b"}") or "")


# --- the cheap proof agrees with the exact parse ---------------------------------------------

readings = telemetry_payloads(signed_zeros=True)
statuses = st.fixed_dictionaries(
    {"state": st.sampled_from(["online", "offline"])},
    optional={
        "v": st.just(1),
        "id": st.none() | device_ids,
        "fw": st.none() | st.from_regex(r"[0-9A-Za-z.+-]{1,32}\Z", fullmatch=True),
        "boot": st.none() | int32,
        "reason": st.none() | st.sampled_from(["boot", "sleep", "connection_lost"]),
        "ts": st.none() | st.integers(0, 4_102_444_800),
    },
)
#: What a repeated key may hold before the value that counts.
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
extras = scalars | st.lists(scalars, max_size=2) | st.dictionaries(st.text(max_size=3), scalars)
#: Numbers as raw text, some of them underflowing.
number_tokens = st.sampled_from(
    [
        "0",
        "0.0",
        "-0.0",
        "0e-5",
        "1e-400",
        "-2e-324",
        "0.5",
        "1e-310",
        "3E-1",
        "0." + "0" * 330 + "1",
    ]
)


def escape_first(text: str) -> str:
    """JSON string of ``text`` (plain ASCII) with its first character as a \\u escape."""
    return f'"\\u{ord(text[0]):04x}' + json.dumps(text)[2:]


def render(pairs: list[tuple[str, Any]], draw: st.DrawFn) -> str:
    """JSON text of ``pairs``, in the many spellings a device might use."""
    gap = draw(st.sampled_from(["", " ", "\n  "]))
    parts = []
    for key, value in pairs:
        spelt_key = json.dumps(key, ensure_ascii=draw(st.booleans()))
        if draw(st.booleans()) and key:  # escape the first character: "\u0069d" is "id"
            spelt_key = escape_first(key)
        if isinstance(value, float) and draw(st.booleans()):
            spelt = draw(number_tokens)
        elif isinstance(value, str) and draw(st.booleans()):
            spelt = escape_first(value) if value else '""'
        else:
            spelt = json.dumps(value)
        parts.append(f"{spelt_key}:{gap}{spelt}")
    return "{" + gap + ("," + gap).join(parts) + gap + "}"


DEVICE_MODELS: list[type[BaseModel]] = [DeviceTelemetry, DeviceStatus]


@st.composite
def payloads(draw: st.DrawFn) -> tuple[type[BaseModel], bytes]:
    model = draw(st.sampled_from(DEVICE_MODELS))
    body: dict[str, Any] = draw(readings if model is DeviceTelemetry else statuses)
    pairs = list(body.items())
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from([k for k, _ in pairs]))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(extras)))
    return model, render(pairs, draw).encode()


@settings(max_examples=1500, deadline=None)
@given(case=payloads())
@example(
    case=(
        DeviceTelemetry,
        b'{"v":1,"id":"kls-bin-0001","boot":1,"seq":"x","seq":2,"ts":0,"d_mm":null,"fill":0.5}',
    )
)
@example(
    case=(
        DeviceTelemetry,
        b'{"v":1,"id":"kls-bin-0001","boot":1,"seq":2,"ts":0,"d_mm":null,"fill":1e-400}',
    )
)
@example(case=(DeviceStatus, b'{"state":"online","id":null,"id":null}'))
def test_the_cheap_proof_agrees_with_the_exact_parse(case: tuple[type[BaseModel], bytes]) -> None:
    model_class, payload = case
    try:
        model = model_class.model_validate_json(payload, **STRICT)
    except ValidationError:
        return  # refused by the model already: the wire check never runs
    assert wire_problem(payload, model) == text_problem(payload), payload


def test_tickets_always_take_the_exact_parse() -> None:
    body = {
        "ticket_id": "T-1",
        "site_id": "kls-landfill-1",
        "truck_id": "kls-truck-03",
        "weighed_at": "2026-01-01T04:12:00Z",
        "gross_kg": 9310.5,
        "tare_kg": 9310.0,
        "net_kg": 0.5,
        "waste_stream": "general",
    }
    clean = json.dumps(body).encode()
    ticket = LandfillDelivery.model_validate_json(clean, **STRICT)
    assert wire_problem(clean, ticket) is None
    dup = clean[:-1] + b', "net_kg": 0.5}'
    assert "duplicate key 'net_kg'" in (
        wire_problem(dup, LandfillDelivery.model_validate_json(dup, **STRICT)) or ""
    )
