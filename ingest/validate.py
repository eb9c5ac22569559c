"""Turn one MQTT message into a Kafka record or a dead letter: pure, no I/O.

Every message gets exactly one verdict, so the bridge can always acknowledge
it: valid telemetry is forwarded byte for byte (no re-serialisation on the hot
path), a status message is completed with what the topic and the bridge's
clock know (a last will carries only ``{"state":"offline"}``, and a time
before `EARLIEST_PLAUSIBLE_TS` means the device's clock was never set), and
anything else becomes a dead letter with a reason from `DeadLetterReason`.

The broker's own reports (``$SYS/broker/wastewatch/...``: a denied publish or
subscription, a refused login flood; `wastewatch.schema.broker`) go to ``waste.broker.v1`` in
their canonical form; a malformed one is a dead letter like any other message.

Because valid bytes are forwarded as they are, they must mean one thing to
every reader: besides the strict model, `wastewatch.schema.wire.wire_problem` refuses a
key given twice and a number that underflows to zero (reason ``invalid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wastewatch.schema import (
    BROKER_EVENT_TOPICS,
    BROKER_TOPIC_ROOT,
    EARLIEST_PLAUSIBLE_TS,
    MAX_BROKER_EVENT_BYTES,
    MAX_PAYLOAD_BYTES,
    BrokerEvent,
    DeadLetterReason,
    DeviceStatus,
    DeviceTelemetry,
    DeviceTopic,
    DeviceTopicKind,
    LandfillDelivery,
    LandfillTopic,
    SchemaError,
    parse_device_topic,
    parse_landfill_topic,
    wire_problem,
)

READINGS = "waste.readings.v1"
STATUS = "waste.status.v1"
DLQ = "waste.dlq.v1"
LANDFILL = "waste.landfill.v1"
BROKER = "waste.broker.v1"
#: Weighbridge tickets are few and a little larger than readings.
MAX_TICKET_BYTES = 4096

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message: where it goes in Kafka and the bytes to send."""

    topic: str
    device_id: str
    """The Kafka key: the device or site id, for a broker report `BrokerEvent.kafka_key`."""
    value: bytes
    event: str | None = None
    """For a broker report, its `BrokerEventKind` value (the bridge counts them by it)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid message: why, for the dead-letter record."""

    reason: DeadLetterReason
    detail: str
    device_id: str | None


def classify(topic: str, payload: bytes, *, now_s: float, max_future_s: int) -> Accepted | Rejected:
    """The verdict on one message received on ``topic`` at ``now_s`` (bridge clock)."""
    if topic.startswith("$"):  # no device or weighbridge topic does: the broker's reports
        return _broker_event(topic, payload, now_s=now_s, max_future_s=max_future_s)
    where = _parse_topic(topic)
    if isinstance(where, LandfillTopic):
        return _ticket(payload, where.site_id, now_s=now_s, max_future_s=max_future_s)
    if isinstance(where, str):
        return Rejected(DeadLetterReason.BAD_TOPIC, where, None)
    device_id = where.device_id
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(
            DeadLetterReason.OVERSIZE,
            f"{len(payload)} bytes, the limit is {MAX_PAYLOAD_BYTES}",
            device_id,
        )
    if where.kind is DeviceTopicKind.TELEMETRY:
        return _telemetry(payload, device_id, now_s=now_s, max_future_s=max_future_s)
    if where.kind is DeviceTopicKind.STATUS:
        return _status(payload, device_id, now_s=now_s, max_future_s=max_future_s)
    return Rejected(
        DeadLetterReason.BAD_TOPIC, f"devices do not publish on {where.kind}", device_id
    )


@lru_cache(maxsize=65_536)
def _parse_topic(topic: str) -> DeviceTopic | LandfillTopic | str:
    """Parsed topic, or why it is not one of ours; cached, as devices repeat theirs."""
    try:
        return parse_device_topic(topic)
    except (SchemaError, ValueError) as exc:
        device_error = str(exc)
    if "/landfill/" in topic:
        try:
            return parse_landfill_topic(topic)
        except (SchemaError, ValueError) as exc:
            return str(exc)
    return device_error


def _ahead(what: str, at: float, now_s: float, max_future_s: int, key: str | None) -> Rejected:
    """The rejection of a time beyond the bridge's clock and its tolerance (``what``: the
    field and its value); the callers compare first, so an accepted message pays no call."""
    return Rejected(
        DeadLetterReason.FUTURE_TIMESTAMP,
        f"{what} is {at - now_s:.0f} s ahead of the bridge's clock (limit {max_future_s} s)",
        key,
    )


def _ticket(
    payload: bytes, site_id: str, *, now_s: float, max_future_s: int
) -> Accepted | Rejected:
    """A weighbridge ticket (`LandfillDelivery`), forwarded in its canonical form."""
    ticket = _validated(LandfillDelivery, payload, site_id, limit=(MAX_TICKET_BYTES, "a ticket"))
    if isinstance(ticket, Rejected):
        return ticket
    if ticket.site_id != site_id:
        return Rejected(
            DeadLetterReason.DEVICE_MISMATCH,
            f"ticket site {ticket.site_id!r} is not the topic's {site_id!r}",
            site_id,
        )
    weighed_s = ticket.weighed_at.timestamp()
    if weighed_s > now_s + max_future_s:
        what = f"weighed_at {ticket.weighed_at.isoformat()}"
        return _ahead(what, weighed_s, now_s, max_future_s, site_id)
    if weighed_s < EARLIEST_PLAUSIBLE_TS:
        # Its time is part of the ticket's key, so the receive time cannot stand in.
        return Rejected(
            DeadLetterReason.INVALID,
            f"weighed_at {ticket.weighed_at.isoformat()} is before 2024: the weighbridge's "
            "clock is not set",
            site_id,
        )
    return Accepted(LANDFILL, site_id, ticket.to_json_bytes())


