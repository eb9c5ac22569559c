"""`wastewatch landfill status | what-if --divert recyclable=0.3,organic=0.5`.

Both read through the read-only role (``WW_DB_READER_DSN``): the projection
the landfill processor keeps current, and for what-if the same projection
recomputed with part of some streams kept out of the landfill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from processors.landfill import Projection


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("landfill", help="landfill capacity: status and what-if diversion")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = actions.add_parser("status", help="remaining capacity and projected full date per site")
    s.add_argument("--site", default=None, help="only this site id")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.set_defaults(handler=status)
    w = actions.add_parser(
        "what-if",
        help="how the full date moves if shares of streams are diverted from the landfill",
    )
    w.add_argument(
        "--divert",
        required=True,
        metavar="STREAM=SHARE,...",
        help="e.g. recyclable=0.3,organic=0.5 (shares 0..1 of each stream's future inflow)",
    )
    w.add_argument("--site", default=None, help="only this site id")
    w.add_argument("--json", action="store_true", help="one JSON object on stdout")
    w.set_defaults(handler=what_if)


def _dsn() -> str:
    from wastewatch.settings import load_settings

    db = load_settings().db
    return db.reader_dsn or db.writer_dsn or db.dsn


def _projection_dict(p: Projection) -> dict[str, Any]:
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


async def _projections(
    site: str | None, divert: dict[str, float] | None
) -> list[tuple[Projection, Projection | None]]:
    import psycopg

    from processors.landfill import project
    from processors.landfill_stage import load_days, load_sites
    from wastewatch.settings import load_settings

    window = load_settings().processors.landfill_window_days
    out = []
    async with await psycopg.AsyncConnection.connect(_dsn(), autocommit=True) as conn:
        for info in (await load_sites(conn)).values():
            if site and info.site_id != site:
                continue
            days = await load_days(conn, info.site_id)
            base = project(info, days, window_days=window)
            if base is None:
                continue
            alt = project(info, days, window_days=window, divert=divert) if divert else None
            out.append((base, alt))
    return out


def _run(site: str | None, divert: dict[str, float] | None) -> list[tuple[Projection, Any]]:
    import psycopg

    try:
        return asyncio.run(_projections(site, divert))
    except psycopg.Error as exc:
        print(f"wastewatch landfill: cannot read the database: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def status(args: argparse.Namespace) -> int:
    rows = _run(args.site, None)
    if not rows:
        print(
            "wastewatch landfill: no landfill data yet (run `wastewatch process`)", file=sys.stderr
        )
        return 1
    if args.json:
        print(json.dumps({"sites": [_projection_dict(p) for p, _ in rows]}, ensure_ascii=False))
        return 0
    for p, _ in rows:
        print(
            f"{p.site_id}  as of {p.as_of}  used {p.used_m3:,.0f} m3 ({p.fill_fraction:.1%}), "
            f"{p.remaining_m3:,.0f} m3 left\n"
            f"  inflow {p.rate_m3_per_day:,.1f} m3/day "
            f"({p.rate_low_m3_per_day:,.1f}..{p.rate_high_m3_per_day:,.1f})\n"
            f"  full around {p.full_date} ({p.full_date_early} .. {p.full_date_late}), "
            f"{p.days_left} days left"
        )
    return 0


def what_if(args: argparse.Namespace) -> int:
    from processors.errors import ConfigError
    from processors.landfill import parse_divert

    try:
        divert = parse_divert(args.divert)
    except ConfigError as exc:
        print(f"wastewatch landfill what-if: {exc}", file=sys.stderr)
        return 2
    rows = _run(args.site, divert)
    if not rows:
        print(
            "wastewatch landfill: no landfill data yet (run `wastewatch process`)", file=sys.stderr
        )
        return 1
    result = []
    for base, alt in rows:
        assert alt is not None
        moved = (alt.full_date - base.full_date).days if alt.full_date and base.full_date else None
        result.append(
            {
                "site_id": base.site_id,
                "divert": divert,
                "full_date": base.full_date.isoformat() if base.full_date else None,
                "full_date_with_diversion": alt.full_date.isoformat() if alt.full_date else None,
                "days_gained": moved,
                "baseline": _projection_dict(base),
                "with_diversion": _projection_dict(alt),
            }
        )
        if not args.json:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in divert.items())
            print(
                f"{base.site_id}: diverting {shares} moves the projected full date from "
                f"{base.full_date} to {alt.full_date} ({moved:+d} days)"
                if moved is not None
                else f"{base.site_id}: no full date within the horizon"
            )
    if args.json:
        print(json.dumps({"what_if": result}, ensure_ascii=False))
    return 0
