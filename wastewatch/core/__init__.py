"""wastewatch/core"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.core.kafka_topics import (
        ClusterView,
        TopicError,
        create_topics,
        delete_prefixed_topics,
        describe_cluster,
        group_lag,
        list_topics,
    )
    from wastewatch.core.logs import JsonFormatter, configure
    from wastewatch.core.metrics import MetricsServer, new_registry
    from wastewatch.core.mqtt_url import MqttTarget, MqttUrlError, redact
    from wastewatch.core.service import Backoff, Database, Service, run_until_signal
    from wastewatch.core.settings import KafkaSettings, Settings, load_settings

__all__ = [
    "Backoff",
    "ClusterView",
    "Database",
    "JsonFormatter",
    "KafkaSettings",
    "MetricsServer",
    "MqttTarget",
    "MqttUrlError",
    "Service",
    "Settings",
    "TopicError",
    "configure",
    "create_topics",
    "delete_prefixed_topics",
    "describe_cluster",
    "group_lag",
    "list_topics",
    "load_settings",
    "new_registry",
    "redact",
    "run_until_signal",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
