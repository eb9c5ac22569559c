"""Injected faults and rare events: when they start, how long they last. Pure.

Each kind is a Poisson process with a rate per bin per day (:class:`FaultRates`).
The episodes of one bin for one UTC day are drawn from a random stream seeded
by ``(seed, bin, day)`` alone, so they do not depend on the replay window, the
order in which bins are simulated, or on any other randomness: changing one
rate changes only that kind's episodes.

What each kind does to the device (applied in ``wastewatch.workbench.simulators.devices``):

==============  ==============================================================
``stuck``       distance frozen at the first value measured in the episode, no flag
``noisy``       distance noise sigma 120 mm; a quarter of readings SENSOR_FAULT + null
``offline``     no connection: readings go to the flash buffer (BUFFERED when sent
                later, oldest dropped when full); the broker's last will says offline
``reboot``      boot counter +1, seq from 0, the first 1-4 readings with ts 0 and
                CLOCK_UNSET (no time sync yet)
``fire``        temperature ramps to 90-250 °C for 20-120 min (FIRE); content burns
``tip_over``    container on its side for 1-8 h: TILTED, mostly no echo; content spilt
``battery``     a failing cell: battery drain +60 mV/day from then on (LOW_BATTERY,
                then the device dies below 3300 mV)
==============  ==============================================================

``duplicate_per_reconnect`` is a probability, not a rate: after an offline
episode the device re-sends its last 1-3 published readings (their PUBACKs were
lost), byte for byte; the sink's natural key stores them once.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

from wastewatch.workbench.simulators.rng import stream

__all__ = ["DAY_S", "Episode", "FaultKind", "FaultRates", "draw_day"]

DAY_S: Final = 86_400


class FaultKind(StrEnum):
    """Kinds of injected faults and events, in the order they are drawn."""

    STUCK = "stuck"
    NOISY = "noisy"
    OFFLINE = "offline"
    REBOOT = "reboot"
    FIRE = "fire"
    TIP_OVER = "tip_over"
    BATTERY = "battery"


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Episodes per bin per day for each kind, and the re-send probability."""

    stuck: float = 0.002
    noisy: float = 0.003
    offline: float = 0.01
    reboot: float = 0.005
    fire: float = 0.0003
    tip_over: float = 0.001
    battery: float = 0.0005
    duplicate_per_reconnect: float = 0.5

    def rate(self, kind: FaultKind) -> float:
        value: float = getattr(self, kind.value)
        return value

    def scaled(self, factor: float) -> FaultRates:
        """Every rate times ``factor`` (the re-send probability is kept)."""
        values = asdict(self)
        for kind in FaultKind:
            values[kind.value] *= factor
        return FaultRates(**values)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FaultRates:
        """From a JSON object; unknown keys are an error (they are usually typos)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(known)}")
        values = {k: float(v) for k, v in data.items()}
        if any(v < 0 for v in values.values()) or values.get("duplicate_per_reconnect", 0) > 1:
            raise ValueError("rates must be >= 0 and duplicate_per_reconnect at most 1")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault or event on one bin: ``[start, end)`` in epoch seconds, plus details."""

    kind: FaultKind
    start: int
    end: int
    param: float = 0.0
    """Kind-specific: fire peak °C, clock-unset reading count, re-send count, ..."""


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: the means here are far below 1, so it is exact and cheap.
    limit = math.exp(-mean)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def draw_day(seed: int, bin_id: str, day: int, rates: FaultRates) -> list[Episode]:
    """The episodes starting on UTC day ``day`` (days since 1970-01-01), by start time."""
    rng = stream(seed, bin_id, "faults", day)
    base = day * DAY_S
    out: list[Episode] = []
    for kind in FaultKind:
        rate = rates.rate(kind)
        n = _poisson(rng, rate) if rate > 0 else 0
        for _ in range(n):
            start = base + rng.randrange(DAY_S)
            out.append(_episode(kind, start, rng))
    out.sort(key=lambda e: (e.start, e.kind.value))
    return out


def _episode(kind: FaultKind, start: int, rng: random.Random) -> Episode:
    if kind is FaultKind.STUCK:
        return Episode(kind, start, start + int(rng.uniform(1, 5) * DAY_S))
    if kind is FaultKind.NOISY:
        return Episode(kind, start, start + int(rng.uniform(6, 48) * 3600))
    if kind is FaultKind.OFFLINE:
        hours = min(72.0, math.exp(rng.gauss(math.log(2.0), 1.0)))
        return Episode(kind, start, start + max(600, int(hours * 3600)))
    if kind is FaultKind.REBOOT:
        return Episode(kind, start, start, param=float(rng.randint(1, 4)))
    if kind is FaultKind.FIRE:
        return Episode(kind, start, start + rng.randint(20, 120) * 60, param=rng.uniform(90, 250))
    if kind is FaultKind.TIP_OVER:
        return Episode(kind, start, start + int(rng.uniform(1, 8) * 3600))
    return Episode(kind, start, start, param=60.0)  # battery: extra mV per day
