"""The forecast processor: readings -> ``bin_state`` (current forecast) and hourly snapshots.

Delivery semantics
------------------
* Consumer group ``<group_prefix>forecast`` on ``waste.readings.v1``; offsets
  committed after the transaction (see :mod:`wastewatch.processors.runtime`).
* Per device, the model (:class:`wastewatch.processors.forecast.FillForecaster`) and its
  own collection detector live in ``processor_state``, written in the same
  transaction as ``bin_state`` and ``fill_forecasts``; readings not newer than
  the stored state are skipped, so a replay changes nothing.
* ``bin_state`` is upserted only with a newer ``last_reading_at``; snapshots
  (the first reading of each UTC hour per bin) are keyed by (bin, time) and
  inserted with ``ON CONFLICT DO NOTHING``.  Nothing is published to Kafka.
"""

from __future__ import annotations

from typing import Any

from wastewatch.core import Settings
from wastewatch.processors.collections import CollectionDetector
from wastewatch.processors.forecast import FillForecaster, Forecast
from wastewatch.processors.readings import BinInfo, utc
from wastewatch.processors.runtime import (
    Conn,
    Record,
    Registry,
    Stage,
    Step,
    executemany_write,
)

_BIN_STATE = """
insert into bin_state as s (bin_id, device_id, zone_id, stream, fill_level, rate_per_h,
    threshold, threshold_at, threshold_early, threshold_late, urgency, collect_by,
    last_reading_at, last_collection_at, refill_h)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (bin_id) do update set
    device_id = excluded.device_id, zone_id = excluded.zone_id, stream = excluded.stream,
    fill_level = excluded.fill_level, rate_per_h = excluded.rate_per_h,
    threshold = excluded.threshold, threshold_at = excluded.threshold_at,
    threshold_early = excluded.threshold_early, threshold_late = excluded.threshold_late,
    urgency = excluded.urgency, collect_by = excluded.collect_by,
    last_reading_at = excluded.last_reading_at,
    last_collection_at = coalesce(excluded.last_collection_at, s.last_collection_at),
    refill_h = excluded.refill_h,
    state_updated_at = now()
where excluded.last_reading_at >= s.last_reading_at
"""
_SNAPSHOT = """
insert into fill_forecasts (time, bin_id, fill_level, rate_per_h, threshold, threshold_at,
    threshold_early, threshold_late, urgency)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict do nothing
"""


def _t(ts: int | None) -> Any:
    return None if ts is None else utc(ts)


def _forecast_columns(f: Forecast) -> tuple[Any, ...]:
    """The forecast's columns, in the same order in both tables."""
    return (
        round(f.fill, 4),
        f.rate_per_h,
        f.threshold,
        _t(f.threshold_at),
        _t(f.early_at),
        _t(f.late_at),
        f.urgency,
    )


def snapshot_row(info: BinInfo, f: Forecast) -> tuple[Any, ...]:
    return (utc(f.as_of), info.bin_id, *_forecast_columns(f))


def state_row(info: BinInfo, f: Forecast, last_collection: int) -> tuple[Any, ...]:
    return (
        info.bin_id,
        info.device_id,
        info.zone or None,
        info.stream,
        *_forecast_columns(f),
        _t(f.collect_by),
        utc(f.as_of),
        _t(last_collection or None),
        f.refill_h,
    )


class ForecastStage(Stage):
    """Learn fill rates per bin and keep each bin's forecast current."""

    name = "forecast"
    topics = ("waste.readings.v1",)

    def __init__(self, settings: Settings, registry: Registry) -> None:
        super().__init__(settings, registry)
        self._live: dict[str, tuple[dict[str, Any], CollectionDetector, FillForecaster]] = {}
        """Per device, the state dict last put and the live objects it was made from.
        Rebuilding each bin's model from its saved form every batch was a tenth of the
        stage's time; the saved form is still what a restart or a rebalance resumes
        from (anything else in the state store, by identity, is rebuilt)."""

    def on_revoked(self) -> None:
        super().on_revoked()
        self._live.clear()

    async def compute(self, conn: Conn, records: list[Record]) -> Step:
        states: list[tuple[Any, ...]] = []
        snapshots: list[tuple[Any, ...]] = []
        for device, items, info, saved in await self.readings_of_bins(conn, records):
            live = self._live.get(device)
            if saved and live is not None and live[0] is saved:
                _, det, model = live
                model.threshold = info.threshold
                snap_hour = int(saved["snap_hour"])
                last_collection = int(saved["last_collection"])
            elif saved:
                det = CollectionDetector.from_dict(device, saved["det"])
                model = FillForecaster.from_dict(saved["model"], threshold=info.threshold)
                snap_hour = int(saved["snap_hour"])
                last_collection = int(saved["last_collection"])
            else:
                det = CollectionDetector(device_id=device)
                model = FillForecaster(threshold=info.threshold)
                snap_hour, last_collection = -1, 0
            before = model.last_ts
            for _, r in items:
                found = det.update(r)
                if found is not None:
                    model.collected(found.ts, found.fill_after)
                    last_collection = found.ts
                if model.update(r) and model.ready() and r.ts // 3600 != snap_hour:
                    snap_hour = r.ts // 3600
                    snapshots.append(snapshot_row(info, model.forecast()))
            if model.last_ts == before:
                continue
            states.append(state_row(info, model.forecast(), last_collection))
            put = {
                "det": det.to_dict(),
                "model": model.to_dict(),
                "snap_hour": snap_hour,
                "last_collection": last_collection,
            }
            self.state.put(device, put)
            self._live[device] = (put, det, model)

        return Step(
            writes=[
                executemany_write((_BIN_STATE, states), (_SNAPSHOT, snapshots)),
                self.state.take_dirty(),
            ]
        )
