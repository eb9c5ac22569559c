"""The demo's summary, pure: figures -> a rich renderable, plain text, or a JSON object.

The figures themselves are read by :mod:`wastewatch.workbench.demo.figures` (database,
reader role) and the services' /metrics; nothing here does I/O, so the same
figures give the same screen, text and JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

BANGKOK: Final = timezone(timedelta(hours=7), "Asia/Bangkok")
URGENCIES: Final = ("overflowing", "urgent", "soon", "fine")
NEEDS_COLLECTION: Final = ("overflowing", "urgent")
"""bin_state urgencies that mean "collect now": at or over the threshold, or within 6 h."""
_SEVERITY_ORDER: Final = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class ComponentRow:
    name: str
    pid: int | None
    state: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertRow:
    kind: str
    severity: str
    count: int


@dataclass(frozen=True, slots=True)
class LandfillRow:
    site_id: str
    name: str
    as_of: date
    days_left: float | None
    full_date: date | None
    fill_fraction: float


@dataclass(frozen=True, slots=True)
class RouteRow:
    truck_id: str
    stream: str
    stops: int
    km: float
    hours: float


@dataclass(frozen=True, slots=True)
class Figures:
    """One moment of the demo; every count is from the database unless named otherwise."""

    phase: str
    city: str
    database: str
    bins: int
    elapsed_s: float
    event_time: datetime | None = None
    """Newest reading the processors have seen (bin_state), i.e. the city's "now"."""
    speed: float | None = None
    readings_total: int = 0
    readings_per_s: float | None = None
    """Readings stored per second (the sink's counter over the last seconds; in the final
    summary: the live phase's average, from the database)."""
    urgency: Mapping[str, int] = field(default_factory=dict)
    alerts: tuple[AlertRow, ...] = ()
    fires: tuple[tuple[str, datetime], ...] = ()
    landfill: tuple[LandfillRow, ...] = ()
    routes_date: date | None = None
    routes: tuple[RouteRow, ...] = ()
    collections_24h: int = 0
    components: tuple[ComponentRow, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def bins_needing_collection(self) -> int:
        return sum(self.urgency.get(u, 0) for u in NEEDS_COLLECTION)

    @property
    def open_alerts(self) -> int:
        return sum(a.count for a in self.alerts)

    @property
    def landfill_days_left(self) -> float | None:
        known = [r.days_left for r in self.landfill if r.days_left is not None]
        return min(known) if known else None


def order_alerts(rows: list[AlertRow]) -> tuple[AlertRow, ...]:
    """Fire first, then by severity, then the most frequent."""
    return tuple(
        sorted(
            rows,
            key=lambda a: (a.kind != "fire", _SEVERITY_ORDER.get(a.severity, 9), -a.count, a.kind),
        )
    )


def _local(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _days(value: float | None) -> str:
    return "unknown (no trend yet)" if value is None else f"{value:,.0f}"


def headline(f: Figures) -> str:
    if f.speed is None:
        speed = ""
    elif f.speed <= 1:
        speed = ", live in real time"
    else:
        speed = f", live x{f.speed:g} until it meets the clock"
    return (
        f"wastewatch demo - {f.city} ({f.bins} bins, database {f.database}) - {f.phase}, "
        f"{_clock(f.elapsed_s)} elapsed - city time {_local(f.event_time)} Bangkok{speed}"
    )


def render(f: Figures) -> RenderableType:
    """The live screen: pipeline, what needs doing, landfill, today's routes."""
    parts: list[RenderableType] = [Text(headline(f), style="bold")]

    pipe = Table(title="Pipeline", title_justify="left", expand=False)
    for col in ("component", "pid", "state", ""):
        pipe.add_column(col)
    styles = {"running": "green", "died": "bold red", "failed": "bold red", "killed": "red"}
    for c in f.components:
        pipe.add_row(
            c.name,
            "-" if c.pid is None else str(c.pid),
            Text(c.state, style=styles.get(c.state, "")),
            c.detail,
        )
    parts.append(pipe)

    now = Table(title="The city now", title_justify="left", show_header=False)
    now.add_column("what")
    now.add_column("value")
    now.add_row("readings stored per second", _rate(f.readings_per_s))
    now.add_row("readings in the database", f"{f.readings_total:,}")
    urg = ", ".join(f"{f.urgency.get(u, 0):,} {u}" for u in URGENCIES)
    now.add_row(
        "bins needing collection",
        Text(f"{f.bins_needing_collection:,}  ({urg})", style="bold"),
    )
    now.add_row("collections in the last 24 h", f"{f.collections_24h:,}")
    alerts = ", ".join(f"{a.count:,} {a.kind}" for a in f.alerts) or "none"
    now.add_row(
        "open alerts",
        Text(f"{f.open_alerts:,}  ({alerts})", style="bold red" if f.fires else ""),
    )
    for bin_id, opened in f.fires:
        now.add_row(Text("  FIRE", style="bold red"), f"{bin_id} since {_local(opened)}")
    for site in f.landfill:
        now.add_row(
            f"landfill {site.name} days left",
            f"{_days(site.days_left)} (full {site.full_date or '-'}, "
            f"{site.fill_fraction:.0%} used, as of {site.as_of})",
        )
    if not f.landfill:
        now.add_row("landfill days left", "no projection yet")
    parts.append(now)

    title = f"Routes for {f.routes_date}" if f.routes_date else "Routes"
    routes = Table(title=title, title_justify="left")
    for col in ("truck", "stream", "stops", "km", "hours"):
        routes.add_column(col, justify="right" if col in ("stops", "km", "hours") else "left")
    for r in f.routes:
        routes.add_row(r.truck_id, r.stream, str(r.stops), f"{r.km:.1f}", f"{r.hours:.1f}")
    if not f.routes:
        routes.add_row("(not planned yet)", "", "", "", "")
    parts.append(routes)
    parts.extend(Text(note, style="dim") for note in f.notes)
    return Group(*parts)


def text(f: Figures) -> str:
    """The same figures as plain lines (logs, CI, a terminal without colours)."""
    lines = [headline(f), "components:"]
    for c in f.components:
        pid = "-" if c.pid is None else str(c.pid)
        lines.append(f"  {c.name:<12} pid {pid:<8} {c.state:<12} {c.detail}".rstrip())
    lines.append(f"readings stored per second    {_rate(f.readings_per_s)}")
    lines.append(f"readings in the database      {f.readings_total:,}")
    urg = ", ".join(f"{f.urgency.get(u, 0):,} {u}" for u in URGENCIES)
    lines.append(f"bins needing collection       {f.bins_needing_collection:,} ({urg})")
    lines.append(f"collections in the last 24 h  {f.collections_24h:,}")
    alerts = ", ".join(f"{a.count:,} {a.kind}" for a in f.alerts) or "none"
    lines.append(f"open alerts                   {f.open_alerts:,} ({alerts})")
    for bin_id, opened in f.fires:
        lines.append(f"  FIRE at {bin_id} since {_local(opened)}")
    for site in f.landfill:
        lines.append(
            f"landfill {site.site_id:<18} {_days(site.days_left)} days left "
            f"(full {site.full_date or '-'}, {site.fill_fraction:.0%} used, as of {site.as_of})"
        )
    if not f.landfill:
        lines.append("landfill days left            no projection yet")
    lines.append(f"routes for {f.routes_date or '-'}: {len(f.routes)} trucks")
    for r in f.routes:
        lines.append(
            f"  {r.truck_id:<16} {r.stream:<10} {r.stops:>4} stops "
            f"{r.km:>7.1f} km {r.hours:>5.1f} h"
        )
    lines.extend(f.notes)
    return "\n".join(lines)


def as_dict(f: Figures) -> dict[str, Any]:
    """The figures as one JSON-able object (what ``--json`` prints last)."""
    return {
        "phase": f.phase,
        "city": f.city,
        "database": f.database,
        "bins": f.bins,
        "elapsed_s": round(f.elapsed_s, 1),
        "event_time": None if f.event_time is None else f.event_time.isoformat(),
        "readings_total": f.readings_total,
        "readings_per_s": None if f.readings_per_s is None else round(f.readings_per_s, 2),
        "bins_needing_collection": f.bins_needing_collection,
        "bins_by_urgency": {u: f.urgency.get(u, 0) for u in URGENCIES},
        "open_alerts": f.open_alerts,
        "open_alerts_by_kind": _by_kind(f.alerts),
        "open_fires": [{"bin": b, "since": t.isoformat()} for b, t in f.fires],
        "collections_24h": f.collections_24h,
        "landfill_days_left": None
        if f.landfill_days_left is None
        else round(f.landfill_days_left, 1),
        "landfill": [
            {
                "site_id": s.site_id,
                "as_of": s.as_of.isoformat(),
                "days_left": None if s.days_left is None else round(s.days_left, 1),
                "full_date": None if s.full_date is None else s.full_date.isoformat(),
                "fill_fraction": round(s.fill_fraction, 4),
            }
            for s in f.landfill
        ],
        "routes_date": None if f.routes_date is None else f.routes_date.isoformat(),
        "routes_planned": len(f.routes),
        "route_stops": sum(r.stops for r in f.routes),
        "routes": [
            {
                "truck_id": r.truck_id,
                "stream": r.stream,
                "stops": r.stops,
                "km": round(r.km, 2),
                "hours": round(r.hours, 2),
            }
            for r in f.routes
        ],
        "components": [{"name": c.name, "pid": c.pid, "state": c.state} for c in f.components],
    }


def _by_kind(rows: tuple[AlertRow, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in rows:
        out[a.kind] = out.get(a.kind, 0) + a.count
    return out
