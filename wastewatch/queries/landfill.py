"""Landfill capacity with and without diversion, for the API and the monthly report.

The projection itself is the landfill processor's own pure code
(:func:`wastewatch.processors.landfill.project`) on the same inputs it uses
(``landfill_sites``, ``landfill_stream_densities``, ``landfill_daily``), so the
what-if answers here agree with ``wastewatch landfill what-if``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from wastewatch.processors import (
    ConfigError,
    Projection,
    SiteInfo,
    load_days,
    load_sites,
    parse_divert,
    project,
)
from wastewatch.queries.errors import BadParameterError
from wastewatch.queries.params import check_known

__all__ = ["Scenario", "parse_divert_param", "projection_dict", "scenarios", "what_if_dict"]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One site's projection as things are, and with the diversion applied."""

    site: SiteInfo
    baseline: Projection
    diverted: Projection | None


def parse_divert_param(text: str, known_streams: Sequence[str], *, param: str) -> dict[str, float]:
    """``recyclable=0.3,organic=0.5`` checked: STREAM=SHARE pairs, shares 0..1, known streams."""
    try:
        divert = parse_divert(text)
    except ConfigError as exc:
        raise BadParameterError(param, str(exc)) from None
    if not divert:
        raise BadParameterError(param, "empty; expected STREAM=SHARE,..., e.g. recyclable=0.3")
    check_known(param, divert, known_streams, what="stream")
    return divert


async def scenarios(
    conn: psycopg.AsyncConnection[Any],
    *,
    window_days: int,
    divert: Mapping[str, float] | None = None,
    sites: Sequence[str] = (),
    until: date | None = None,
) -> list[Scenario]:
    """Every site with data after its survey (or only ``sites``), baseline and diverted.

    ``until``: only the days up to and including it, i.e. the projection as it stood
    then (a monthly report stays the same when it is made again later).
    """
    out = []
    for info in (await load_sites(conn)).values():
        if sites and info.site_id not in sites:
            continue
        days = [d for d in await load_days(conn, info.site_id) if until is None or d.day <= until]
        base = project(info, days, window_days=window_days)
        if base is None:
            continue
        alt = project(info, days, window_days=window_days, divert=divert) if divert else None
        out.append(Scenario(info, base, alt))
    return out


def projection_dict(p: Projection) -> dict[str, Any]:
    """A projection as JSON (the shape of ``wastewatch landfill status --json``)."""
    return {
        "site_id": p.site_id,
        "as_of": p.as_of.isoformat(),
        "used_m3": p.used_m3,
        "remaining_m3": p.remaining_m3,
        "fill_fraction": p.fill_fraction,
        "rate_m3_per_day": p.rate_m3_per_day,
        "rate_interval_m3_per_day": [p.rate_low_m3_per_day, p.rate_high_m3_per_day],
        "days_left": p.days_left,
        "full_date": p.full_date.isoformat() if p.full_date else None,
        "full_date_interval": [
            p.full_date_early.isoformat() if p.full_date_early else None,
            p.full_date_late.isoformat() if p.full_date_late else None,
        ],
        "rate_by_stream_m3_per_day": p.rate_by_stream,
    }


def what_if_dict(s: Scenario, divert: Mapping[str, float]) -> dict[str, Any]:
    """A what-if answer (the shape of ``wastewatch landfill what-if --json``)."""
    base, alt = s.baseline, s.diverted
    moved = (
        (alt.full_date - base.full_date).days
        if alt is not None and alt.full_date and base.full_date
        else None
    )
    return {
        "site_id": base.site_id,
        "divert": dict(divert),
        "full_date": base.full_date.isoformat() if base.full_date else None,
        "full_date_with_diversion": alt.full_date.isoformat() if alt and alt.full_date else None,
        "days_gained": moved,
        "baseline": projection_dict(base),
        "with_diversion": projection_dict(alt) if alt else None,
    }
