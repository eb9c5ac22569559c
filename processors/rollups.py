"""Per-bin hourly aggregates of readings: pure accumulation, merged by the database.

The rollups processor folds a batch's readings into one :class:`HourAgg` per
(bin, hour) and upserts them with ``n = n + excluded.n`` and friends.  That
merge is exactly-once because each device's progress (the newest reading time
already folded in) is stored in the same transaction and readings not newer
than it are skipped: a replayed batch adds nothing.  Per-zone-and-stream daily
rows are recomputed from these and from ``collections`` for the touched days,
so they are idempotent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wastewatch.processors.readings import Reading

__all__ = ["HourAgg", "hour_start"]


def hour_start(ts: int) -> int:
    return ts - ts % 3600


@dataclass(slots=True)
class HourAgg:
    """Readings of one bin in one UTC hour."""

    bin_id: str
    hour: int
    readings: int = 0
    levels: int = 0
    fill_sum_e4: int = 0
    """Sum of fill levels in ten-thousandths: exact, so merging partial sums in any
    batching gives the same total (floats would differ in the last bit)."""
    fill_min: float | None = None
    fill_max: float | None = None
    fill_last: float | None = None
    last_ts: int = 0
    temp_max: float | None = None
    battery_min: int | None = None
    flags_any: int = 0

    @property
    def fill_sum(self) -> Decimal:
        return Decimal(self.fill_sum_e4).scaleb(-4)

    def add(self, r: Reading) -> None:
        self.readings += 1
        self.flags_any |= r.flags
        level = r.level
        if level is not None:
            self.levels += 1
            self.fill_sum_e4 += round(level * 10_000)
            self.fill_min = level if self.fill_min is None else min(self.fill_min, level)
            self.fill_max = level if self.fill_max is None else max(self.fill_max, level)
            if r.ts >= self.last_ts:
                self.fill_last = level
        self.last_ts = max(self.last_ts, r.ts)
        if r.temp_c is not None:
            self.temp_max = r.temp_c if self.temp_max is None else max(self.temp_max, r.temp_c)
        if r.battery_mv is not None:
            self.battery_min = (
                r.battery_mv if self.battery_min is None else min(self.battery_min, r.battery_mv)
            )
