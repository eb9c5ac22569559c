"""Parsing and checking what planners ask for: periods, lists of ids, choices.

Times: the database stores UTC, people think in Asia/Bangkok.  So a date without
a time means Bangkok midnight, and as the end of a period (``--to`` / ``to``) it
means the *whole* day (up to the next midnight), because "from 2026-09-01 to
2026-09-30" means all of September to a person.  A date-time without an offset
is Bangkok time; one with an offset (or ``Z``) is taken as written.  Periods are
half-open, ``[start, end)``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from wastewatch.queries.errors import BadParameterError

__all__ = [
    "BANGKOK",
    "INSTANT_PATTERN",
    "MAX_VALUES",
    "MAX_YEAR",
    "MIN_YEAR",
    "MONTH_PATTERN",
    "Period",
    "check_choice",
    "check_known",
    "last_days",
    "month_period",
    "parse_instant",
    "resolve_period",
    "split_values",
]

BANGKOK: Final = ZoneInfo("Asia/Bangkok")
MAX_VALUES: Final = 100
"""Most ids one filter takes (zone=a,b,...)."""
MAX_ID_LENGTH: Final = 128
#: Years a period may name: the datetime range (years 1..9999) less a margin, so that a
#: period's end (the next day or month, in Bangkok and in UTC) is still a date the
#: database and Python can take; ``9999-12`` would end in the year 10000.
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 9998
_YEAR: Final = r"(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d|999[0-8])"
#: ``month`` in the API, as /openapi.json documents and the API enforces it.
MONTH_PATTERN: Final = rf"^{_YEAR}-(0[1-9]|1[0-2])$"
#: ``from``/``to`` in the API: a date, or a date-time with minutes (seconds, a fraction and
#: an offset optional; a space for the offset's "+" that a query string lost is taken).
INSTANT_PATTERN: Final = (
    rf"^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+\- ]([01]\d|2[0-3]):?[0-5]\d)?)?$"
)
_RANGE_HINT: Final = f"give a date in the years {MIN_YEAR}..{MAX_YEAR}"
_ISO_HINT: Final = (
    "expected an ISO 8601 date or date-time, e.g. 2026-09-01 or 2026-09-01T08:00+07:00"
)
_MONTH: Final = re.compile(r"^(\d{4})-(\d{2})$")
# "2026-09-01T08:00 07:00": a "+" that a URL query string turned into a space.
_LOST_PLUS: Final = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval of time in UTC; None = unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> str:
        """The period in Bangkok time, for headers and messages."""

        def show(t: datetime | None) -> str:
            return t.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M") if t else "…"

        return f"{show(self.start)} .. {show(self.end)} (Asia/Bangkok)"


def parse_instant(text: str, *, param: str, is_end: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (see the module docstring)."""
    raw = text.strip()
    if not raw:
        raise BadParameterError(param, f"empty; {_ISO_HINT}")
    if len(raw) > 40:
        raise BadParameterError(param, f"too long to be a date; {_ISO_HINT}")
    raw = _LOST_PLUS.sub(r"\1+\2", raw)
    try:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            if not MIN_YEAR <= day.year <= MAX_YEAR:
                raise BadParameterError(param, f"{text!r} is out of range; {_RANGE_HINT}")
            if is_end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=BANGKOK).astimezone(UTC)
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise BadParameterError(param, f"{text!r} is not a date; {_ISO_HINT}") from None
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise BadParameterError(param, f"{text!r} is out of range; {_RANGE_HINT}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=BANGKOK)
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadParameterError(param, f"{text!r} is out of range; {_RANGE_HINT}") from None


def month_period(text: str, *, param: str = "--month") -> Period:
    """``YYYY-MM`` as the Bangkok calendar month."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise BadParameterError(param, f"{text!r} is not a month; expected YYYY-MM, e.g. 2026-09")
    year, month = int(m.group(1)), int(m.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadParameterError(
            param,
            f"{text!r} is out of range; give a month from {MIN_YEAR}-01 to {MAX_YEAR}-12",
        )
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(
        datetime.combine(first, time(0), tzinfo=BANGKOK).astimezone(UTC),
        datetime.combine(following, time(0), tzinfo=BANGKOK).astimezone(UTC),
    )


def last_days(days: int, now: datetime, *, param: str = "--days") -> Period:
    """The ``days`` days up to ``now``."""
    if not 1 <= days <= 3660:
        raise BadParameterError(param, f"{days} is out of range; give 1..3660 days")
    return Period(now - timedelta(days=days), now)


def resolve_period(
    *,
    start: str | None,
    end: str | None,
    month: str | None = None,
    days: int | None = None,
    now: datetime,
    names: tuple[str, str, str, str] = ("--from", "--to", "--month", "--days"),
    default_days: int | None = None,
) -> Period:
    """One period from from/to, or a month, or the last N days (at most one kind)."""
    n_from, n_to, n_month, n_days = names
    kinds = [
        name
        for name, given in (
            (f"{n_from}/{n_to}", start is not None or end is not None),
            (n_month, month is not None),
            (n_days, days is not None),
        )
        if given
    ]
    if len(kinds) > 1:
        raise BadParameterError(kinds[1], f"give only one of {' or '.join(kinds)}")
    if month is not None:
        return month_period(month, param=n_month)
    if days is not None:
        return last_days(days, now, param=n_days)
    if start is None and end is None:
        return last_days(default_days, now, param=n_days) if default_days else Period()
    lo = parse_instant(start, param=n_from) if start is not None else None
    hi = parse_instant(end, param=n_to, is_end=True) if end is not None else None
    if lo is not None and hi is not None and lo >= hi:
        raise BadParameterError(
            n_from,
            f"{start} is not before {n_to} {end}: the period is empty",
        )
    return Period(lo, hi)


def split_values(values: Iterable[str] | None, *, param: str) -> tuple[str, ...]:
    """Repeated and/or comma-separated ids, stripped, without duplicates, in order."""
    out: dict[str, None] = {}
    for value in values or ():
        for part in value.split(","):
            item = part.strip()
            if not item:
                continue
            if len(item) > MAX_ID_LENGTH or not item.isprintable():
                raise BadParameterError(param, f"{item[:40]!r}… is not an id")
            out[item] = None
    if len(out) > MAX_VALUES:
        raise BadParameterError(param, f"at most {MAX_VALUES} values, got {len(out)}")
    return tuple(out)


def check_known(
    param: str,
    values: Iterable[str],
    known: Collection[str],
    *,
    what: str,
    hint: str | None = None,
) -> None:
    """Every value must be one of ``known``; the message lists what is known (or some),
    or, with ``hint``, says where to look instead (bins: hundreds, listing a few helps none).
    """
    unknown = [v for v in values if v not in known]
    if not unknown:
        return
    plural = "s" if len(unknown) > 1 else ""
    named = ", ".join(repr(u) for u in unknown[:5])
    if hint is not None:
        raise BadParameterError(param, f"unknown {what}{plural} {named}; {hint}")
    listed = sorted(known)
    shown = ", ".join(listed[:12]) + (f", … ({len(listed)} in all)" if len(listed) > 12 else "")
    raise BadParameterError(param, f"unknown {what}{plural} {named}; known: {shown or 'none yet'}")


def check_choice(param: str, value: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``, else a message listing them."""
    if value not in choices:
        raise BadParameterError(param, f"{value!r} is not one of {', '.join(choices)}")
    return value
