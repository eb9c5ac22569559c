"""Errors the CLI shows to a person as a message rather than a traceback.

Each package keeps its own root error (StackError, MigrationError, ...); this
tuple lists those whose message already says what went wrong and what to do.
"""

from __future__ import annotations

from schema.migrate import MigrationError
from wastewatch.kafka_topics import TopicError
from wastewatch.mqtt_url import MqttUrlError
from wastewatch.security.errors import SecurityError
from wastewatch.stack.errors import StackError

UserFacingError = (StackError, MigrationError, TopicError, MqttUrlError, SecurityError)
