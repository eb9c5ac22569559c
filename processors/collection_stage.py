"""The collections processor: readings -> collection events (table + ``waste.events.v1``).

Delivery semantics
------------------
* Consumer group ``<group_prefix>collections`` on ``waste.readings.v1``;
  offsets are committed only after the batch's transaction commits (see
  :mod:`wastewatch.processors.runtime` for the full order).
* Events are produced (``acks="all"``, key = bin id) before the transaction;
  a crash in between re-produces the same ``event_id``s: at-least-once on the
  topic, consumers upsert.  Rows go in with ``ON CONFLICT DO NOTHING`` on
  ``(event_id, time)``.
* Each device's detector state (:class:`wastewatch.processors.collections.CollectionDetector`)
  is stored in ``processor_state`` in the same transaction; readings not newer
  than the stored state's newest are skipped, so a replay adds nothing.
* Readings of devices that are not in the bin registry are skipped (there is
  no bin, zone or volume to attribute a collection to).
"""

from __future__ import annotations

from typing import Any

from wastewatch.processors.collections import Collection, CollectionDetector
from wastewatch.processors.readings import BinInfo, utc
from wastewatch.processors.runtime import Conn, Outgoing, Record, Stage, Step
from wastewatch.schema import CollectionEvent, DetectionMethod, WasteStream

EVENTS_TOPIC = "waste.events.v1"

_INSERT = """
insert into collections (time, event_id, bin_id, device_id, zone_id, stream, fill_before,
    fill_after, volume_l, mass_kg, method, confidence)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict do nothing
"""


def collection_event(c: Collection, info: BinInfo) -> CollectionEvent:
    """The published model of a detected collection, with volume and mass estimated."""
    volume = c.litres(info.volume_l)
    return CollectionEvent(
        event_id=c.event_id,
        bin_id=info.bin_id,
        device_id=c.device_id,
        collected_at=utc(c.ts),
        fill_before=c.fill_before,
        fill_after=c.fill_after,
        volume_l=round(volume, 1),
        mass_kg=round(volume * info.density_kg_per_l, 1),
        zone=info.zone or "unzoned",
        waste_stream=WasteStream(info.stream),
        method=DetectionMethod.FILL_DROP,
        confidence=c.confidence,
    )


def event_row(e: CollectionEvent) -> tuple[Any, ...]:
    return (
        e.collected_at,
        e.event_id,
        e.bin_id,
        e.device_id,
        e.zone,
        e.waste_stream.value,
        e.fill_before,
        e.fill_after,
        e.volume_l,
        e.mass_kg,
        e.method.value,
        e.confidence,
    )


async def write_events(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """Insert collection rows; three stages write them, so always in key order (one lock
    order for all writers, no deadlocks between them)."""
    if rows:
        ordered: list[tuple[Any, ...]] = sorted(rows, key=_event_key)
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT, ordered)


def _event_key(row: tuple[Any, ...]) -> tuple[str, Any]:
    return (row[1], row[0])


class CollectionStage(Stage):
    """Detect emptyings per device; store and publish them."""

    name = "collections"
    topics = ("waste.readings.v1",)
    produces = (EVENTS_TOPIC,)

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        step = Step()
        rows: list[tuple[Any, ...]] = []
        for device, items, info, saved in await self.readings_of_bins(conn, records):
            det = (
                CollectionDetector.from_dict(device, saved)
                if saved
                else CollectionDetector(device_id=device)
            )
            before = det.last_ts
            for _, r in items:
                found = det.update(r)
                if found is not None:
                    event = collection_event(found, info)
                    rows.append(event_row(event))
                    step.messages.append(
                        Outgoing(EVENTS_TOPIC, info.bin_id.encode(), event.to_json_bytes())
                    )
            if det.last_ts != before:
                self.state.put(device, det.to_dict())

        async def write(c: Conn) -> None:
            await write_events(c, rows)

        step.writes.append(write)
        step.writes.append(self.state.take_dirty())
        return step
