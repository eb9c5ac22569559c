"""The one home of wastewatch's message definitions.

Every payload that crosses a process boundary (device MQTT messages, Kafka
records, registry rows) is a pydantic model here, exported as JSON Schema to
``schema/jsonschema/`` for the parties that do not run Python. Import from the
module that owns a concern, e.g. ``from wastewatch.schema.telemetry import
DeviceTelemetry`` or ``from wastewatch.schema.topics import KAFKA_TOPICS``; this package
re-exports nothing so that importing one model stays cheap. ``schema/sql/``
holds the database migrations. See ``schema/README.md`` for the wire formats.
"""
