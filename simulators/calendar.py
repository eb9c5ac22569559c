"""When people throw more or less away: hour-of-day, day-of-week and a city calendar.

Pure and cached. Waste generation at a bin is its base rate times
``multipliers(local_date, place, zone)[local_hour]``, the product of

* an hour-of-day profile per kind of place (markets peak at dawn and at the
  night market, schools only in school hours), normalised to a mean of 1 so
  that a bin's base rate stays its daily average;
* a day-of-week factor per kind of place (schools and offices quiet at the
  weekend, parks busier);
* calendar entries from ``calendar.json``: weekly market days (a weekday and
  hours) and dated events (festivals such as Songkran, school holidays), each
  with a factor per kind of place (``"*"`` for the rest) and optionally only
  in some zones.

Kalasin keeps Asia/Bangkok time, UTC+7 all year (no daylight saving), so the
local hour is a fixed offset: no time-zone database in the hot path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from wastewatch.schema import Weekday
from wastewatch.workbench.simulators.errors import CityDataError

__all__ = [
    "BANGKOK_OFFSET_S",
    "DEFAULT_HOUR_PROFILES",
    "DEFAULT_WEEKDAY_FACTORS",
    "Calendar",
    "CalendarEntry",
    "load_calendar",
    "local_day_and_hour",
]

BANGKOK_OFFSET_S: Final = 7 * 3600
"""Asia/Bangkok is UTC+7 with no daylight saving time."""


def local_day_and_hour(ts: int) -> tuple[int, int]:
    """(days since 1970-01-01 in Bangkok, local hour 0..23) of a UTC epoch second."""
    local = ts + BANGKOK_OFFSET_S
    return local // 86_400, (local // 3600) % 24


def _normalised(values: list[float]) -> tuple[float, ...]:
    mean = sum(values) / len(values)
    return tuple(v / mean for v in values)


DEFAULT_HOUR_PROFILES: Final[dict[str, tuple[float, ...]]] = {
    # hour:          0    1    2    3    4    5    6    7    8    9   10   11   12   13   14   15   16   17   18   19   20   21   22   23  # noqa: E501
    "market": _normalised(
        [
            0.3,
            0.2,
            0.2,
            0.4,
            1.2,
            2.4,
            2.6,
            2.2,
            1.6,
            1.1,
            0.9,
            1.0,
            1.0,
            0.8,
            0.7,
            0.8,
            1.2,
            1.8,
            2.2,
            2.2,
            1.8,
            1.2,
            0.7,
            0.4,
        ]
    ),
    "residential": _normalised(
        [
            0.2,
            0.1,
            0.1,
            0.1,
            0.3,
            0.9,
            1.8,
            2.0,
            1.4,
            0.9,
            0.8,
            0.9,
            1.1,
            0.9,
            0.7,
            0.8,
            1.1,
            1.7,
            2.1,
            2.0,
            1.5,
            1.0,
            0.6,
            0.3,
        ]
    ),
    "commercial": _normalised(
        [
            0.2,
            0.1,
            0.1,
            0.1,
            0.1,
            0.2,
            0.4,
            0.8,
            1.2,
            1.5,
            1.6,
            1.8,
            2.0,
            1.7,
            1.5,
            1.5,
            1.6,
            1.8,
            1.9,
            1.8,
            1.5,
            1.0,
            0.6,
            0.3,
        ]
    ),
    "school": _normalised(
        [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.1,
            0.4,
            1.6,
            2.2,
            2.0,
            2.4,
            3.0,
            3.2,
            2.4,
            2.0,
            1.8,
            1.0,
            0.4,
            0.2,
            0.1,
            0.0,
            0.0,
            0.0,
            0.0,
        ]
    ),
    "temple": _normalised(
        [
            0.1,
            0.1,
            0.1,
            0.2,
            0.6,
            1.8,
            2.6,
            2.4,
            1.8,
            1.4,
            1.2,
            1.2,
            1.0,
            0.8,
            0.8,
            0.8,
            0.9,
            1.0,
            1.0,
            0.9,
            0.6,
            0.3,
            0.2,
            0.1,
        ]
    ),
    "park": _normalised(
        [
            0.2,
            0.1,
            0.1,
            0.1,
            0.3,
            1.2,
            1.6,
            1.2,
            0.8,
            0.6,
            0.6,
            0.6,
            0.6,
            0.6,
            0.7,
            1.0,
            1.8,
            2.6,
            2.8,
            2.4,
            1.6,
            0.9,
            0.5,
            0.3,
        ]
    ),
    "office": _normalised(
        [
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.2,
            0.9,
            2.0,
            2.2,
            2.2,
            2.4,
            2.6,
            2.2,
            2.2,
            2.0,
            1.6,
            0.6,
            0.2,
            0.1,
            0.0,
            0.0,
            0.0,
            0.0,
        ]
    ),
    "hospital": _normalised(
        [
            0.5,
            0.4,
            0.4,
            0.4,
            0.5,
            0.7,
            1.0,
            1.4,
            1.8,
            1.8,
            1.7,
            1.6,
            1.5,
            1.4,
            1.3,
            1.2,
            1.1,
            1.0,
            0.9,
            0.9,
            0.8,
            0.7,
            0.6,
            0.5,
        ]
    ),
}
"""Relative waste generation per local hour, mean 1 (assumptions, see data README)."""

DEFAULT_WEEKDAY_FACTORS: Final[dict[str, tuple[float, ...]]] = {
    # Mon..Sun
    "market": (1.0, 0.95, 1.0, 0.95, 1.05, 1.15, 1.1),
    "residential": (0.95, 0.95, 0.95, 0.95, 1.0, 1.1, 1.15),
    "commercial": (0.95, 0.95, 0.95, 1.0, 1.05, 1.2, 1.1),
    "school": (1.3, 1.3, 1.3, 1.3, 1.3, 0.1, 0.1),
    "temple": (0.9, 0.9, 0.9, 0.9, 0.9, 1.2, 1.4),
    "park": (0.8, 0.8, 0.8, 0.8, 0.9, 1.4, 1.6),
    "office": (1.35, 1.35, 1.35, 1.35, 1.3, 0.15, 0.15),
    "hospital": (1.1, 1.05, 1.05, 1.05, 1.05, 0.85, 0.85),
}


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One market day or dated event, with its factor per kind of place.

    ``weekday`` set: every such weekday. Otherwise ``start``/``end`` are
    ``(month, day)`` (every year) or, with ``year``, one occurrence. ``hours``
    is the local ``[from, to)`` hour span (default the whole day); ``zones``
    restricts it to some zones (empty: everywhere).
    """

    name: str
    factors: Mapping[str, float]
    weekday: int | None = None
    start: date | tuple[int, int] | None = None
    end: date | tuple[int, int] | None = None
    hours: tuple[int, int] = (0, 24)
    zones: frozenset[str] = frozenset()

    def factor(self, place: str) -> float:
        return self.factors.get(place, self.factors.get("*", 1.0))

    def on(self, day: date) -> bool:
        if self.weekday is not None:
            return day.weekday() == self.weekday
        if isinstance(self.start, date) and isinstance(self.end, date):
            return self.start <= day <= self.end
        if isinstance(self.start, tuple) and isinstance(self.end, tuple):
            md = (day.month, day.day)
            if self.start <= self.end:
                return self.start <= md <= self.end
            return md >= self.start or md <= self.end  # spans New Year
        return False


