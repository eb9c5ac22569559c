"""Dead letters: inbound messages the bridge could not accept, on ``waste.dlq.v1``.

The bridge must acknowledge every MQTT message (or the broker redelivers it
forever), so anything it cannot turn into a valid record is kept here with
the reason, instead of being dropped: an operator can inspect, fix firmware,
and replay. The original bytes are base64 so that non-UTF-8 garbage survives.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from enum import StrEnum
from typing import Final, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from wastewatch.schema.common import MessageModel, UtcDatetime

__all__ = ["MAX_DLQ_PAYLOAD_BYTES", "DeadLetter", "DeadLetterReason"]

MAX_DLQ_PAYLOAD_BYTES: Final = 65_536
"""Original bytes kept per dead letter; more is cut so a flood cannot exceed Kafka's
1 MiB record limit (``truncated`` says so and ``payload_size`` keeps the length)."""


class DeadLetterReason(StrEnum):
    """Why a message was refused; dashboards count dead letters per reason."""

    NOT_JSON = "not_json"
    INVALID = "invalid"
    OVERSIZE = "oversize"
    UNKNOWN_VERSION = "unknown_version"
    DEVICE_MISMATCH = "device_mismatch"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_TOPIC = "bad_topic"


class DeadLetter(MessageModel):
    """A refused inbound message with its original bytes and the reason."""

    model_config = ConfigDict(
        title="DeadLetter",
        json_schema_extra={
            "examples": [
                {
                    "payload_b64": "eyJ2IjoxLCJpZCI6Imtscy1iaW4tMDAwMSIsImZpbGwiOjEuNH0=",
                    "payload_size": 38,
                    "truncated": False,
                    "source_topic": "ww/kalasin/bins/kls-bin-0001/telemetry",
                    "device_id": "kls-bin-0001",
                    "reason": "invalid",
                    "detail": "fill: Input should be less than or equal to 1",
                    "received_at": "2026-01-01T00:00:01Z",
                }
            ]
        },
    )

    payload_b64: str = Field(
        max_length=(MAX_DLQ_PAYLOAD_BYTES + 2) // 3 * 4,
        description="Original payload bytes (at most MAX_DLQ_PAYLOAD_BYTES), standard "
        "base64 with padding.",
        examples=["eyJ2IjoxLCJpZCI6Imtscy1iaW4tMDAwMSIsImZpbGwiOjEuNH0="],
    )
    payload_size: int = Field(
        ge=0,
        description="Length of the original payload in bytes, before any truncation.",
        examples=[38],
    )
    truncated: bool = Field(
        default=False,
        description="True when payload_b64 holds only the first MAX_DLQ_PAYLOAD_BYTES.",
        examples=[False],
    )
    source_topic: str = Field(
        max_length=1024,
        description="MQTT topic the message arrived on, verbatim.",
        examples=["ww/kalasin/bins/kls-bin-0001/telemetry"],
    )
    device_id: str | None = Field(
        default=None,
        max_length=256,
        description="Device id read from the topic, unvalidated (it may be the problem); "
        "also the Kafka key.",
        examples=["kls-bin-0001"],
    )
    reason: DeadLetterReason = Field(description="Why it was refused.", examples=["invalid"])
    detail: str = Field(
        default="",
        max_length=2000,
        description="Human-readable explanation, e.g. the first validation errors.",
        examples=["fill: Input should be less than or equal to 1"],
    )
    received_at: UtcDatetime = Field(
        description="When the bridge received it, UTC (wall clock: the payload's own time "
        "may be what is wrong).",
        examples=["2026-01-01T00:00:01Z"],
    )

    @field_validator("payload_b64")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("payload_b64 is not valid base64") from exc
        return value

    @model_validator(mode="after")
    def _size_consistent(self) -> Self:
        kept = len(self.original_bytes)
        if self.truncated != (kept < self.payload_size) or kept > self.payload_size:
            raise ValueError("payload_size and truncated disagree with payload_b64")
        return self

    @property
    def original_bytes(self) -> bytes:
        """The kept original payload, decoded."""
        return base64.b64decode(self.payload_b64)

    @classmethod
    def from_payload(
        cls,
        payload: bytes,
        *,
        source_topic: str,
        reason: DeadLetterReason,
        received_at: datetime,
        detail: str = "",
        device_id: str | None = None,
    ) -> Self:
        """Build a dead letter from raw bytes, truncating and encoding them consistently."""
        kept = payload[:MAX_DLQ_PAYLOAD_BYTES]
        return cls(
            payload_b64=base64.b64encode(kept).decode("ascii"),
            payload_size=len(payload),
            truncated=len(kept) < len(payload),
            source_topic=source_topic[:1024],
            device_id=None if device_id is None else device_id[:256],
            reason=reason,
            detail=detail[:2000],
            received_at=received_at,
        )
