"""`wastewatch simulate live|replay`: the Kalasin device fleet, trucks and landfill.

Both modes are deterministic: the same seed (and, for replay, the same
``--end``/``--days``; for live, the same ``--start``) gives the same messages
and ground truth, byte for byte. See simulators/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wastewatch.cli import (
    Subparsers,
    add_action,
    add_json,
    add_seed,
    aligned,
    command_group,
    positive_float,
    positive_int,
    print_result,
)
from wastewatch.workbench.commands import require

require("wastewatch.workbench.simulators")

_CITY_HELP = "city data: a folder or files (CSV/GeoJSON); default: the shipped Kalasin data"


def register(sub: Subparsers) -> None:
    modes = command_group(
        sub,
        "simulate",
        "simulate bins, devices, trucks and the landfill",
        dest="mode",
        metavar="MODE",
    )

    live = add_action(
        modes,
        "live",
        run_live,
        "publish in real time (or --speed times faster) until stopped",
        description="Publishes as N devices over MQTT in (scaled) real time until Ctrl-C or "
        "--duration. The first --real-clients devices each hold their own connection with "
        "a last will; the rest share --pool connections.",
    )
    _common(live)
    live.add_argument(
        "--speed", type=positive_float, default=1.0, help="event seconds per wall second"
    )
    live.add_argument(
        "--start", type=_when, default=None, help="event time to start at (ISO 8601; default now)"
    )
    live.add_argument(
        "--duration", type=positive_float, default=None, help="stop after S wall seconds"
    )
    live.add_argument("--real-clients", type=_non_negative_int, default=20, metavar="N")
    live.add_argument(
        "--pool", type=positive_int, default=4, metavar="N", help="shared connections"
    )

    replay = add_action(
        modes,
        "replay",
        run_replay,
        "replay D days of event time as fast as the pipeline takes it",
        description="Generates D days ending at --end and publishes them (event-time "
        "timestamps) with worker processes, with progress on stderr and totals on stdout.",
    )
    _common(replay)
    replay.add_argument(
        "--days", type=positive_float, default=7.0, help="days to replay (default 7)"
    )
    replay.add_argument(
        "--end",
        type=_when,
        default=None,
        help="end of the window, ISO 8601 (default: now, rounded down to the hour)",
    )
    replay.add_argument(
        "--publishers", type=positive_int, default=2, metavar="P", help="publisher processes"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="generate (and --dump) only; publish nothing"
    )
    replay.add_argument(
        "--dump", type=Path, default=None, metavar="FILE", help="also write every message as JSONL"
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bins", type=positive_int, default=None, help="bins (default: all in the data)"
    )
    add_seed(p, "random seed (default 1)")
    p.add_argument(
        "--city-data", type=Path, action="append", default=None, metavar="PATH", help=_CITY_HELP
    )
    p.add_argument("--calendar", type=Path, default=None, metavar="FILE", help="calendar.json")
    p.add_argument(
        "--ground-truth", type=Path, default=None, metavar="DIR", help="write ground truth"
    )
    p.add_argument("--truth-interval", type=positive_int, default=3600, metavar="S")
    p.add_argument(
        "--interval", type=positive_int, default=900, metavar="S", help="report interval"
    )
    p.add_argument(
        "--heartbeat",
        type=positive_int,
        default=None,
        metavar="S",
        help="publish at least every S seconds (default: the interval, so every wake publishes)",
    )
    p.add_argument("--faults", type=Path, default=None, metavar="FILE", help="fault rates JSON")
    p.add_argument("--fault-scale", type=float, default=1.0, help="multiply every fault rate")
    p.add_argument("--no-collections", action="store_true", help="no trucks")
    p.add_argument(
        "--plans",
        choices=("db", "none"),
        default="db",
        help="db: follow the latest route plan in the database when there is one (default)",
    )
    p.add_argument("--city", default=None, help="MQTT city slug (default WW_CITY)")
    add_json(p, "print the totals as one JSON line")


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def _when(text: str) -> int:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-03-01T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _progress(line: str) -> None:
    if sys.stderr.isatty():
        print("\r" + line + "\033[K", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def _progress_line_ended() -> Iterator[None]:
    """On a terminal the progress line has no newline: end it before an error shows."""
    try:
        yield
    except BaseException:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        raise


def _build(args: argparse.Namespace, start: int, end: int | None) -> Any:
    from wastewatch.city import load_city
    from wastewatch.core import load_settings
    from wastewatch.schema import LATEST_TS
    from wastewatch.workbench.simulators import (
        DEFAULT_CITY_DIR,
        DbPlanSource,
        FaultRates,
        QuietPlanSource,
        build_simulation,
        load_calendar,
        reporting_every,
    )

    settings = load_settings()
    paths = args.city_data or [DEFAULT_CITY_DIR]
    city = load_city(paths)
    city.check_references()
    calendar_path = args.calendar
    if calendar_path is None:
        for path in paths:
            if path.is_dir() and (path / "calendar.json").exists():
                calendar_path = path / "calendar.json"
    rates = FaultRates()
    if args.faults is not None:
        try:
            rates = FaultRates.from_mapping(json.loads(args.faults.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            from wastewatch.workbench.simulators import SimulatorError

            raise SimulatorError(f"{args.faults}: cannot use these fault rates: {exc}") from exc
    rates = rates.scaled(args.fault_scale)
    if end is not None and end > LATEST_TS:
        from wastewatch.workbench.simulators import SimulatorError

        raise SimulatorError("--end is beyond 2100-01-01, which no reading may carry")
    plans = None
    if args.plans == "db" and not args.no_collections:
        dsn = settings.db.reader_dsn or settings.db.dsn
        # a run needs the database only when route plans are really there: an
        # unreachable one means the fixed schedule; plan tables in the wrong shape do not
        plans = QuietPlanSource(
            DbPlanSource(dsn),
            warn=lambda exc: print(f"wastewatch simulate: fixed schedule ({exc})", file=sys.stderr),
        )
    sim = build_simulation(
        args.city or settings.city,
        seed=args.seed,
        start=start,
        end=end,
        bins=args.bins,
        data=city,
        calendar=load_calendar(calendar_path),
        reporting=reporting_every(args.interval, args.heartbeat),
        faults=rates,
        truth_interval_s=args.truth_interval,
        collections=not args.no_collections,
        plans=plans,
        truth=args.ground_truth,
    )
    return sim, settings


def _finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print_result(result, as_json=args.json, table=lambda r: _totals(args, r))
    return 0


def _totals(args: argparse.Namespace, result: dict[str, Any]) -> str:
    keys = (
        "mode",
        "bins",
        "start",
        "end",
        "messages",
        "acked",
        "readings_published",
        "duplicates_sent",
        "status_messages",
        "tickets_total",
        "collections_total",
        "wall_s",
        "messages_per_s",
    )
    rows = [(key, result[key]) for key in keys if key in result]
    if args.ground_truth is not None:
        rows.append(("ground truth", args.ground_truth))
    return aligned(rows, width=20, gap=" ")


def run_replay(args: argparse.Namespace) -> int:
    from wastewatch.workbench.simulators import MqttTarget
    from wastewatch.workbench.simulators import run_replay as replay

    end = args.end if args.end is not None else int(time.time()) // 3600 * 3600
    start = end - int(args.days * 86_400)
    sim, settings = _build(args, start, end)
    target = (
        None
        if args.dry_run
        else MqttTarget.from_url(settings.mqtt.url, ca_file=settings.mqtt.ca_file)
    )
    with _progress_line_ended():
        result = replay(
            sim,
            target=target,
            publishers=args.publishers,
            client_prefix=f"ww-sim-{uuid.uuid4().hex[:6]}",
            progress=_progress,
            dump=args.dump,
        )
    return _finish(args, result)


def run_live(args: argparse.Namespace) -> int:
    from wastewatch.workbench.simulators import LiveOptions, MqttTarget
    from wastewatch.workbench.simulators import run_live as live

    start = args.start if args.start is not None else int(time.time()) // 60 * 60
    sim, settings = _build(args, start, None)
    target = MqttTarget.from_url(settings.mqtt.url, ca_file=settings.mqtt.ca_file)
    with _progress_line_ended():
        result = live(
            sim,
            target,
            LiveOptions(
                speed=args.speed,
                real_clients=args.real_clients,
                pool_connections=args.pool,
                duration_s=args.duration,
                client_prefix=f"ww-sim-{uuid.uuid4().hex[:6]}",
            ),
            _progress,
        )
    return _finish(args, result)
