"""`wastewatch bench ...`: measure the ingest path, the simulator and the boards.

Progress goes to stderr; with ``--json`` the last line of stdout is one JSON
object (keys in ``bench/README.md``), otherwise a short table.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from wastewatch.cli import (
    Subparsers,
    add_action,
    add_json,
    aligned,
    command_group,
    number,
    options_from,
    positive_int,
    print_json,
    print_result,
)
from wastewatch.workbench.commands import require

require("wastewatch.workbench.bench")

_MAX_PUBLISHERS = 64


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "bench", "benchmarks on the local stack")
    ingest = add_action(
        actions,
        "ingest",
        run_ingest,
        "MQTT -> Kafka -> TimescaleDB throughput, latency, loss and memory",
        description="Measures, in one run on the local stack: (a) raw MQTT QoS 1 rate, "
        "(b) a naive one-at-a-time bridge, (c) the real ingest bridge and sink end to end "
        "(throughput, latency at half that rate, lost and duplicated readings, peak RSS). "
        "Creates and drops a database of its own. See bench/README.md.",
    )
    ingest.add_argument(
        "--messages",
        "-n",
        type=positive_int,
        default=20_000,
        metavar="N",
        help="readings to publish at full speed (default 20000)",
    )
    ingest.add_argument(
        "--devices",
        "-d",
        type=positive_int,
        default=100,
        metavar="D",
        help="simulated devices, bench-dev-00001..D (default 100; at most N)",
    )
    ingest.add_argument(
        "--publishers",
        "-p",
        type=positive_int,
        default=None,
        metavar="P",
        help="publisher processes (default: CPUs, at most 4 and at most D)",
    )
    add_json(ingest)
    ingest.add_argument("--skip-naive", action="store_true", help="skip leg (b), the naive bridge")
    ingest.add_argument(
        "--naive-seconds",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="longest the naive bridge is measured for (default 10)",
    )
    ingest.add_argument(
        "--latency-seconds",
        type=_positive_float,
        default=20.0,
        metavar="S",
        help="how long readings are offered at half the end-to-end rate (default 20)",
    )

    simulate = add_action(
        actions,
        "simulate",
        run_simulate,
        "simulator targets: replay generate+publish time, live sustained rate",
        description="replay: D days x B bins generated and published (with --e2e also into "
        "TimescaleDB through a bridge and sink of its own). live: B bins for S seconds from "
        "one process. See bench/README.md.",
    )
    simulate.add_argument("mode", choices=("replay", "live"))
    simulate.add_argument("--bins", type=positive_int, default=None, metavar="B")
    simulate.add_argument("--days", type=_positive_float, default=30.0, metavar="D")
    simulate.add_argument(
        "--interval", type=positive_int, default=None, metavar="S", help="report interval"
    )
    simulate.add_argument("--publishers", type=positive_int, default=2, metavar="P")
    simulate.add_argument("--seconds", type=_positive_float, default=60.0, metavar="S")
    simulate.add_argument("--speed", type=_positive_float, default=1.0, metavar="X")
    simulate.add_argument("--e2e", action="store_true", help="replay: also time ingest into the DB")
    add_json(simulate)

    failover = add_action(
        actions,
        "failover",
        run_failover,
        "kill -9 Kafka brokers (and the bridge and sink) under MQTT load: lost, "
        "duplicated, longest stall, recovery",
        description="Starts a private Kafka cluster of its own (state under "
        ".wastewatch/bench-failover/), a database and topic prefix of its own, the real "
        "bridge and sink; publishes N readings over MQTT and kills the partition leader "
        "with kill -9 mid-run (with --kill-pipeline also the bridge and the sink, with a "
        "backlog queued in Mosquitto), bringing each back. See bench/README.md.",
    )
    failover.add_argument(
        "--brokers",
        "-b",
        type=_broker_count,
        default=3,
        metavar="B",
        help="Kafka brokers of the private cluster, 1-5 (default 3)",
    )
    failover.add_argument(
        "--messages",
        "-n",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="readings to publish (default 100000)",
    )
    failover.add_argument(
        "--devices",
        "-d",
        type=positive_int,
        default=1000,
        metavar="D",
        help="simulated devices, bench-dev-00001..D (default 1000; at most N)",
    )
    failover.add_argument(
        "--publishers",
        "-p",
        type=positive_int,
        default=2,
        metavar="P",
        help="publisher processes (default 2; at most D)",
    )
    failover.add_argument(
        "--rate",
        type=_rate,
        default=2000.0,
        metavar="R",
        help="readings per second offered, all publishers together (default 2000; "
        "0 = as fast as they can)",
    )
    failover.add_argument(
        "--kill-pipeline",
        action="store_true",
        help="also kill -9 the bridge and the sink once mid-run, with a backlog larger than "
        "the bridge's buffers queued in Mosquitto, and restart them",
    )
    add_json(failover)

    dashboards = add_action(
        actions,
        "dashboards",
        run_dashboards,
        "every Grafana panel query timed on 90 days x 1000 bins (target <= 200 ms)",
        description="Loads D days x B bins of readings (and the processor tables the boards "
        "read) into a database of its own, once: a later run with the same parameters reuses "
        "it. Then times every panel query of every board as the read-only role, with the "
        "variables and macros expanded as Grafana does. See bench/README.md.",
    )
    dashboards.add_argument("--days", type=positive_int, default=90, metavar="D")
    dashboards.add_argument("--bins", type=positive_int, default=1000, metavar="B")
    dashboards.add_argument(
        "--interval-min",
        type=positive_int,
        default=15,
        metavar="M",
        help="minutes between a bin's readings (default 15; must divide a day)",
    )
    dashboards.add_argument(
        "--repeat",
        type=positive_int,
        default=5,
        metavar="N",
        help="timed runs per query after one warm-up run (default 5)",
    )
    keep = dashboards.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep-db",
        dest="keep_db",
        action="store_true",
        default=True,
        help="keep the loaded database for the next run (the default)",
    )
    keep.add_argument(
        "--drop-db", dest="keep_db", action="store_false", help="drop the database at the end"
    )
    dashboards.add_argument(
        "--reload", action="store_true", help="load again even if the database holds this load"
    )
    dashboards.add_argument(
        "--database",
        default=None,
        metavar="NAME",
        help="database name (default ww_bench_dash_<D>d_<B>b_<M>m)",
    )
    dashboards.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN (ANALYZE, BUFFERS) of every query over the target to stderr",
    )
    add_json(dashboards)


def _positive_float(text: str) -> float:
    """Above 0 and below 3600 (seconds, days)."""
    value = number(text)
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 3600 seconds")
    return value


def _broker_count(text: str) -> int:
    value = positive_int(text)
    if value > 5:
        raise argparse.ArgumentTypeError(f"{value} brokers: the local cluster has 1 to 5")
    return value


def _rate(text: str) -> float:
    value = number(text)
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 1000000 per second")
    return value


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_ingest(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.devices > args.messages:
        parser.error(f"--devices ({args.devices}) must not exceed --messages ({args.messages})")
    if args.publishers is None:
        args.publishers = max(1, min(4, os.cpu_count() or 1, args.devices))
    if args.publishers > args.devices:
        parser.error(
            f"--publishers ({args.publishers}) must not exceed --devices ({args.devices}): "
            "each publisher owns whole devices"
        )
    if args.publishers > _MAX_PUBLISHERS:
        parser.error(f"--publishers must be at most {_MAX_PUBLISHERS}")

    try:
        from wastewatch.workbench.bench import BenchOptions, run_ingest_bench
    except ModuleNotFoundError as exc:
        from wastewatch.errors import WastewatchError

        raise WastewatchError(
            f"cannot import {exc.name!r}: the `bench` package is not installed in this environment",
            hint="reinstall the project (`make venv`)",
        ) from exc

    result = run_ingest_bench(options_from(BenchOptions, args), _progress)
    print_result(result, as_json=args.json, table=_table)
    return 0


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def _table(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    rss = r["peak_rss_mb"]
    rows = [
        ("readings (devices, publishers)", f"{r['messages']} ({r['devices']}, {r['publishers']})"),
        ("(a) raw MQTT QoS 1", _fmt(r["raw_mqtt_per_s"], "/s")),
        ("(b) naive bridge", _fmt(r["naive_per_s"], "/s")),
        ("(c) end to end", _fmt(r["e2e_per_s"], "/s")),
        ("    vs raw / vs naive", f"{_ratio(r['ratio_vs_raw'])} / {_ratio(r['ratio_vs_naive'])}"),
        (
            "    latency p50/p95/p99",
            f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])} ms",
        ),
        ("    lost / duplicates", f"{r['lost']} / {r['duplicates']}"),
        ("peak RSS", ", ".join(f"{k} {_fmt(v, ' MB')}" for k, v in rss.items())),
    ]
    return aligned(rows)


def _key_table(result: dict[str, Any]) -> str:
    return aligned((k, _fmt(v)) for k, v in result.items())


def run_failover(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.devices > args.messages:
        parser.error(f"--devices ({args.devices}) must not exceed --messages ({args.messages})")
    if args.publishers > min(args.devices, _MAX_PUBLISHERS):
        parser.error(
            f"--publishers ({args.publishers}) must not exceed --devices ({args.devices}) "
            f"nor {_MAX_PUBLISHERS}: each publisher owns whole devices"
        )

    from wastewatch.workbench.bench import FailoverOptions, run_failover_bench

    opts = options_from(FailoverOptions, args, rate_per_s=args.rate)
    result = run_failover_bench(opts, _progress)
    print_result(result, as_json=args.json, table=_key_table)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from wastewatch.workbench.bench import SimBenchOptions, run_simulate_bench

    live = args.mode == "live"
    opts = options_from(
        SimBenchOptions,
        args,
        bins=args.bins or (10_000 if live else 500),
        interval_s=args.interval or (60 if live else 900),
    )
    result = run_simulate_bench(opts, _progress)
    print_result(result, as_json=args.json, table=_key_table)
    return 0


def run_dashboards(args: argparse.Namespace) -> int:
    if (24 * 60) % args.interval_min:
        args.parser.error(f"--interval-min {args.interval_min} does not divide a day")

    from wastewatch.workbench.bench import DashBenchOptions, run_dashboards_bench

    result, table = run_dashboards_bench(options_from(DashBenchOptions, args), _progress)
    if args.json:
        _progress(table)
        print_json(result)
    else:
        print(table)
        print(
            f"slowest: {result['slowest_panel']} {result['slowest_ms']} ms (median of "
            f"{result['repeat']}; target {result['target_ms']:.0f} ms), "
            f"{result['rows']:,} readings"
        )
    return 0
