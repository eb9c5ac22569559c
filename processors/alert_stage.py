"""The alerts processor: readings -> ``alerts`` rows, ``waste.alerts.v1``, webhooks.

Delivery semantics
------------------
* Consumer group ``<group_prefix>alerts`` on ``waste.readings.v1``; offsets
  committed after the transaction (see :mod:`wastewatch.processors.runtime`).
* Alert messages (key = alert id) are produced before the transaction, so an
  opening and its resolution stay in order on one partition; a replay after a
  crash re-sends the same ids (at-least-once; consumers upsert by id).
* ``alerts`` rows are upserts by ``alert_id``; a partial unique index keeps at
  most one open alert per subject and kind.  Per-device detector state is
  stored in ``processor_state`` in the same transaction; readings not newer
  than a device's stored state are skipped, so a replay changes nothing.
* **Offline on event time**: the watermark is the 5th percentile of the newest
  live reading times of this consumer's devices (those heard within a day),
  minus ``watermark_lateness_s``; it never moves back, and it moves only while
  the consumer has no backlog.  Devices silent for
  ``offline_after_s`` behind it get an offline alert.  The wall clock is never
  read, and a group of devices running ahead (a replay's publishers, a fast
  gateway) cannot make the others look silent.
* Critical alerts (fire) also go into ``webhook_outbox`` in the same
  transaction; :class:`wastewatch.processors.webhook.WebhookNotifier` delivers them after
  the commit with retries and deletes the row, so a crash cannot lose one
  (a receiver may see a duplicate: the payload carries the alert id).
"""

from __future__ import annotations

import json
from typing import Any

from wastewatch.core import Settings
from wastewatch.processors.alerts import AlertChange, AlertParams, DeviceAlerts
from wastewatch.processors.readings import utc
from wastewatch.processors.runtime import (
    Conn,
    Outgoing,
    Record,
    Stage,
    Step,
    decode_readings,
    executemany_write,
    partition_of,
)
from wastewatch.processors.text import alert_text
from wastewatch.schema import Alert, AlertState, Severity, topic_by_name

ALERTS_TOPIC = "waste.alerts.v1"
READINGS_TOPIC = "waste.readings.v1"
WATERMARK_QUANTILE = 0.05
"""The watermark follows the 5th percentile of devices: robust to a lagging minority."""
WATERMARK_ACTIVE_S = 86_400
WATERMARK_PART_QUANTILE = 0.2
"""Within a partition (a few dozen devices): low enough that a group of devices running
ahead does not count, high enough that a few silent devices do not hold the others back."""
WATERMARK_DENSE = 5
"""Active devices a partition needs for a watermark of its own (else the global one)."""

_UPSERT = """
insert into alerts as a (alert_id, kind, severity, state, bin_id, device_id, opened_at,
    resolved_at, message_en, message_th, details)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
on conflict (alert_id) do update set
    state = excluded.state, opened_at = excluded.opened_at, resolved_at = excluded.resolved_at,
    message_en = excluded.message_en, message_th = excluded.message_th,
    details = a.details || excluded.details, alert_updated_at = now()
"""
_OUTBOX = """
insert into webhook_outbox (alert_id, payload) values (%s, %s::jsonb)
on conflict (alert_id) do nothing
"""


def alert_model(change: AlertChange, bin_id: str | None) -> Alert:
    subject = bin_id or change.device_id
    resolved = change.resolved_at is not None
    en, th = alert_text(change.kind, subject, change.details, resolved=resolved)
    return Alert(
        alert_id=change.alert_id,
        kind=change.kind,
        severity=change.severity,
        state=AlertState.RESOLVED if resolved else AlertState.OPEN,
        bin_id=bin_id,
        device_id=change.device_id,
        opened_at=utc(change.opened_at),
        resolved_at=None if change.resolved_at is None else utc(change.resolved_at),
        message_en=en,
        message_th=th,
        details=change.details,
    )


def alert_row(a: Alert) -> tuple[Any, ...]:
    return (
        a.alert_id,
        a.kind.value,
        a.severity.value,
        a.state.value,
        a.bin_id,
        a.device_id,
        a.opened_at,
        a.resolved_at,
        a.message_en,
        a.message_th,
        json.dumps(a.details),
    )


