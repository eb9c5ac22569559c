"""Fill forecasting: an online per-bin fill-rate model and the time to the threshold.

Pure logic, no I/O.  :class:`FillForecaster` is fed one bin's readings (and
told about collections) and answers :meth:`FillForecaster.forecast`.

The model, and why:

* **Settling.** Loose waste settles under its own weight, so the level rises
  more slowly as the bin fills.  The model works in a linearised "loose
  volume" coordinate ``u = -ln(1 - k f) / k`` (``k`` = :data:`SETTLING`), in
  which the inflow rate does not depend on how full the bin already is.
* **Daily and weekly patterns.** The rate is ``hour_rate[h] * week_factor[d]``
  for the local (Asia/Bangkok) hour of day ``h`` and weekday ``d``.  Each hour
  bucket is an exponentially weighted mean of the rates measured over roughly
  hour-long steps between trusted readings (steps of 45 min .. 3 h; shorter ones
  are mostly sensor noise), so it adapts to a changing neighbourhood within a
  week or two.  The weekday factor compares each local day's measured inflow
  with what the hour profile expected, shrunk towards 1 because a bin sees each
  weekday only once a week.  On top, a correction per hour of the week (168
  buckets, the ratio of measured to modelled rate, pulled towards 1 by a
  pseudo-count) catches what a day factor cannot: a Saturday night market or a
  Wednesday morning market raises a few hours of one day, not the whole day.
  In the 28-day evaluation it cut the forecast error by a fifth.
* **Collections reset the level, not the rates**: what people throw away does
  not change because a truck came; the anchor of the next rate step moves to
  the level after the emptying.
* **Uncertainty.** The band integrates the same profile with the rate scaled by
  ``1 +- e``, where ``e`` combines the model's measured day-to-day relative
  error with the hour-to-hour burstiness averaged over the horizon.
* **Event time only.**  Forecasts are made "as of" the newest reading, never the
  wall clock, so a replay gives the same forecasts as real time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from wastewatch.processors.readings import ALARM_FLAGS, Reading

__all__ = [
    "SETTLING",
    "FillForecaster",
    "Forecast",
    "ForecastParams",
    "Urgency",
    "local_hour",
    "local_weekday",
    "urgency_of",
]

SETTLING: Final = 0.2
"""k in ``u = -ln(1 - k f) / k``: at f = 1 the level rises 20 % slower than when empty
(loose street-bin waste settles by some 10-35 % depending on the stream)."""
BANGKOK_S: Final = 7 * 3600
HOUR_S: Final = 3600
DAY_S: Final = 86_400


def local_hour(ts: int) -> int:
    """Hour of day in Asia/Bangkok (UTC+7, no daylight saving)."""
    return ((ts + BANGKOK_S) // HOUR_S) % 24


def local_day(ts: int) -> int:
    """Days since 1970-01-01 in Asia/Bangkok."""
    return (ts + BANGKOK_S) // DAY_S


def local_weekday(ts: int) -> int:
    """Monday = 0 in Asia/Bangkok (1970-01-01 was a Thursday)."""
    return (local_day(ts) + 3) % 7


def to_u(fill: float) -> float:
    f = min(max(fill, 0.0), 1.0)
    return -math.log(1.0 - SETTLING * f) / SETTLING


def from_u(u: float) -> float:
    return (1.0 - math.exp(-SETTLING * u)) / SETTLING


class Urgency:
    """Urgency values stored in ``bin_state.urgency`` (boards colour by them)."""

    OVERFLOWING = "overflowing"
    URGENT = "urgent"
    SOON = "soon"
    FINE = "fine"


@dataclass(frozen=True, slots=True)
class ForecastParams:
    """Learning rates and horizons."""

    hour_alpha: float = 0.15
    """Weight of a new rate measurement in its hour bucket (after the first few)."""
    week_alpha: float = 0.25
    """Weight of a finished day in its weekday factor."""
    min_step_s: int = 2700
    max_step_s: int = 3 * 3600
    min_samples: int = 6
    """Rate steps needed before any forecast is made."""
    horizon_s: int = 14 * DAY_S
    """Beyond this no crossing is predicted (threshold_at is null)."""
    burstiness: float = 0.5
    """Hour-to-hour relative variation of the inflow (people dump in bursts)."""
    week_hour_alpha: float = 0.3
    """Weight of a new measurement in its hour-of-week correction."""
    week_hour_prior_n: float = 1.0
    """Pseudo-count pulling an hour-of-week correction towards 1 (the hour x weekday model)."""
    week_min: float = 0.33
    urgent_s: int = 6 * 3600
    soon_s: int = 24 * 3600
    overflowing_fill: float = 0.98


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast of one bin as of ``as_of`` (event time)."""

    as_of: int
    fill: float
    rate_per_h: float
    """Current rise of the fill level, fraction per hour."""
    threshold: float
    threshold_at: int | None
    """Predicted time the fill reaches the threshold (``as_of`` when it already has)."""
    early_at: int | None
    late_at: int | None
    urgency: str
    collect_by: int | None
    """Latest time to collect without passing the threshold, on the early side of the band."""
    refill_h: float | None = None
    """Hours from empty to the threshold at the bin's usual (mean) rate; None before the
    model is ready. The route planner plans a second visit to a bin that refills within
    the shift, which the current ``rate_per_h`` cannot tell at night."""


