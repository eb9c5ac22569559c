"""The true fill of one bin over time: pure, deterministic, event-time only.

Model (all assumptions, documented in ``simulators/README.md``):

* Loose waste arrives at ``rate_lph`` litres per hour on average, times the
  calendar's hour/weekday/event multiplier for the bin's place and zone, times
  an hourly noise factor (log-normal, mean 1) drawn once per clock hour from
  the bin's own random stream, in hour order, so the result does not depend on
  how often the model is asked.
* Compaction: waste settles under its own weight, so the level rises more
  slowly the fuller the bin is: ``df/dt = r/C * (1 - k f)`` with the stream's
  compaction coefficient ``k``. Within an hour ``r`` is constant and the
  solution is closed form, ``f(t) = a - (a - f0) e^(-b t)`` with ``a = 1/k``,
  ``b = r k / C``; threshold crossing times come out exactly, no time steps.
* Overflow: at ``f = 1`` the level stays at the top; further waste piles up
  beside or on the bin (``overflow_l``) and the time spent full is counted
  (``overflow_s``) until the next collection.
* Mass: every loose litre brings the stream's bulk density (kg/L) from
  :data:`wastewatch.schema.common.STREAM_DENSITY_KG_PER_L`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from wastewatch.schema import STREAM_DENSITY_KG_PER_L, WasteStream
from wastewatch.workbench.simulators.calendar import Calendar, local_day_and_hour

__all__ = [
    "COMPACTION",
    "DAILY_FILL_FRACTION",
    "DEFAULT_THRESHOLDS",
    "Collected",
    "FillModel",
    "daily_fill_fraction",
]

DEFAULT_THRESHOLDS: Final = (0.5, 0.75, 0.9, 1.0)
"""Fill levels whose true upward crossing times the ground truth records (plus each
bin's own collection threshold)."""

DAILY_FILL_FRACTION: Final[dict[WasteStream, dict[str, float]]] = {
    WasteStream.GENERAL: {
        "market": 0.95,
        "commercial": 0.55,
        "residential": 0.40,
        "school": 0.45,
        "temple": 0.35,
        "park": 0.45,
        "office": 0.35,
        "hospital": 0.50,
    },
    WasteStream.RECYCLABLE: {
        "market": 0.30,
        "commercial": 0.25,
        "residential": 0.17,
        "school": 0.25,
        "office": 0.20,
        "*": 0.15,
    },
    WasteStream.ORGANIC: {"market": 1.05, "residential": 0.45, "*": 0.35},
    WasteStream.HAZARDOUS: {"hospital": 0.08, "*": 0.03},
}
"""Average share of the container filled per day (empty bin, before compaction)."""

COMPACTION: Final[dict[WasteStream, float]] = {
    WasteStream.GENERAL: 0.35,
    WasteStream.RECYCLABLE: 0.25,
    WasteStream.ORGANIC: 0.20,
    WasteStream.HAZARDOUS: 0.10,
}
"""Compaction coefficient k: at f = 1 the level rises (1 - k) times as fast as when empty."""

HOURLY_NOISE_SIGMA: Final = 0.5
"""Log-normal sigma of the hourly noise factor: people dump in bursts."""


def daily_fill_fraction(stream: WasteStream, place: str) -> float:
    """Base fill share per day for a stream at a kind of place."""
    table = DAILY_FILL_FRACTION[stream]
    return table.get(place, table.get("*", 0.3))


@dataclass(frozen=True, slots=True)
class Collected:
    """What one emptying took out of the bin (ground truth)."""

    fill_before: float
    litres: float
    kg: float
    overflow_l: float
    overflow_s: int
    residual_fill: float


class FillModel:
    """One bin's true content; advance it in time, empty it, burn or spill it."""

    __slots__ = (
        "_a",
        "_armed",
        "_density",
        "_k",
        "_noise",
        "_noise_hour",
        "_rng",
        "_sigma",
        "calendar",
        "capacity_l",
        "crossings",
        "fill",
        "full_since",
        "loose_l",
        "overflow_l",
        "overflow_s",
        "place",
        "rate_lph",
        "t",
        "thresholds",
        "zone",
    )

    def __init__(
        self,
        *,
        capacity_l: float,
        stream: WasteStream,
        place: str,
        zone: str,
        calendar: Calendar,
        rng: random.Random,
        start: int,
        initial_fill: float,
        rate_factor: float,
        thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
    ) -> None:
        self.capacity_l = capacity_l
        self.place = place
        self.zone = zone
        self.calendar = calendar
        self._rng = rng
        self._k = COMPACTION[stream]
        self._a = 1.0 / self._k
        self._density = STREAM_DENSITY_KG_PER_L[stream]
        self._sigma = HOURLY_NOISE_SIGMA
        self.rate_lph = daily_fill_fraction(stream, place) * capacity_l * rate_factor / 24.0
        self.t = start
        self.fill = initial_fill
        self.loose_l = initial_fill * capacity_l / (1.0 - self._k * initial_fill / 2)
        self.overflow_l = 0.0
        self.overflow_s = 0
        self.full_since: int | None = None
        self.thresholds = thresholds
        self._armed = sum(1 for th in thresholds if th <= initial_fill)
        self.crossings: list[tuple[int, float]] = []
        self._noise_hour = -1
        self._noise = 1.0

    @property
    def compaction(self) -> float:
        """The stream's compaction coefficient k (for evaluations that need the truth)."""
        return self._k

    @property
    def mass_kg(self) -> float:
        return self.loose_l * self._density

    def advance(self, t_end: int) -> None:
        """Bring the content to ``t_end`` (no-op for an earlier time)."""
        while self.t < t_end:
            hour = self.t // 3600
            seg_end = min(t_end, (hour + 1) * 3600)
            if hour != self._noise_hour:
                # Segments never span an hour, so this is one draw per clock hour, in
                # order, whatever the call pattern.
                self._noise = math.exp(self._rng.gauss(0.0, self._sigma) - self._sigma**2 / 2)
                self._noise_hour = hour
            day, local_hour = local_day_and_hour(self.t)
            mult = self.calendar.multipliers(day, self.place, self.zone)[local_hour]
            self._segment(self.t, seg_end, self.rate_lph * mult * self._noise)
            self.t = seg_end

    def _segment(self, t0: int, t1: int, r: float) -> None:
        dt_h = (t1 - t0) / 3600.0
        self.loose_l += r * dt_h
        if self.fill >= 1.0:
            self.overflow_l += r * (1.0 - self._k) * dt_h
            self.overflow_s += t1 - t0
            return
        if r <= 0.0:
            return
        a, f0 = self._a, self.fill
        b = r * self._k / self.capacity_l
        f1 = a - (a - f0) * math.exp(-b * dt_h)
        top = min(f1, 1.0)
        while self._armed < len(self.thresholds) and self.thresholds[self._armed] <= top:
            th = self.thresholds[self._armed]
            hours = math.log((a - f0) / (a - th)) / b
            self.crossings.append((min(t1, t0 + math.ceil(hours * 3600)), th))
            self._armed += 1
        if f1 >= 1.0:
            hours_to_full = math.log((a - f0) / (a - 1.0)) / b
            t_full = min(t1, t0 + math.ceil(hours_to_full * 3600))
            self.full_since = t_full
            self.overflow_l += r * (1.0 - self._k) * max(0.0, dt_h - hours_to_full)
            self.overflow_s += t1 - t_full
            self.fill = 1.0
        else:
            self.fill = f1

    def _rearm(self) -> None:
        self._armed = sum(1 for th in self.thresholds if th <= self.fill)

    def empty(self, residual_fill: float) -> Collected:
        """A crew empties the bin (and picks up what overflowed) now, at ``self.t``."""
        got = Collected(
            fill_before=self.fill,
            litres=max(0.0, self.fill - residual_fill) * self.capacity_l + self.overflow_l,
            kg=self.mass_kg * (1.0 - residual_fill / max(self.fill, 1e-9))
            if self.fill > residual_fill
            else 0.0,
            overflow_l=self.overflow_l,
            overflow_s=self.overflow_s,
            residual_fill=min(residual_fill, self.fill),
        )
        self.loose_l -= got.kg / self._density
        self.fill = min(residual_fill, self.fill)
        self.overflow_l = 0.0
        self.overflow_s = 0
        self.full_since = None
        self._rearm()
        return got

    def reduce(self, keep: float) -> None:
        """Part of the content is gone (burnt, spilled): keep this share of it."""
        self.fill *= keep
        self.loose_l *= keep
        self.overflow_l *= keep
        if self.fill < 1.0:
            self.full_since = None
        self._rearm()
