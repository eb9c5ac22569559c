"""`wastewatch history`: how much of which stream was collected where and when.

Collections and fill statistics per day, week or month (Asia/Bangkok calendar),
filtered by zone, bin, stream and period, as a table, CSV or JSON.  Reads
through the read-only role (``WW_DB_READER_DSN``).  A bad argument (an unknown
zone, a period that ends before it starts, a date that is not one) and an
unreachable database are one line on stderr and exit 2 (``wastewatch.cli.main``
prints them).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from wastewatch.queries import GROUPINGS, PERIODS

FORMATS = ("table", "csv", "json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "history",
        help="collections and fill history per day, week or month",
        description="Collections (count, litres, estimated kg, fill when collected) and fill "
        "statistics (average, highest, overflow hours) per period, from the processors' "
        "tables, through the read-only database role. Period: --from/--to (ISO 8601; a "
        "date alone means the whole day, Asia/Bangkok), or --month, or --days (default: "
        "the last 30 days).",
    )
    p.add_argument("--zone", action="append", metavar="ZONE", help="zone id (repeat or a,b)")
    p.add_argument("--bin", action="append", metavar="BIN", help="bin id (repeat or a,b)")
    p.add_argument(
        "--stream",
        action="append",
        metavar="STREAM",
        help="general, recyclable, organic, hazardous (repeat or a,b)",
    )
    p.add_argument("--from", dest="start", metavar="WHEN", help="start, e.g. 2026-09-01")
    p.add_argument("--to", dest="end", metavar="WHEN", help="end, e.g. 2026-09-30 (inclusive)")
    p.add_argument("--month", metavar="YYYY-MM", help="one calendar month")
    p.add_argument("--days", type=int, metavar="N", help="the last N days up to now")
    p.add_argument("--per", choices=PERIODS, default="day", help="period length (default day)")
    p.add_argument(
        "--by",
        choices=tuple(GROUPINGS),
        default=None,
        help="one row per period and zone+stream (default), stream, bin (default with "
        "--bin) or the whole city",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    p.set_defaults(handler=run)


def _dsn() -> str:
    from wastewatch.core import load_settings

    db = load_settings().db
    return db.reader_dsn or db.writer_dsn or db.dsn


def run(args: argparse.Namespace) -> int:
    import psycopg

    from wastewatch.queries import (
        DatabaseReadError,
        HistoryRequest,
        check_known,
        csv_text,
        existing_query,
        history_query,
        jsonable,
        records,
        registry_query,
        resolve_period,
        split_values,
        table_text,
    )

    period = resolve_period(
        start=args.start,
        end=args.end,
        month=args.month,
        days=args.days,
        now=datetime.now(UTC),
        default_days=30,
    )
    zones = split_values(args.zone, param="--zone")
    streams = split_values(args.stream, param="--stream")
    bins = split_values(args.bin, param="--bin")
    req = HistoryRequest(
        per=args.per,
        by=args.by or ("bin" if bins else "zone"),
        period=period,
        zones=zones,
        streams=streams,
        bins=bins,
    )
    query = history_query(req)
    try:
        with psycopg.connect(_dsn(), autocommit=True, connect_timeout=10) as conn:
            for kind, param, values in (
                ("zone", "--zone", zones),
                ("stream", "--stream", streams),
                ("bin", "--bin", bins),
            ):
                if not values:
                    continue
                found = {r[0] for r in conn.execute(*_q(existing_query(kind, values)))}
                if len(found) < len(values):
                    hint = "see `wastewatch bins list`" if kind == "bin" else None
                    known = (
                        found if hint else {r[0] for r in conn.execute(*_q(registry_query(kind)))}
                    )
                    check_known(param, values, known, what=kind, hint=hint)
            rows = conn.execute(*_q(query)).fetchall()
    except psycopg.Error as exc:
        raise DatabaseReadError.because(exc) from exc
    if args.format == "csv":
        sys.stdout.write(csv_text(query.columns, rows))
    elif args.format == "json":
        doc: dict[str, Any] = {
            "per": req.per,
            "by": req.by,
            "from": jsonable(period.start),
            "to": jsonable(period.end),
            "filters": {"zone": list(zones), "stream": list(streams), "bin": list(bins)},
            "rows": records(query.columns, rows),
        }
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(f"Collections and fill per {req.per}, {period.describe()}")
        print(table_text(query.columns, rows))
        if not rows:
            print("(no collections or readings in this period)")
    return 0


def _q(query: Any) -> tuple[str, dict[str, Any]]:
    return query.sql, query.params
