"""What the MQTT broker refused: reports of its guard plugins, on ``waste.broker.v1``.

Mosquitto's guard plugins (``deploy/mosquitto/guard/ww_guard.c``) publish JSON on
``$SYS/broker/wastewatch/denied`` for every publish or subscription the broker's ACL
denies, and on ``$SYS/broker/wastewatch/login-refused`` once per window for an
address that floods logins.  The denials matter most: under MQTT 3.1.1, which the
firmware speaks, a denied publish is PUBACKed and dropped, so a device provisioned
for the wrong city or id loses every reading while believing it delivered them.
The bridge validates each report against :class:`BrokerEvent` and forwards it; the
sink stores it (table ``broker_events``, migration 0011) for the Fleet health board,
two alert rules and ``wastewatch devices refused``.

The plugin writes the JSON itself (C, ``snprintf``), so the model is strict about
which fields each event carries: a denial names the client, the access and the
topic and counts the denials it holds (at most one report per client per second,
the others counted into the next); a login refusal names the address, the user name
of the attempt that crossed the limit, and the limit's window.  ``at`` is the
broker's clock, in whole seconds since the Unix epoch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import ConfigDict, Field, model_validator

from wastewatch.schema.common import LATEST_EPOCH_S, MessageModel, PositiveCount32

__all__ = [
    "BROKER_EVENT_TOPICS",
    "BROKER_TOPIC_ROOT",
    "MAX_BROKER_EVENT_BYTES",
    "BrokerAccess",
    "BrokerEvent",
    "BrokerEventKind",
]

BROKER_TOPIC_ROOT: Final = "$SYS/broker/wastewatch"
"""Where the guard plugins publish; the bridge subscribes to ``BROKER_TOPIC_ROOT/#``."""

MAX_BROKER_EVENT_BYTES: Final = 2048
"""The plugin's JSON buffer is 1400 bytes; anything larger was not written by it."""

_NO_NUL: Final = r"^[^\x00]*$"
"""MQTT strings never hold U+0000 and PostgreSQL text cannot: refused at the door."""
_ClientText = Annotated[str, Field(max_length=256, pattern=_NO_NUL)]
"""A name or address of a client as the broker reports it: verbatim, but no NUL."""

_EARLIEST_AT: Final = 1_704_067_200
"""2024-01-01: a broker clock before this was never set (and would make 1970 chunks)."""
_LATEST_AT: Final = LATEST_EPOCH_S


class BrokerEventKind(StrEnum):
    """Which guard reported: a denied publish/subscription or a refused login flood."""

    DENIED = "denied"
    LOGIN_REFUSED = "login_refused"


class BrokerAccess(StrEnum):
    """What a denied client tried to do."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


BROKER_EVENT_TOPICS: Final[dict[str, BrokerEventKind]] = {
    f"{BROKER_TOPIC_ROOT}/denied": BrokerEventKind.DENIED,
    f"{BROKER_TOPIC_ROOT}/login-refused": BrokerEventKind.LOGIN_REFUSED,
}
"""The MQTT topic of each kind of report; a report on the other kind's topic is invalid."""

_DENIED_ONLY: Final = ("access", "client_id", "topic", "count")
_LOGIN_ONLY: Final = ("attempts", "window_s")


class BrokerEvent(MessageModel):
    """One report of the broker's guard: a denial (held ones counted) or a login flood."""

    model_config = ConfigDict(
        title="BrokerEvent",
        json_schema_extra={
            "examples": [
                {
                    "event": "denied",
                    "access": "publish",
                    "client_id": "kls-bin-0001",
                    "username": "kls-bin-0001",
                    "address": "10.20.0.17",
                    "topic": "ww/khonkaen/bins/kls-bin-0001/telemetry",
                    "count": 3,
                    "at": 1767225600,
                },
                {
                    "event": "login_refused",
                    "address": "203.0.113.9",
                    "username": "ww-ops",
                    "attempts": 21,
                    "window_s": 10,
                    "at": 1767225600,
                },
            ]
        },
    )

    event: BrokerEventKind = Field(
        description="denied: the ACL denied a publish or subscription (the report's topic "
        "is $SYS/broker/wastewatch/denied); login_refused: an address went over the login "
        "limit and is refused without a password check for the rest of the window "
        "($SYS/broker/wastewatch/login-refused).",
        examples=["denied", "login_refused"],
    )
    access: BrokerAccess | None = Field(
        default=None,
        description="What was denied (denied only; absent for a login refusal).",
        examples=["publish", "subscribe"],
    )
    client_id: _ClientText | None = Field(
        default=None,
        description="MQTT client id of the denied client, as the broker saw it (a device "
        "connects with its device id); denied only.",
        examples=["kls-bin-0001"],
    )
    username: _ClientText = Field(
        description="User name the client logged in with (a device's is its device id); "
        "for a login refusal, the one of the attempt that crossed the limit. Empty when "
        "the client gave none.",
        examples=["kls-bin-0001", "ww-ops", ""],
    )
    address: _ClientText = Field(
        description="Network address of the client (IPv4 or IPv6 text); empty when the "
        "broker knew none.",
        examples=["10.20.0.17", "203.0.113.9"],
    )
    topic: str | None = Field(
        default=None,
        max_length=1024,
        pattern=_NO_NUL,
        description="Topic (or subscription filter) the client was denied, verbatim; the "
        "last one when several denials are held in one report. Denied only.",
        examples=["ww/khonkaen/bins/kls-bin-0001/telemetry"],
    )
    count: PositiveCount32 | None = Field(
        default=None,
        description="Denials this report stands for: the plugin reports at most once per "
        "client per second and counts the others into the next report. Denied only.",
        examples=[1, 3],
    )
    attempts: PositiveCount32 | None = Field(
        default=None,
        description="Login attempts from the address in the window when it was refused "
        "(the limit plus one). Login refusals only.",
        examples=[21],
    )
    window_s: PositiveCount32 | None = Field(
        default=None,
        description="Length of the login limit's window, seconds: the address is refused "
        "until it ends. Login refusals only.",
        examples=[10],
    )
    at: int = Field(
        ge=_EARLIEST_AT,
        le=_LATEST_AT,
        description="When the broker reported it, whole seconds since the Unix epoch "
        "(UTC), by the broker's clock; 2024 or later.",
        examples=[1767225600],
    )

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Self:
        denied = self.event is BrokerEventKind.DENIED
        required, forbidden = (_DENIED_ONLY, _LOGIN_ONLY) if denied else (_LOGIN_ONLY, _DENIED_ONLY)
        missing = [name for name in required if getattr(self, name) is None]
        extra = [name for name in forbidden if getattr(self, name) is not None]
        if missing:
            raise ValueError(f"a {self.event.value} report needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"a {self.event.value} report has no {', '.join(extra)}")
        return self

    @property
    def time(self) -> datetime:
        """``at`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.at, tz=UTC)

    @property
    def kafka_key(self) -> str:
        """The record key: the user name for a denial (the client id if it gave none),
        the address for a login refusal (one address floods under many names)."""
        if self.event is BrokerEventKind.LOGIN_REFUSED:
            return self.address or self.username
        return self.username or self.client_id or self.address
