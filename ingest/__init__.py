"""Ingest: the MQTT->Kafka bridge and the Kafka->TimescaleDB sink.

Together they give at-least-once delivery on every hop and exactly-once rows
in TimescaleDB; see `ingest/README.md` and each module's docstring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.ingest.sink import consumer_groups

__all__ = ["consumer_groups"]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
