"""Where messages travel: the MQTT topic layout and the Kafka topic catalog.

MQTT (all QoS 1)::

    ww/<city>/bins/<device_id>/telemetry   device -> bridge   not retained
    ww/<city>/bins/<device_id>/status      device -> bridge   retained, also the last will
    ww/<city>/bins/<device_id>/config      server -> device   retained
    ww/<city>/landfill/<site_id>/tickets   weighbridge -> bridge, not retained

The device id sits in the topic so broker ACLs can pin each device to its own
topics (``pattern readwrite ww/+/bins/%u/#``); the bridge checks the payload's
id against it. Kafka topics are created by other code from
:data:`KAFKA_TOPICS`, so that list is the single source of names, partition
counts and keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from wastewatch.schema.common import CITY_PATTERN, DEVICE_ID_PATTERN, SITE_ID_PATTERN
from wastewatch.schema.errors import TopicError, UnknownTopicError

__all__ = [
    "KAFKA_TOPICS",
    "MQTT_QOS",
    "MQTT_ROOT",
    "DeviceTopic",
    "DeviceTopicKind",
    "KafkaTopic",
    "LandfillTopic",
    "config_topic",
    "device_filter",
    "device_topic",
    "landfill_ticket_filter",
    "landfill_ticket_topic",
    "parse_device_topic",
    "parse_landfill_topic",
    "status_topic",
    "telemetry_topic",
    "topic_by_name",
]

MQTT_ROOT: Final = "ww"
MQTT_QOS: Final = 1
"""QoS for every topic: at-least-once, the bridge dedups downstream by natural key."""

_CITY_RE: Final = re.compile(CITY_PATTERN)
_DEVICE_RE: Final = re.compile(DEVICE_ID_PATTERN)
_SITE_RE: Final = re.compile(SITE_ID_PATTERN)


class DeviceTopicKind(StrEnum):
    """Last level of a device topic; also says which model the payload is."""

    TELEMETRY = "telemetry"
    STATUS = "status"
    CONFIG = "config"


class DeviceTopic(NamedTuple):
    """A parsed device topic; unpacks as ``city, device_id, kind``."""

    city: str
    device_id: str
    kind: DeviceTopicKind


class LandfillTopic(NamedTuple):
    """A parsed weighbridge topic; unpacks as ``city, site_id``."""

    city: str
    site_id: str


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    # fullmatch, not match: "$" in the pattern would accept a trailing newline.
    if not pattern.fullmatch(value):
        raise TopicError(value, f"invalid {what} for an MQTT topic level")
    return value


def device_topic(city: str, device_id: str, kind: DeviceTopicKind | str) -> str:
    """The topic one device publishes (telemetry, status) or receives (config) on."""
    kind = _kind(kind, topic=str(kind))
    return "/".join(
        (
            MQTT_ROOT,
            _check(city, _CITY_RE, "city"),
            "bins",
            _check(device_id, _DEVICE_RE, "device id"),
            kind.value,
        )
    )


def telemetry_topic(city: str, device_id: str) -> str:
    """``ww/<city>/bins/<device_id>/telemetry``."""
    return device_topic(city, device_id, DeviceTopicKind.TELEMETRY)


def status_topic(city: str, device_id: str) -> str:
    """``ww/<city>/bins/<device_id>/status`` (retained; the device's last will)."""
    return device_topic(city, device_id, DeviceTopicKind.STATUS)


def config_topic(city: str, device_id: str) -> str:
    """``ww/<city>/bins/<device_id>/config`` (retained)."""
    return device_topic(city, device_id, DeviceTopicKind.CONFIG)


def device_filter(kind: DeviceTopicKind | str, city: str = "+") -> str:
    """Subscription filter for one kind across all devices, e.g. ``ww/+/bins/+/telemetry``.

    ``city="+"`` (the default) spans every city, which is what a single bridge
    serving several municipalities subscribes to.
    """
    kind = _kind(kind, topic=str(kind))
    if city != "+":
        _check(city, _CITY_RE, "city")
    return f"{MQTT_ROOT}/{city}/bins/+/{kind.value}"


def landfill_ticket_topic(city: str, site_id: str) -> str:
    """``ww/<city>/landfill/<site_id>/tickets``, where a weighbridge publishes."""
    return "/".join(
        (
            MQTT_ROOT,
            _check(city, _CITY_RE, "city"),
            "landfill",
            _check(site_id, _SITE_RE, "site id"),
            "tickets",
        )
    )


def landfill_ticket_filter(city: str = "+") -> str:
    """Subscription filter for every weighbridge of a city (or all cities)."""
    if city != "+":
        _check(city, _CITY_RE, "city")
    return f"{MQTT_ROOT}/{city}/landfill/+/tickets"


def _kind(value: DeviceTopicKind | str, *, topic: str) -> DeviceTopicKind:
    try:
        return DeviceTopicKind(value)
    except ValueError as exc:
        raise TopicError(topic, f"unknown device topic kind {value!r}") from exc


def _levels(topic: str, middle: str) -> list[str]:
    if "+" in topic or "#" in topic:
        raise TopicError(topic, "wildcards are not allowed in a concrete topic")
    levels = topic.split("/")
    if len(levels) != 5:
        raise TopicError(topic, "expected exactly 5 topic levels")
    if levels[0] != MQTT_ROOT or levels[2] != middle:
        raise TopicError(topic, f"expected {MQTT_ROOT}/<city>/{middle}/...")
    return levels


def parse_device_topic(topic: str) -> DeviceTopic:
    """Split a concrete device topic into ``(city, device_id, kind)``.

    Raises :class:`~wastewatch.schema.errors.TopicError` (a ``ValueError``) for anything
    that is not exactly ``ww/<city>/bins/<device_id>/<kind>``: the bridge turns
    that into a ``bad_topic`` dead letter.
    """
    _, city, _, device_id, kind = _levels(topic, "bins")
    _check(city, _CITY_RE, "city")
    _check(device_id, _DEVICE_RE, "device id")
    return DeviceTopic(city, device_id, _kind(kind, topic=topic))


def parse_landfill_topic(topic: str) -> LandfillTopic:
    """Split ``ww/<city>/landfill/<site_id>/tickets`` into ``(city, site_id)``."""
    _, city, _, site_id, last = _levels(topic, "landfill")
    if last != "tickets":
        raise TopicError(topic, "expected .../tickets")
    _check(city, _CITY_RE, "city")
    _check(site_id, _SITE_RE, "site id")
    return LandfillTopic(city, site_id)


@dataclass(frozen=True, slots=True)
class KafkaTopic:
    """One Kafka topic: what it carries and how it is keyed.

    ``value_model`` names the model by its export stem (the file
    ``schema/jsonschema/<value_model>.json``; the class is
    ``wastewatch.schema.export.MODELS[value_model]``). The ``.v1`` in a name is the value
    format version: a new format gets a new topic, never an in-place change.
    """

    name: str
    partitions: int
    key: str
    value_model: str
    description: str


KAFKA_TOPICS: Final[tuple[KafkaTopic, ...]] = (
    KafkaTopic(
        name="waste.readings.v1",
        partitions=12,
        key="device_id",
        value_model="device_telemetry.v1",
        description="Validated device readings from the bridge; key keeps each device "
        "in order. Record timestamp = bridge receive time.",
    ),
    KafkaTopic(
        name="waste.status.v1",
        partitions=3,
        key="device_id",
        value_model="device_status.v1",
        description="Device online/offline changes, including last wills; the key (from the "
        "MQTT topic) names the device when the payload does not.",
    ),
    KafkaTopic(
        name="waste.dlq.v1",
        partitions=3,
        key="device_id",
        value_model="dead_letter.v1",
        description="Inbound messages the bridge refused, with the reason; key is the device "
        "or site id from the topic, or the raw topic if it could not be parsed.",
    ),
    KafkaTopic(
        name="waste.events.v1",
        partitions=6,
        key="bin_id",
        value_model="collection_event.v1",
        description="Detected bin collections; key keeps each bin's history in order.",
    ),
    KafkaTopic(
        name="waste.alerts.v1",
        partitions=3,
        key="alert_id",
        value_model="alert.v1",
        description="Alert openings and resolutions; same id for both, so they stay ordered.",
    ),
    KafkaTopic(
        name="waste.landfill.v1",
        partitions=3,
        key="site_id",
        value_model="landfill_delivery.v1",
        description="Weighbridge tickets from landfill sites.",
    ),
    KafkaTopic(
        name="waste.broker.v1",
        partitions=3,
        key="username",
        value_model="broker_event.v1",
        description="What the MQTT broker refused (its guard plugins' reports on "
        "$SYS/broker/wastewatch/#): denied publishes and subscriptions, login floods. Key: "
        "the user name for a denial (a device's is its id), the client address for a login "
        "refusal. Several bridges each forward a copy; the sink stores each report once.",
    ),
    KafkaTopic(
        name="waste.routes.v1",
        partitions=3,
        key="truck_id",
        value_model="route_plan.v1",
        description="Deprecated: collection route plans, first visits only (each bin once, "
        "no unload points), kept for existing consumers; read waste.routes.v2. A newer plan "
        "for a truck and date supersedes.",
    ),
    KafkaTopic(
        name="waste.routes.v2",
        partitions=3,
        key="truck_id",
        value_model="route_plan.v2",
        description="Collection route plans, whole routes: repeat visits (a bin at most "
        "twice, visit 1 then 2) and unload points. A newer plan for a truck and date "
        "supersedes; each plan also goes to waste.routes.v1 as its first visits.",
    ),
)

_BY_NAME: Final = {topic.name: topic for topic in KAFKA_TOPICS}


def topic_by_name(name: str) -> KafkaTopic:
    """The catalog entry for ``name``; raises
    :class:`~wastewatch.schema.errors.UnknownTopicError`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownTopicError(name) from None
