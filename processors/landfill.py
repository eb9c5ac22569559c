"""Landfill capacity: daily volumes per stream, remaining airspace, projected full date.

Pure logic, no I/O; the landfill processor feeds it from ``landfill_daily`` and
the ``landfill_sites`` registry.

Why it is computed this way:

* **Measured mass first.** A weighbridge ticket is the only measured mass; the
  collections' estimated mass (volume x loose density) misses what trucks pick
  up from bins without sensors.  So a (day, stream) with tickets uses them, and
  only a day without any falls back to the collections' estimate.
* **Airspace, not mass, runs out.** Mass becomes volume with the site's
  compacted density for that stream (``landfill_stream_densities``, else the
  site's default).
* **From the survey on.** ``used_m3`` was measured on ``surveyed_on``; every
  day after it adds its volume.  Days between the survey and the first data
  day are filled with the current trend (the processor cannot know better).
* **Trend over whole weeks.** Collection runs weekly (recyclables twice a week,
  hazardous once), so the rate is the mean over the last ``window_days``
  calendar days (days without deliveries count as zero).  The interval comes
  from the spread of weekly totals (two standard errors), or +-20 % with fewer
  than two weeks of data.
* **What-if.** Diverting a share of a stream from the landfill scales that
  stream's future rate; what is already in the ground stays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import stdev
from typing import Final

from wastewatch.processors.errors import ConfigError

__all__ = [
    "DayVolume",
    "Projection",
    "SiteInfo",
    "parse_divert",
    "project",
]

MAX_DAYS: Final = 365 * 200


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A landfill site as the projection needs it."""

    site_id: str
    name: str
    capacity_m3: float
    used_m3: float
    surveyed_on: date
    default_density_kg_m3: float
    density_kg_m3: Mapping[str, float] = field(default_factory=dict)

    def density(self, stream: str) -> float:
        return self.density_kg_m3.get(stream, self.default_density_kg_m3)


@dataclass(frozen=True, slots=True)
class DayVolume:
    """What went into a site on one local day for one stream."""

    day: date
    stream: str
    mass_kg: float
    volume_m3: float


@dataclass(frozen=True, slots=True)
class Projection:
    """A site's state and its projected full date, as of the last day with data."""

    site_id: str
    as_of: date
    used_m3: float
    remaining_m3: float
    fill_fraction: float
    rate_m3_per_day: float
    rate_low_m3_per_day: float
    rate_high_m3_per_day: float
    days_left: float | None
    full_date: date | None
    full_date_early: date | None
    full_date_late: date | None
    window_days: int
    rate_by_stream: dict[str, float]


def _add_days(day: date, days: float | None) -> date | None:
    if days is None or not math.isfinite(days) or days > MAX_DAYS:
        return None
    return day + timedelta(days=math.floor(days))


def parse_divert(text: str) -> dict[str, float]:
    """``recyclable=0.3,organic=0.5`` as a mapping; shares must be within 0..1."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"{part!r}: expected STREAM=SHARE, e.g. recyclable=0.3")
        try:
            share = float(value)
        except ValueError:
            raise ConfigError(f"{part!r}: {value!r} is not a number") from None
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"{part!r}: the share must be between 0 and 1")
        out[name.strip()] = share
    return out


def project(
    site: SiteInfo,
    days: Iterable[DayVolume],
    *,
    window_days: int = 28,
    divert: Mapping[str, float] | None = None,
) -> Projection | None:
    """The projection from the daily volumes; None without any data after the survey."""
    rows = [d for d in days if d.day > site.surveyed_on]
    if not rows:
        return None
    divert = divert or {}
    first = min(d.day for d in rows)
    as_of = max(d.day for d in rows)
    start = max(first, as_of - timedelta(days=window_days - 1))
    span = (as_of - start).days + 1
    per_day: dict[date, float] = {}
    by_stream: dict[str, float] = {}
    for d in rows:
        if d.day >= start:
            per_day[d.day] = per_day.get(d.day, 0.0) + d.volume_m3
            by_stream[d.stream] = by_stream.get(d.stream, 0.0) + d.volume_m3
    trend_now = sum(by_stream.values()) / span
    rate_by_stream = {
        s: v / span * (1.0 - divert.get(s, 0.0)) for s, v in sorted(by_stream.items())
    }
    rate = sum(rate_by_stream.values())
    weeks = span // 7
    if weeks >= 2:
        totals = []
        for w in range(weeks):
            end = as_of - timedelta(days=7 * w)
            totals.append(sum(per_day.get(end - timedelta(days=i), 0.0) for i in range(7)))
        se = stdev(totals) / 7 / math.sqrt(weeks)
        scale = rate / trend_now if trend_now > 0 else 1.0
        spread = max(2 * se * scale, 0.05 * rate)
    else:
        spread = 0.2 * rate
    gap_days = (first - site.surveyed_on).days - 1
    used = site.used_m3 + sum(d.volume_m3 for d in rows) + max(gap_days, 0) * trend_now
    remaining = max(site.capacity_m3 - used, 0.0)
    low, high = max(rate - spread, 0.0), rate + spread

    def left(r: float) -> float | None:
        return remaining / r if r > 0 else None

    days_left = left(rate)
    return Projection(
        site_id=site.site_id,
        as_of=as_of,
        used_m3=round(used, 3),
        remaining_m3=round(remaining, 3),
        fill_fraction=round(min(used / site.capacity_m3, 1.0), 5),
        rate_m3_per_day=round(rate, 4),
        rate_low_m3_per_day=round(low, 4),
        rate_high_m3_per_day=round(high, 4),
        days_left=None if days_left is None else round(days_left, 2),
        full_date=_add_days(as_of, days_left),
        full_date_early=_add_days(as_of, left(high)),
        full_date_late=_add_days(as_of, left(low)),
        window_days=span,
        rate_by_stream={s: round(v, 4) for s, v in rate_by_stream.items()},
    )
