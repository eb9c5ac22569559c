"""Expand Grafana's SQL macros and template variables the way Grafana does.

Grafana never runs here, yet every panel's SQL must be tried against the real
TimescaleDB (tests, ``bench dashboards``).  This is the small part of Grafana
that turns a panel's ``rawSql`` into the statement PostgreSQL receives, for the
PostgreSQL datasource with the TimescaleDB option on (``timescaledb: true`` in
``provisioning/datasources/timescaledb.yaml``):

* ``$__timeFilter(col)`` -> ``col BETWEEN '<from>' AND '<to>'`` (RFC 3339, UTC)
* ``$__timeFrom()`` / ``$__timeTo()`` -> ``'<from>'`` / ``'<to>'``
* ``$__timeGroup(col, 1h)`` -> ``time_bucket('3600s',col)``;
  ``$__timeGroupAlias(...)`` adds ``AS "time"``
* ``$__time(col)`` -> ``col AS "time"``
* ``$__interval`` / ``$__interval_ms`` -> the panel interval
* ``$var`` / ``${var}``: a multi-value or include-all variable becomes a quoted,
  comma-separated list (``'a','b'``); a single-value one is inserted as is,
  exactly as Grafana's SQL datasources interpolate.

Anything else that starts with ``$`` raises :class:`MacroError`, so a typo in a
panel fails the tests instead of failing on the operator's screen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wastewatch.grafana.errors import MacroError

__all__ = ["TimeRange", "VariableValue", "expand", "parse_interval"]

VariableValue = str | Sequence[str]
"""A str is a single-value variable (inserted raw); a sequence a multi/All selection."""

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_INTERVAL = re.compile(r"^\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)'?\s*$")
_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The dashboard's time picker: both ends timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise MacroError("the time range must be timezone-aware")
        if self.end < self.start:
            raise MacroError("the time range ends before it starts")


def parse_interval(text: str) -> timedelta:
    """``15m``, ``1h``, ``7d`` (Grafana's interval syntax) as a timedelta."""
    m = _INTERVAL.match(text)
    if not m:
        raise MacroError(f"{text!r} is not a Grafana interval such as 15m, 1h or 1d")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def _rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano of the UTC time (what Grafana writes into the SQL)."""
    u = t.astimezone(UTC)
    frac = f".{u.microsecond:06d}".rstrip("0") if u.microsecond else ""
    return u.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _args(text: str) -> list[str]:
    return [a.strip() for a in text.split(",")] if text.strip() else []


def _macro(name: str, args: list[str], tr: TimeRange) -> str:
    frm, to = _rfc3339(tr.start), _rfc3339(tr.end)
    if name == "timeFilter" and len(args) == 1:
        return f"{args[0]} BETWEEN '{frm}' AND '{to}'"
    if name == "timeFrom" and not args:
        return f"'{frm}'"
    if name == "timeTo" and not args:
        return f"'{to}'"
    if name == "time" and len(args) == 1:
        return f'{args[0]} AS "time"'
    if name in {"timeGroup", "timeGroupAlias"} and len(args) in {2, 3}:
        seconds = parse_interval(args[1]).total_seconds()
        group = f"time_bucket('{seconds:.0f}s',{args[0]})"
        return group + (' AS "time"' if name == "timeGroupAlias" else "")
    raise MacroError(f"unsupported Grafana macro $__{name}({', '.join(args)})")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand(
    sql: str,
    *,
    time_range: TimeRange,
    variables: Mapping[str, VariableValue] | None = None,
    interval: str = "1h",
) -> str:
    """The SQL Grafana would send for this time range, variable selection and interval."""
    values = dict(variables or {})
    step = parse_interval(interval)
    step_text = f"{step.total_seconds():.0f}s"
    text = sql.replace("$__interval_ms", str(int(step.total_seconds() * 1000)))
    text = text.replace("$__interval", step_text).replace("${__interval}", step_text)

    def variable(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name.startswith("__"):
            return m.group(0)  # a macro, handled below
        if name not in values:
            raise MacroError(f"the SQL uses ${name}, but no such template variable is set")
        value = values[name]
        if isinstance(value, str):
            return value
        if not value:
            raise MacroError(f"${name} has no value selected")
        return ",".join(_quote(v) for v in value)

    text = _VARIABLE.sub(variable, text)
    text = _MACRO.sub(lambda m: _macro(m.group(1), _args(m.group(2)), time_range), text)
    leftover = re.search(r"\$__\w+", text)
    if leftover:
        raise MacroError(f"unsupported Grafana macro {leftover.group(0)}")
    return text
