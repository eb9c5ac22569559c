"""Collection detection: a confirmed drop in the fill level means the bin was emptied.

Pure logic, no I/O.  :class:`CollectionDetector` is fed one device's readings in
the device's order and returns a :class:`Collection` when a drop is confirmed.

Why it is built this way:

* **Noise**: the reference level before a drop is the median of the last three
  trusted levels, and a drop must be confirmed by the next reading(s) (their
  median must stay low), so a single bad echo never becomes a collection.  The
  drop needed scales with the measured noise of this sensor (4 sigma, at least
  ``min_drop``), so a sensor in a noisy spell needs a far larger drop and two
  confirmations instead of producing a stream of false collections.
* **Faults**: readings flagged SENSOR_FAULT / NO_ECHO / TILTED carry no level.
  Fire (content burns) and tip-over (content spills) lower the level without a
  truck, so a drop within ``disturbed_hold_s`` of such a flag re-bases the
  reference instead of counting as a collection.
* **Stuck sensor**: a frozen distance produces no drop, hence no collection;
  the alerts processor reports it as a sensor fault.
* **Emptied twice**: after a collection the reference restarts from the new
  level, so the next real emptying (after refilling) is detected again, while
  a second step down within ``refractory_s`` (a crew finishing the job, a
  second truck) is merged into the first.
* **Duplicates and late copies**: a reading not newer than the last one seen is
  ignored, which makes a Kafka replay of already-processed readings a no-op.

The event id is ``<device>:<boot>:<seq>`` of the first low reading, so a replay
re-emits the same id and every consumer upserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any

from wastewatch.processors.readings import ALARM_FLAGS, Reading

__all__ = ["Collection", "CollectionDetector", "CollectionParams", "detect_collection"]


@dataclass(frozen=True, slots=True)
class CollectionParams:
    """Tuning of the detector; defaults suit 5 mm ultrasonic noise on 0.5-1 m depths."""

    min_drop: float = 0.02
    """Smallest confirmed fall in fill (fraction) that counts as an emptying: bins are
    emptied on a schedule, often nearly empty, and 5 mm of echo noise is 0.005."""
    noise_sigmas: float = 4.0
    """The needed drop is at least this many noise sigmas of the sensor."""
    noisy_sigma: float = 0.04
    """Above this noise sigma, two confirming readings are required instead of one."""
    disturbed_hold_s: int = 2 * 3600
    """After a FIRE or TILTED flag, drops are re-bases, not collections, for this long."""
    refractory_s: int = 2 * 3600
    """A further drop this soon after a collection is part of the same emptying."""
    max_gap_s: int = 36 * 3600
    """Across a longer silence the reference is stale: re-base instead of detecting."""


@dataclass(frozen=True, slots=True)
class Collection:
    """A detected emptying (the processor turns it into a CollectionEvent)."""

    event_id: str
    device_id: str
    ts: int
    fill_before: float
    fill_after: float
    confidence: float

    def litres(self, volume_l: float) -> float:
        """Litres of level emptied from a bin of ``volume_l`` (``collections.volume_l``)."""
        return max(self.fill_before - self.fill_after, 0.0) * volume_l


def detect_collection(
    before: list[float], after: list[float], *, needed_drop: float
) -> tuple[float, float] | None:
    """``(fill_before, fill_after)`` when the levels after fell far enough below those before.

    ``before`` are trusted levels up to the drop, ``after`` the levels from the
    first low one on.  Medians make one outlier on either side harmless; with only
    two readings after, both must be low.
    """
    if not before or not after:
        return None
    ref = median(before[-3:])
    level = median(after)
    # With one confirmation both readings must be low; with more, most of them.
    low = max(after) if len(after) <= 2 else level
    if ref - low >= needed_drop and ref - after[0] >= needed_drop:
        return ref, min(level, ref)
    return None


@dataclass(slots=True)
class CollectionDetector:
    """Per-device state of the detector; JSON round-trips through to_dict/from_dict."""

    device_id: str
    params: CollectionParams = field(default_factory=CollectionParams)
    last_ts: int = 0
    recent: list[float] = field(default_factory=list)
    recent_ts: int = 0
    pending: list[tuple[int, float, int, int]] = field(default_factory=list)
    """Low readings awaiting confirmation: (ts, level, boot, seq)."""
    disturbed_until: int = 0
    last_collection_ts: int = 0
    abs_diff: float = 0.01
    """EWMA of |second difference| of consecutive trusted levels (noise estimate): the
    steady rise of a filling bin cancels out, the sensor's noise does not."""
    last_step: float | None = None

    @property
    def sigma(self) -> float:
        # For Gaussian noise E|x1 - 2 x2 + x3| = sigma sqrt(6) sqrt(2/pi) ~ 1.95 sigma.
        return self.abs_diff / 1.95

    def needed_drop(self) -> float:
        return max(self.params.min_drop, self.params.noise_sigmas * self.sigma)

    def update(self, r: Reading) -> Collection | None:
        """Feed the next reading of this device; a Collection when one is confirmed."""
        if not r.has_time or r.ts <= self.last_ts:
            return None
        self.last_ts = r.ts
        p = self.params
        if r.flags & ALARM_FLAGS:
            self.disturbed_until = r.ts + p.disturbed_hold_s
            self.pending.clear()
            return None
        level = r.level
        if level is None:
            return None
        if self.pending:
            return self._confirm(r, level)
        stale = r.ts - self.recent_ts > p.max_gap_s or r.ts < self.disturbed_until
        if self.recent and stale and median(self.recent[-3:]) - level >= self.needed_drop():
            self.recent = [level]  # burnt or spilt content, or a stale reference
            self.recent_ts = r.ts
            return None
        if (
            self.recent
            and median(self.recent[-3:]) - level >= self.needed_drop()
            and r.ts - self.last_collection_ts > p.refractory_s
        ):
            self.pending = [(r.ts, level, r.boot, r.seq)]
            return None
        if (
            self.recent
            and r.ts - self.last_collection_ts <= p.refractory_s
            and level < self.recent[-1]
        ):
            self.recent = [level]  # the rest of the same emptying
            self.recent_ts = r.ts
            return None
        self._remember(r.ts, level)
        return None

    def _confirm(self, r: Reading, level: float) -> Collection | None:
        self.pending.append((r.ts, level, r.boot, r.seq))
        confirmations = 2 if self.sigma > self.params.noisy_sigma else 1
        if len(self.pending) < 1 + confirmations:
            return None
        pending, self.pending = self.pending, []
        after = [lv for _, lv, _, _ in pending]
        found = detect_collection(self.recent, after, needed_drop=self.needed_drop())
        first_ts, _, boot, seq = pending[0]
        if found is None:
            for ts, lv, _, _ in pending:  # a spell of low echoes, not an emptying
                self._remember(ts, lv)
            return None
        before, after_level = found
        self.recent = after[-3:]
        self.recent_ts = r.ts
        self.last_step = None
        self.last_collection_ts = first_ts
        confidence = 0.95 if confirmations == 1 else 0.7
        return Collection(
            event_id=f"{self.device_id}:{boot}:{seq}",
            device_id=self.device_id,
            ts=first_ts,
            fill_before=round(before, 4),
            fill_after=round(after_level, 4),
            confidence=confidence,
        )

    def _remember(self, ts: int, level: float) -> None:
        if self.recent:
            step = level - self.recent[-1]
            if self.last_step is not None:
                second = min(abs(step - self.last_step), 0.5)
                self.abs_diff += 0.2 * (second - self.abs_diff)
            self.last_step = step
        self.recent.append(level)
        if len(self.recent) > 5:
            del self.recent[0]
        self.recent_ts = ts

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "last_ts": self.last_ts,
            "recent": self.recent,
            "recent_ts": self.recent_ts,
            "pending": [list(x) for x in self.pending],
            "disturbed_until": self.disturbed_until,
            "last_collection_ts": self.last_collection_ts,
            "abs_diff": self.abs_diff,
            "last_step": self.last_step,
        }

    @classmethod
    def from_dict(
        cls, device_id: str, data: dict[str, Any], params: CollectionParams | None = None
    ) -> CollectionDetector:
        return cls(
            device_id=device_id,
            params=params or CollectionParams(),
            last_ts=int(data["last_ts"]),
            recent=[float(x) for x in data["recent"]],
            recent_ts=int(data["recent_ts"]),
            pending=[(int(a), float(b), int(c), int(d)) for a, b, c, d in data["pending"]],
            disturbed_until=int(data["disturbed_until"]),
            last_collection_ts=int(data["last_collection_ts"]),
            abs_diff=float(data["abs_diff"]),
            last_step=data.get("last_step"),
        )
