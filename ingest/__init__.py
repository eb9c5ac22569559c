"""Ingest: the MQTT->Kafka bridge and the Kafka->TimescaleDB sink.

Together they give at-least-once delivery on every hop and exactly-once rows
in TimescaleDB; see `ingest/README.md` and each module's docstring.
"""
