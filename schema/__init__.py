"""The one home of wastewatch's message definitions.

Every payload that crosses a process boundary (device MQTT messages, Kafka
records, registry rows) is a pydantic model here, exported as JSON Schema to
``schema/jsonschema/`` for the parties that do not run Python. Import from the
module that owns a concern, e.g. ``from wastewatch.schema.telemetry import
DeviceTelemetry`` or ``from wastewatch.schema.topics import KAFKA_TOPICS``; this package
re-exports nothing so that importing one model stays cheap. ``schema/sql/``
holds the database migrations. See ``schema/README.md`` for the wire formats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.schema.alerts import Alert, AlertKind, AlertState
    from wastewatch.schema.bins import BinRegistration
    from wastewatch.schema.broker import (
        BROKER_EVENT_TOPICS,
        BROKER_TOPIC_ROOT,
        MAX_BROKER_EVENT_BYTES,
        BrokerEvent,
        BrokerEventKind,
    )
    from wastewatch.schema.city import Depot, LandfillStreamDensity, Truck, Weekday, Zone
    from wastewatch.schema.common import (
        BIN_ID_PATTERN,
        CITY_PATTERN,
        DEVICE_ID_PATTERN,
        STREAM_DENSITY_KG_PER_L,
        Severity,
        TelemetryFlag,
        WasteStream,
    )
    from wastewatch.schema.dlq import DeadLetter, DeadLetterReason
    from wastewatch.schema.errors import SchemaError
    from wastewatch.schema.events import CollectionEvent, DetectionMethod
    from wastewatch.schema.landfill import LandfillDelivery, LandfillSite
    from wastewatch.schema.migrate import (
        MigrationError,
        ensure_login_roles,
        lock_down_cluster,
        migrate_with_roles,
        pending,
    )
    from wastewatch.schema.routes import (
        RoutePlan,
        RoutePlanV2,
        RouteStop,
        RouteVisit,
        SolverInfo,
        SolverStatus,
    )
    from wastewatch.schema.status import DeviceStatus
    from wastewatch.schema.telemetry import (
        EARLIEST_PLAUSIBLE_TS,
        LATEST_TS,
        MAX_PAYLOAD_BYTES,
        DeviceTelemetry,
    )
    from wastewatch.schema.topics import (
        KAFKA_TOPICS,
        DeviceTopic,
        DeviceTopicKind,
        LandfillTopic,
        config_topic,
        device_filter,
        landfill_ticket_filter,
        landfill_ticket_topic,
        parse_device_topic,
        parse_landfill_topic,
        status_topic,
        telemetry_topic,
        topic_by_name,
    )
    from wastewatch.schema.wire import wire_problem

__all__ = [
    "BIN_ID_PATTERN",
    "BROKER_EVENT_TOPICS",
    "BROKER_TOPIC_ROOT",
    "CITY_PATTERN",
    "DEVICE_ID_PATTERN",
    "EARLIEST_PLAUSIBLE_TS",
    "KAFKA_TOPICS",
    "LATEST_TS",
    "MAX_BROKER_EVENT_BYTES",
    "MAX_PAYLOAD_BYTES",
    "STREAM_DENSITY_KG_PER_L",
    "Alert",
    "AlertKind",
    "AlertState",
    "BinRegistration",
    "BrokerEvent",
    "BrokerEventKind",
    "CollectionEvent",
    "DeadLetter",
    "DeadLetterReason",
    "Depot",
    "DetectionMethod",
    "DeviceStatus",
    "DeviceTelemetry",
    "DeviceTopic",
    "DeviceTopicKind",
    "LandfillDelivery",
    "LandfillSite",
    "LandfillStreamDensity",
    "LandfillTopic",
    "MigrationError",
    "RoutePlan",
    "RoutePlanV2",
    "RouteStop",
    "RouteVisit",
    "SchemaError",
    "Severity",
    "SolverInfo",
    "SolverStatus",
    "TelemetryFlag",
    "Truck",
    "WasteStream",
    "Weekday",
    "Zone",
    "config_topic",
    "device_filter",
    "ensure_login_roles",
    "landfill_ticket_filter",
    "landfill_ticket_topic",
    "lock_down_cluster",
    "migrate_with_roles",
    "parse_device_topic",
    "parse_landfill_topic",
    "pending",
    "status_topic",
    "telemetry_topic",
    "topic_by_name",
    "wire_problem",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