class AlertStage(Stage):
    """Health and safety alerts per device, and offline detection on the watermark."""

    name = "alerts"
    topics = (READINGS_TOPIC,)
    produces = (ALERTS_TOPIC,)

    def __init__(self, settings: Settings, registry: Any) -> None:
        super().__init__(settings, registry)
        cfg = settings.processors
        self.params = AlertParams(offline_after_s=cfg.offline_after_s)
        self.lateness = cfg.watermark_lateness_s
        self.partitions = topic_by_name(READINGS_TOPIC).partitions
        self.watermark = 0
        self.part_watermark: dict[int, int] = {}
        self._checked_at = 0
        self.check_every_s = min(300, max(cfg.offline_after_s // 4, 1))
        """Watermark progress between scans for silent devices (bounds the scan cost)."""

    async def on_assigned(self, conn: Conn, partitions: set[tuple[str, int]]) -> None:
        # Every device this consumer now owns must be watched for silence, including
        # those that went quiet before a restart: load all their states up front.
        await self.state.load_all(conn)
        mine = {p for t, p in self.assigned if t.endswith(READINGS_TOPIC)}
        for key in list(self.state.cache):
            if partition_of(key, self.partitions) not in mine:
                del self.state.cache[key]

    def on_revoked(self) -> None:
        super().on_revoked()
        self.watermark = 0
        self.part_watermark.clear()
        self._checked_at = 0

    def _detector(self, device: str) -> DeviceAlerts:
        saved = self.state.get(device)
        if saved:
            return DeviceAlerts.from_dict(device, saved, self.params)
        return DeviceAlerts(device_id=device, params=self.params)

    def _advance_watermark(self) -> int:
        """Move the event-time watermarks; their sum (only to pace the scans).

        Per partition: the 20th percentile of its devices' newest live reading times, minus
        the lateness.  Within a partition the bridge wrote readings in arrival order, so
        how far the partition has been read is the same for all its devices, however
        unevenly the consumer fetches partitions during a backlog.  A low quantile, not
        the newest time: a replay's publishers (or a slow gateway) can run hours apart,
        and a device must not count as silent because another group got ahead.
        Devices silent for a day do not hold it back.

        A partition with fewer than :data:`WATERMARK_DENSE` active devices (a small
        fleet) uses the global watermark, the same quantile over all devices, which
        moves only while this consumer is caught up.
        """
        if not self.state.cache:
            return self.watermark + sum(self.part_watermark.values())
        by_part: dict[int, list[int]] = {}
        for key, saved in self.state.cache.items():
            ts = int(saved["last_live_ts"])
            if ts > 0:
                by_part.setdefault(partition_of(key, self.partitions), []).append(ts)
        if not by_part:
            return self.watermark + sum(self.part_watermark.values())
        newest = max(max(v) for v in by_part.values())
        active_all: list[int] = []
        for part, times in by_part.items():
            active = sorted(t for t in times if t >= newest - WATERMARK_ACTIVE_S)
            active_all += active
            if len(active) >= WATERMARK_DENSE:
                low = active[int(len(active) * WATERMARK_PART_QUANTILE)] - self.lateness
                self.part_watermark[part] = max(self.part_watermark.get(part, 0), low)
        if self.caught_up and active_all:
            active_all.sort()
            low = active_all[int(len(active_all) * WATERMARK_QUANTILE)] - self.lateness
            self.watermark = max(self.watermark, low)
        # Scans are paced by total progress, so a partition catching up alone counts.
        return self.watermark + sum(self.part_watermark.values())

    def watermark_of(self, device: str) -> int:
        """The watermark a device's silence is judged by (its partition's, if dense)."""
        return self.part_watermark.get(partition_of(device, self.partitions), self.watermark)

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        by_device = decode_readings(records, self.count_bad)
        infos = await self.registry.lookup(conn, by_device)
        await self.state.ensure(conn, by_device)
        changes: list[tuple[AlertChange, str | None]] = []
        for device, items in by_device.items():
            det = self._detector(device)
            before = det.last_ts
            info = infos.get(device)
            for _, r in items:
                changes.extend((c, info.bin_id if info else None) for c in det.update(r))
            if det.last_ts != before:
                self.state.put(device, det.to_dict())
        progress = self._advance_watermark()
        if progress - self._checked_at >= self.check_every_s:
            self._checked_at = progress
            for key in sorted(self.state.cache):
                saved = self.state.cache[key]
                watermark = self.watermark_of(key)
                silent_before = watermark - self.params.offline_after_s
                if not 0 < int(saved["last_live_ts"]) < silent_before or "offline" in saved["open"]:
                    continue  # cheap test on the stored dict: thousands of devices
                det = self._detector(key)
                change = det.check_offline(watermark)
                if change is not None:
                    info = self.registry.get(key)
                    changes.append((change, info.bin_id if info else None))
                    self.state.put(key, det.to_dict())
        step = Step()
        rows: list[tuple[Any, ...]] = []
        outbox: list[tuple[str, str]] = []
        for change, bin_id in changes:
            alert = alert_model(change, bin_id)
            rows.append(alert_row(alert))
            step.messages.append(
                Outgoing(ALERTS_TOPIC, alert.alert_id.encode(), alert.to_json_bytes())
            )
            if alert.severity is Severity.CRITICAL and alert.state is AlertState.OPEN:
                outbox.append((alert.alert_id, json.dumps(alert.to_json_dict())))

        step.writes += [
            executemany_write((_UPSERT, rows), (_OUTBOX, outbox)),
            self.state.take_dirty(),
        ]
        return step
