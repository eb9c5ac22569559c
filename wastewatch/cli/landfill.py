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
from typing import TYPE_CHECKING

from wastewatch.cli.options import Subparsers, add_action, add_json, command_group

if TYPE_CHECKING:
    from wastewatch.queries import Scenario


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "landfill", "landfill capacity: status and what-if diversion")
    s = add_action(actions, "status", status, "remaining capacity and projected full date per site")
    _site_and_json(s)
    w = add_action(
        actions,
        "what-if",
        what_if,
        "how the full date moves if shares of streams are diverted from the landfill",
    )
    w.add_argument(
        "--divert",
        required=True,
        metavar="STREAM=SHARE,...",
        help="e.g. recyclable=0.3,organic=0.5 (shares 0..1 of each stream's future inflow)",
    )
    _site_and_json(w)


def _site_and_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", default=None, help="only this site id")
    add_json(p, "one JSON object on stdout")


def _dsn() -> str:
    from wastewatch.core import load_settings

    db = load_settings().db
    return db.reader_dsn or db.writer_dsn or db.dsn


async def _scenarios(site: str | None, divert: dict[str, float] | None) -> list[Scenario]:
    import psycopg

    from wastewatch.core import load_settings
    from wastewatch.queries import scenarios

    window = load_settings().processors.landfill_window_days
    async with await psycopg.AsyncConnection.connect(_dsn(), autocommit=True) as conn:
        return await scenarios(
            conn, window_days=window, divert=divert, sites=(site,) if site else ()
        )


def _run(site: str | None, divert: dict[str, float] | None) -> list[Scenario]:
    import psycopg

    from wastewatch.queries import DatabaseReadError

    try:
        return asyncio.run(_scenarios(site, divert))
    except psycopg.Error as exc:
        raise DatabaseReadError.because(exc) from exc


def status(args: argparse.Namespace) -> int:
    from wastewatch.queries import projection_dict

    rows = _run(args.site, None)
    if not rows:
        print(
            "wastewatch landfill: no landfill data yet (run `wastewatch process`)", file=sys.stderr
        )
        return 1
    if args.json:
        sites = [projection_dict(s.baseline) for s in rows]
        print(json.dumps({"sites": sites}, ensure_ascii=False))
        return 0
    for p in (s.baseline for s in rows):
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
    from wastewatch.processors import parse_divert
    from wastewatch.queries import what_if_dict

    divert = parse_divert(args.divert)
    rows = _run(args.site, divert)
    if not rows:
        print(
            "wastewatch landfill: no landfill data yet (run `wastewatch process`)", file=sys.stderr
        )
        return 1
    result = [what_if_dict(s, divert) for s in rows]
    if not args.json:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in divert.items())
        for item in result:
            moved = item["days_gained"]
            print(
                f"{item['site_id']}: diverting {shares} moves the projected full date from "
                f"{item['full_date']} to {item['full_date_with_diversion']} ({moved:+d} days)"
                if moved is not None
                else f"{item['site_id']}: no full date within the horizon"
            )
    if args.json:
        print(json.dumps({"what_if": result}, ensure_ascii=False))
    return 0