@dataclass(frozen=True)
class Calendar:
    """Hour, weekday and calendar multipliers; :meth:`multipliers` is memoised."""

    entries: tuple[CalendarEntry, ...] = ()
    hour_profiles: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: dict(DEFAULT_HOUR_PROFILES)
    )
    weekday_factors: Mapping[str, tuple[float, ...]] = field(
        default_factory=lambda: dict(DEFAULT_WEEKDAY_FACTORS)
    )

    _cache: dict[tuple[int, str, str], tuple[float, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def multipliers(self, day_number: int, place: str, zone: str) -> tuple[float, ...]:
        """24 hourly multipliers for one local day (days since 1970-01-01, Bangkok).

        Memoised per instance: about a thousand distinct keys a month, and the
        hot path asks once per bin-hour.
        """
        key = (day_number, place, zone)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._multipliers(day_number, place, zone)
        return got

    def _multipliers(self, day_number: int, place: str, zone: str) -> tuple[float, ...]:
        day = date.fromordinal(date(1970, 1, 1).toordinal() + day_number)
        profile = self.hour_profiles.get(place, self.hour_profiles["residential"])
        weekday = self.weekday_factors.get(place, self.weekday_factors["residential"])
        hourly = [p * weekday[day.weekday()] for p in profile]
        for entry in self.entries:
            if (entry.zones and zone not in entry.zones) or not entry.on(day):
                continue
            f = entry.factor(place)
            for h in range(entry.hours[0], entry.hours[1]):
                hourly[h] *= f
        return tuple(hourly)

    def events_on(self, day_number: int) -> list[str]:
        """Names of the calendar entries on a local day (for the ground truth)."""
        day = date.fromordinal(date(1970, 1, 1).toordinal() + day_number)
        return [e.name for e in self.entries if e.on(day)]


def load_calendar(path: Path | None) -> Calendar:
    """Read ``calendar.json`` (format in the data README); None = profiles only."""
    if path is None:
        return Calendar()
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CityDataError(name, None, None, f"not a readable JSON calendar: {exc}") from exc
    if not isinstance(doc, dict):
        raise CityDataError(name, None, None, "expected a JSON object")
    entries: list[CalendarEntry] = []
    for i, raw in enumerate(doc.get("weekly", []), start=1):
        entries.append(_entry(raw, name, f"weekly entry {i}", weekly=True))
    for i, raw in enumerate(doc.get("dated", []), start=1):
        entries.append(_entry(raw, name, f"dated entry {i}", weekly=False))
    hours = dict(DEFAULT_HOUR_PROFILES)
    for place, values in (doc.get("hour_profiles") or {}).items():
        if not isinstance(values, list) or len(values) != 24:
            raise CityDataError(name, f"hour_profiles.{place}", None, "needs 24 numbers")
        hours[place] = _normalised([float(v) for v in values])
    weekdays = dict(DEFAULT_WEEKDAY_FACTORS)
    for place, values in (doc.get("weekday_factors") or {}).items():
        if not isinstance(values, list) or len(values) != 7:
            raise CityDataError(name, f"weekday_factors.{place}", None, "needs 7 numbers, Mon..Sun")
        weekdays[place] = tuple(float(v) for v in values)
    return Calendar(entries=tuple(entries), hour_profiles=hours, weekday_factors=weekdays)


def _entry(raw: Any, path: str, where: str, *, weekly: bool) -> CalendarEntry:
    if not isinstance(raw, dict):
        raise CityDataError(path, where, None, "expected an object")
    try:
        factors = {str(k): float(v) for k, v in dict(raw["factors"]).items()}
        hours = _hours(raw.get("hours", (0, 24)))
        zones = frozenset(str(z) for z in raw.get("zones", ()))
        name = str(raw["name"])
        if weekly:
            return CalendarEntry(
                name=name,
                factors=factors,
                weekday=Weekday(raw["weekday"]).number,
                hours=(hours[0], hours[1]),
                zones=zones,
            )
        start, end = _span(str(raw["from"]), str(raw.get("to", raw["from"])))
        return CalendarEntry(
            name=name,
            factors=factors,
            start=start,
            end=end,
            hours=(hours[0], hours[1]),
            zones=zones,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CityDataError(path, where, None, f"bad calendar entry: {exc}") from None


def _hours(raw: Any) -> tuple[int, int]:
    hours = tuple(int(h) for h in raw)
    if len(hours) != 2 or not 0 <= hours[0] < hours[1] <= 24:
        raise ValueError("hours must be [from, to) with 0 <= from < to <= 24")
    return hours[0], hours[1]


def _span(first: str, last: str) -> tuple[date | tuple[int, int], date | tuple[int, int]]:
    start, end = _when(first), _when(last)
    if type(start) is not type(end):
        raise ValueError("from and to must both be MM-DD or both YYYY-MM-DD")
    return start, end


def _when(text: str) -> date | tuple[int, int]:
    parts = text.split("-")
    if len(parts) == 3:
        return date.fromisoformat(text)
    if len(parts) == 2:
        month, day = int(parts[0]), int(parts[1])
        date(2024, month, day)  # validates (leap year allows 02-29)
        return (month, day)
    raise ValueError(f"{text!r} is neither MM-DD nor YYYY-MM-DD")
