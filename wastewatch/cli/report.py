"""`wastewatch report --month YYYY-MM --out DIR [--divert ...] [--pdf]`.

Writes ``DIR/report-YYYY-MM.html`` (self-contained: plots embedded), the plots
as ``DIR/report-YYYY-MM-*.png`` and with ``--pdf`` ``DIR/report-YYYY-MM.pdf``;
prints the paths.  Reads through the read-only role (``WW_DB_READER_DSN``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wastewatch.cli.options import Subparsers, add_action

DEFAULT_DIVERT = "recyclable=0.3,organic=0.5"


def register(sub: Subparsers) -> None:
    p = add_action(
        sub,
        "report",
        run,
        "monthly report (HTML with plots, optional PDF), Thai and English",
        description="Tonnage by stream and zone, fill level at collection, overflow incidents, "
        "the landfill projection with and without diversion, bins to resize or move, and "
        "alert counts for one Asia/Bangkok calendar month.",
    )
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="the month, e.g. 2026-09")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument(
        "--divert",
        default=DEFAULT_DIVERT,
        metavar="STREAM=SHARE,...",
        help=f"diversion scenario for the landfill projection (default {DEFAULT_DIVERT})",
    )
    p.add_argument("--pdf", action="store_true", help="also write a PDF")


def run(args: argparse.Namespace) -> int:
    import psycopg

    from wastewatch.core import load_settings
    from wastewatch.queries import DatabaseReadError, month_period, parse_divert_param
    from wastewatch.reports import ReportError, build_report

    parser: argparse.ArgumentParser = args.parser
    settings = load_settings()
    db = settings.db
    dsn = db.reader_dsn or db.writer_dsn or db.dsn
    month_period(args.month)
    try:
        streams = _streams(dsn)
    except psycopg.Error as exc:
        raise DatabaseReadError.because(exc) from exc
    divert = parse_divert_param(args.divert, streams, param="--divert")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {args.out} exists and is not a folder")
    try:
        files = build_report(
            dsn,
            args.month,
            args.out,
            divert=divert,
            window_days=settings.processors.landfill_window_days,
            city=settings.city,
            pdf=args.pdf,
        )
    except psycopg.Error as exc:
        raise DatabaseReadError.because(exc) from exc
    except OSError as exc:
        raise ReportError(f"cannot write to {args.out}: {exc}") from exc
    if not files.data.collections and not files.data.readings:
        print(
            f"wastewatch report: no collections or readings in {args.month}; the report is empty",
            file=sys.stderr,
        )
    print(files.html)
    for path in files.pngs.values():
        print(path)
    if files.pdf is not None:
        print(files.pdf)
    return 0


def _streams(dsn: str) -> list[str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        return [r[0] for r in conn.execute("select stream from waste_streams")]