def _broker_event(
    topic: str, payload: bytes, *, now_s: float, max_future_s: int
) -> Accepted | Rejected:
    """A guard plugin's report (`BrokerEvent`), forwarded in its canonical form."""
    kind = BROKER_EVENT_TOPICS.get(topic)
    if kind is None:
        return Rejected(
            DeadLetterReason.BAD_TOPIC,
            f"not a broker report topic (expected {BROKER_TOPIC_ROOT}/denied or /login-refused)",
            None,
        )
    event = _validated(
        BrokerEvent, payload, None, limit=(MAX_BROKER_EVENT_BYTES, "a broker report")
    )
    if isinstance(event, Rejected):
        return event
    if event.event is not kind:
        return Rejected(
            DeadLetterReason.INVALID,
            f"a {event.event.value} report on the {kind.value} topic",
            None,
        )
    if event.at > now_s + max_future_s:
        return _ahead(f"at {event.at}", event.at, now_s, max_future_s, None)
    value = event.model_dump_json(by_alias=True, exclude_none=True).encode()
    return Accepted(BROKER, event.kafka_key, value, event.event.value)


def _telemetry(
    payload: bytes, device_id: str, *, now_s: float, max_future_s: int
) -> Accepted | Rejected:
    # `_validated` inlined: this is the bridge's hot path, and the call costs ~2 % of it.
    try:
        reading = DeviceTelemetry.model_validate_json(
            payload, strict=True, by_alias=True, by_name=False
        )
    except ValidationError as exc:
        return Rejected(_reason(exc), describe_errors(exc), device_id)
    problem = wire_problem(payload, reading)
    if problem is not None:
        return Rejected(DeadLetterReason.INVALID, problem, device_id)
    if reading.device_id != device_id:
        return Rejected(
            DeadLetterReason.DEVICE_MISMATCH,
            f"payload id {reading.device_id!r} is not the topic's {device_id!r}",
            device_id,
        )
    if reading.timestamp_s > now_s + max_future_s:
        ts = reading.timestamp_s
        return _ahead(f"ts {ts}", ts, now_s, max_future_s, device_id)
    return Accepted(READINGS, device_id, payload)


def _status(
    payload: bytes, device_id: str, *, now_s: float, max_future_s: int
) -> Accepted | Rejected:
    status = _validated(DeviceStatus, payload, device_id)
    if isinstance(status, Rejected):
        return status
    if status.device_id is not None and status.device_id != device_id:
        return Rejected(
            DeadLetterReason.DEVICE_MISMATCH,
            f"payload id {status.device_id!r} is not the topic's {device_id!r}",
            device_id,
        )
    ts = status.timestamp_s
    if ts is not None and ts > now_s + max_future_s:
        return _ahead(f"ts {ts}", ts, now_s, max_future_s, device_id)
    # A last will has neither id nor time: the topic and the broker's delivery stand in.
    # So does the receive time for a clock that was never set (ts 0, 1970, 2000, ...).
    complete = status.model_copy(
        update={
            "device_id": device_id,
            "timestamp_s": ts if ts is not None and ts >= EARLIEST_PLAUSIBLE_TS else int(now_s),
        }
    )
    return Accepted(STATUS, device_id, complete.to_json_bytes())


def _validated(
    model: type[_M], payload: bytes, key: str | None, *, limit: tuple[int, str] | None = None
) -> _M | Rejected:
    """``payload`` as ``model``, or the dead-letter verdict (``key`` is its Kafka key).

    ``limit``: the most bytes and what the message is ("a ticket"), unless the caller checked.
    """
    if limit is not None and len(payload) > limit[0]:
        return Rejected(
            DeadLetterReason.OVERSIZE,
            f"{len(payload)} bytes, the limit for {limit[1]} is {limit[0]}",
            key,
        )
    try:
        # Strict and by alias only: valid bytes are forwarded as they are, so they must
        # already be exactly what the sink stores ("42" for an int is refused, not coerced).
        message = model.model_validate_json(payload, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        return Rejected(_reason(exc), describe_errors(exc), key)
    problem = wire_problem(payload, message)
    if problem is not None:
        return Rejected(DeadLetterReason.INVALID, problem, key)
    return message


def _reason(exc: ValidationError) -> DeadLetterReason:
    errors = exc.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return DeadLetterReason.NOT_JSON
    if any(e["loc"] == ("v",) and e["type"] == "literal_error" for e in errors):
        return DeadLetterReason.UNKNOWN_VERSION
    return DeadLetterReason.INVALID


def describe_errors(exc: ValidationError) -> str:
    """The first few errors, short enough for a dead letter and a log line."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)[:2000]


def dead_letter_bytes(
    payload: bytes, *, source_topic: str, verdict: Rejected, received_at_s: float
) -> bytes:
    """The dead-letter record for a refused message (wastewatch.schema.dlq.DeadLetter as JSON)."""
    from datetime import UTC, datetime

    from wastewatch.schema import DeadLetter

    letter = DeadLetter.from_payload(
        payload,
        source_topic=source_topic[:1024],
        reason=verdict.reason,
        received_at=datetime.fromtimestamp(received_at_s, tz=UTC),
        detail=verdict.detail,
        device_id=None if verdict.device_id is None else verdict.device_id[:256],
    )
    return letter.to_json_bytes()


__all__ = [
    "BROKER",
    "DLQ",
    "LANDFILL",
    "READINGS",
    "STATUS",
    "Accepted",
    "Rejected",
    "classify",
    "dead_letter_bytes",
]
