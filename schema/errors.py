"""The root error of the schema package.

Callers (the bridge, the sink, processors) catch one class per package, and
topic errors are also ``ValueError`` so code that only knows the standard
library still handles them.
"""

from __future__ import annotations

from wastewatch.errors import WastewatchError

__all__ = ["SchemaError", "TopicError", "UnknownTopicError"]


class SchemaError(WastewatchError):
    """Root of every error raised by ``schema`` itself (not by pydantic)."""


class TopicError(SchemaError, ValueError):
    """An MQTT topic, or a part used to build one, does not fit the layout."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{reason}: {topic!r}")
        self.topic = topic
        self.reason = reason


class UnknownTopicError(SchemaError, LookupError):
    """A Kafka topic name is not in the catalog, so nobody may produce to it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown Kafka topic {name!r}")
        self.name = name