def urgency_of(
    fill: float,
    overfull: bool,
    threshold: float,
    threshold_at: int | None,
    as_of: int,
    params: ForecastParams,
) -> str:
    """overflowing / urgent / soon / fine, from the level and the predicted crossing."""
    if overfull or fill >= params.overflowing_fill:
        return Urgency.OVERFLOWING
    if fill >= threshold:
        return Urgency.URGENT
    if threshold_at is None:
        return Urgency.FINE
    left = threshold_at - as_of
    if left <= params.urgent_s:
        return Urgency.URGENT
    if left <= params.soon_s:
        return Urgency.SOON
    return Urgency.FINE


@dataclass(slots=True)
class FillForecaster:
    """Per-bin model state; JSON round-trips through to_dict/from_dict."""

    threshold: float = 0.8
    params: ForecastParams = field(default_factory=ForecastParams)
    hour_rate: list[float] = field(default_factory=lambda: [0.0] * 24)
    hour_n: list[int] = field(default_factory=lambda: [0] * 24)
    week_factor: list[float] = field(default_factory=lambda: [1.0] * 7)
    how_corr: list[float] = field(default_factory=lambda: [1.0] * 168)
    how_n: list[int] = field(default_factory=lambda: [0] * 168)
    mean_rate: float = 0.0
    samples: int = 0
    rel_err: float = 0.3
    anchor_ts: int = 0
    anchor_u: float = 0.0
    last_ts: int = 0
    fill: float = 0.0
    overfull: bool = False
    day: int = -1
    day_obs: float = 0.0
    day_exp: float = 0.0

    # -- learning ------------------------------------------------------------------
    def rate_at(self, ts: int) -> float:
        """Expected inflow (u per hour) at ``ts``."""
        h, wd = local_hour(ts), local_weekday(ts)
        base = self.hour_rate[h] if self.hour_n[h] >= 2 else self.mean_rate
        how = wd * 24 + h
        n = self.how_n[how]
        corr = 1.0 + n / (n + self.params.week_hour_prior_n) * (self.how_corr[how] - 1.0)
        return max(base, 0.0) * self.week_factor[wd] * corr

    def update(self, r: Reading) -> bool:
        """Feed the next reading; True when it moved the level (a new forecast is due)."""
        if not r.has_time or r.ts <= self.last_ts:
            return False
        self.last_ts = r.ts
        if r.flags & ALARM_FLAGS:
            self.anchor_ts = 0  # burning or spilt: the next rise says nothing about inflow
            return False
        level = r.level
        if level is None:
            return False
        self.fill = level
        self.overfull = level >= 1.0
        u = to_u(level)
        if self.anchor_ts and not self.overfull:
            step = r.ts - self.anchor_ts
            if step >= self.params.min_step_s:
                if step <= self.params.max_step_s and u >= self.anchor_u - 0.05:
                    self._learn(self.anchor_ts, r.ts, (u - self.anchor_u) / (step / HOUR_S))
                self.anchor_ts, self.anchor_u = r.ts, u
        else:
            self.anchor_ts, self.anchor_u = r.ts, u
        return True

    def collected(self, ts: int, fill_after: float) -> None:
        """A collection emptied the bin at ``ts``: restart the level, keep the rates."""
        self.fill = fill_after
        self.overfull = False
        self.anchor_ts, self.anchor_u = ts, to_u(fill_after)

    def _learn(self, t0: int, t1: int, rate: float) -> None:
        mid = (t0 + t1) // 2
        h, wd, day = local_hour(mid), local_weekday(mid), local_day(mid)
        wf = self.week_factor[wd]
        prior = (self.hour_rate[h] if self.hour_n[h] >= 2 else self.mean_rate) * wf
        how = wd * 24 + h
        if prior > 0 and self.samples >= 24:
            ratio = min(max(rate / prior, 0.0), 5.0)
            a = max(1.0 / (self.how_n[how] + 1), self.params.week_hour_alpha)
            self.how_corr[how] += a * (ratio - self.how_corr[how])
            self.how_n[how] += 1
        sample = rate / wf
        n = self.hour_n[h]
        alpha = max(1.0 / (n + 1), self.params.hour_alpha)
        self.hour_rate[h] += alpha * (sample - self.hour_rate[h])
        self.hour_n[h] = n + 1
        self.samples += 1
        self.mean_rate += max(1.0 / self.samples, 0.02) * (sample - self.mean_rate)
        if day != self.day:
            self._close_day()
            self.day = day
        self.day_obs += rate
        self.day_exp += self.rate_at(mid) / wf if self.samples > 24 else 0.0

    def _close_day(self) -> None:
        if self.day >= 0 and self.day_exp > 0.05 and self.day_obs > 0:
            wd = (self.day + 3) % 7
            ratio = min(max(self.day_obs / self.day_exp, self.params.week_min), 3.0)
            self.week_factor[wd] += self.params.week_alpha * (ratio - self.week_factor[wd])
            err = abs(self.day_obs / (self.day_exp * self.week_factor[wd]) - 1.0)
            self.rel_err += 0.1 * (min(err, 1.5) - self.rel_err)
        self.day_obs = self.day_exp = 0.0

    # -- forecasting ---------------------------------------------------------------
    def ready(self) -> bool:
        return self.samples >= self.params.min_samples and self.mean_rate > 0

    def _hour_rates(self, start: int) -> Callable[[int], float]:
        """``rate(i)``: the rate in the i-th clock hour from ``start``'s, computed once.

        A forecast integrates up to 14 days hour by hour, three times (estimate and
        band); most crossings come within a day, so the hours are looked up lazily and
        shared by the three integrations (the same values as :meth:`rate_at`).
        """
        base = start - start % HOUR_S
        rates: list[float] = []
        rate_at = self.rate_at

        def rate(i: int) -> float:
            while len(rates) <= i:
                rates.append(rate_at(base + len(rates) * HOUR_S))
            return rates[i]

        return rate

    def _crossing(
        self, start: int, u0: float, target: float, scale: float, rate_of: Callable[[int], float]
    ) -> int | None:
        t, u = start, u0
        end = start + self.params.horizon_s
        i = 0
        while t < end:
            nxt = min((t // HOUR_S + 1) * HOUR_S, end)
            rate = rate_of(i) * scale
            i += 1
            gain = rate * (nxt - t) / HOUR_S
            if u + gain >= target:
                return t + math.ceil((target - u) / rate * HOUR_S) if rate > 0 else nxt
            u += gain
            t = nxt
        return None

    def forecast(self, as_of: int | None = None) -> Forecast:
        """The forecast as of the newest reading (or ``as_of``, event time)."""
        now = self.last_ts if as_of is None else as_of
        p = self.params
        fill = self.fill
        rate_u = self.rate_at(now) if self.ready() else 0.0
        rate_f = rate_u * (1.0 - SETTLING * min(fill, 1.0))
        at = early = late = None
        if fill >= self.threshold:
            at = early = late = now
        elif self.ready():
            u0, target = to_u(fill), to_u(self.threshold)
            week = self._hour_rates(now)
            at = self._crossing(now, u0, target, 1.0, week)
            if at is not None:
                hours = max((at - now) / HOUR_S, 1.0)
                e = min(math.sqrt(self.rel_err**2 + p.burstiness**2 / hours), 0.8)
                early = self._crossing(now, u0, target, 1.0 + e, week)
                late = self._crossing(now, u0, target, 1.0 - e, week)
        urgency = urgency_of(fill, self.overfull, self.threshold, at, now, p)
        return Forecast(
            as_of=now,
            fill=fill,
            rate_per_h=round(rate_f, 5),
            threshold=self.threshold,
            threshold_at=at,
            early_at=early,
            late_at=late,
            urgency=urgency,
            collect_by=early,
            refill_h=round(to_u(self.threshold) / self.mean_rate, 3) if self.ready() else None,
        )

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "hour_rate": self.hour_rate,
            "hour_n": self.hour_n,
            "week_factor": self.week_factor,
            "how_corr": self.how_corr,
            "how_n": self.how_n,
            "mean_rate": self.mean_rate,
            "samples": self.samples,
            "rel_err": self.rel_err,
            "anchor_ts": self.anchor_ts,
            "anchor_u": self.anchor_u,
            "last_ts": self.last_ts,
            "fill": self.fill,
            "overfull": self.overfull,
            "day": self.day,
            "day_obs": self.day_obs,
            "day_exp": self.day_exp,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, threshold: float, params: ForecastParams | None = None
    ) -> FillForecaster:
        return cls(
            threshold=threshold,
            params=params or ForecastParams(),
            hour_rate=[float(x) for x in data["hour_rate"]],
            hour_n=[int(x) for x in data["hour_n"]],
            week_factor=[float(x) for x in data["week_factor"]],
            # State saved before the hour-of-week correction existed starts neutral.
            how_corr=[float(x) for x in data.get("how_corr", [1.0] * 168)],
            how_n=[int(x) for x in data.get("how_n", [0] * 168)],
            mean_rate=float(data["mean_rate"]),
            samples=int(data["samples"]),
            rel_err=float(data["rel_err"]),
            anchor_ts=int(data["anchor_ts"]),
            anchor_u=float(data["anchor_u"]),
            last_ts=int(data["last_ts"]),
            fill=float(data["fill"]),
            overfull=bool(data["overfull"]),
            day=int(data["day"]),
            day_obs=float(data["day_obs"]),
            day_exp=float(data["day_exp"]),
        )
