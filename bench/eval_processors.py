"""`wastewatch eval processors`: score the processors against the simulator's ground truth.

One run, on the local stack, with resources of its own (database, Kafka topic
prefix, city slug, consumer groups; all removed afterwards):

1. a fresh database with the simulated city's registry imported;
2. the real ingest bridge and sink and the real processors (``python -m
   processors``), as subprocesses configured only through ``WW_*`` variables;
3. the simulator replays ``--days`` of ``--bins`` bins into Mosquitto, writing
   its ground truth;
4. once every stage has caught up, a paced leg offers readings at ``--rate``
   per second (the ingest benchmark's comfortable rate) for ``--lag-seconds``
   and reads the processors' lag histogram;
5. the tables are scored against the truth (definitions in processors/README.md).

Progress goes to stderr; the figures are returned as a dict.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from wastewatch.city import SimBin, import_city, load_city
from wastewatch.core import KafkaSettings, group_lag, load_settings
from wastewatch.ingest import consumer_groups as sink_groups
from wastewatch.processors import READING_STAGES, STAGES, DayVolume, SiteInfo, project
from wastewatch.processors import consumer_groups as stage_groups
from wastewatch.schema import TelemetryFlag
from wastewatch.workbench.bench.errors import BenchError
from wastewatch.workbench.bench.ingest import _own_pipeline, _Run, stack_up
from wastewatch.workbench.simulators import (
    DEFAULT_CITY_DIR,
    FaultRates,
    FillModel,
    MqttTarget,
    PublishError,
    Sender,
    SimulatorError,
    build_simulation,
    local_day_and_hour,
    run_replay,
    select_bins,
    target_from_env,
)
from wastewatch.workbench.stack import free_port

__all__ = ["EvalOptions", "run_eval"]

_misses: dict[str, Any] = {}
"""Missed and false collections of the last scoring, written beside a kept truth."""

Progress = Callable[[str], None]
BANGKOK = timezone(timedelta(hours=7))
_BAD = int(
    TelemetryFlag.SENSOR_FAULT
    | TelemetryFlag.NO_ECHO
    | TelemetryFlag.TILTED
    | TelemetryFlag.CLOCK_UNSET
)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """What to replay and how hard to push; the CLI's defaults (``wastewatch eval processors``),
    except ``fire_rate``, which the CLI does not set."""

    days: float
    bins: int
    seed: int
    publishers: int
    rate: float
    lag_seconds: float
    keep_truth: Path | None
    processes: tuple[str, ...]
    """Processor stages per OS process (``wastewatch process --only``): one Python
    process runs on one core, so the stages are spread as a deployment would."""
    fire_rate: float = 0.001
    """Fire episodes per bin per day.  The fleet default (0.0003) gives 0-4 fires in a
    28-day, 500-bin run, too few to score; the evaluation injects about a dozen."""


# --------------------------------------------------------------------------- running


def _metrics(ports: list[int]) -> dict[str, float]:
    """Every processor process's metrics in one dict (the stages' labels do not overlap)."""
    out: dict[str, float] = {}
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = out.get(name, 0.0) + float(value)
    return out


def _consumed(m: dict[str, float], stage: str, topic: str) -> float:
    return m.get(f'ww_processor_consumed_total{{processor="{stage}",topic="{topic}"}}', 0.0)


def _wait_caught_up(
    port: list[int],
    dsn: str,
    want_readings: int,
    check: Callable[[], None],
    progress: Progress,
    *,
    kafka: KafkaSettings,
    groups: dict[str, list[str]],
) -> float:
    """Wait until the sink stored every reading and every consumer group has committed
    up to the true end of its topics (Kafka's end offsets); seconds waited."""
    started = time.monotonic()
    last: tuple[float, ...] = ()
    still_since = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            check()  # a pipeline process that died is an error, not a stall
            row = conn.execute("select count(*) from readings").fetchone()
            stored = int(row[0]) if row else 0
            lags = asyncio.run(group_lag(kafka, groups))
            m = _metrics(port)
            now = (
                float(stored),
                *(_consumed(m, st, t) for st, stage in STAGES.items() for t in stage.topics),
            )
            if stored >= want_readings and not any(lags.values()):
                return time.monotonic() - started
            if now != last:
                last, still_since = now, time.monotonic()
                progress(
                    f"caught up? stored {stored:,}/{want_readings:,}; records behind: "
                    + ", ".join(f"{g.rsplit('-', 1)[-1]} {lag:,}" for g, lag in lags.items())
                )
            if time.monotonic() - still_since > 180:
                raise BenchError("the processors stopped making progress for 3 minutes")
            time.sleep(2.0)


def _histogram(m: dict[str, float], stage: str) -> list[float]:
    return [
        m.get(f'ww_processor_lag_seconds_bucket{{le="{float(b)}",processor="{stage}"}}', 0.0)
        for b in _LAG_BUCKETS
    ] + [m.get(f'ww_processor_lag_seconds_bucket{{le="+Inf",processor="{stage}"}}', 0.0)]


def _quantile(q: float, before: list[float], after: list[float]) -> float | None:
    """Prometheus-style histogram_quantile over the difference of two scrapes."""
    counts = [a - b for a, b in zip(after, before, strict=True)]
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    lower, prev = 0.0, 0.0
    for bound, cum in zip((*_LAG_BUCKETS, math.inf), counts, strict=True):
        if cum >= rank:
            if math.isinf(bound):
                return float(_LAG_BUCKETS[-1])
            return lower + (bound - lower) * (rank - prev) / max(cum - prev, 1e-9)
        lower, prev = float(bound), cum
    return None


def _paced_leg(
    target: MqttTarget, city: str, devices: list[str], rate: float, seconds: float
) -> tuple[int, float]:
    """Publish readings of the simulated devices at ``rate``/s; (acked, achieved rate)."""
    sender = Sender(target, f"eval-pace-{city}", name="the paced leg's publisher")
    try:
        sender.start()
        start = time.monotonic()
        n = 0
        seq: dict[str, int] = defaultdict(int)
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            while n < due:
                dev = devices[n % len(devices)]
                s = seq[dev]
                seq[dev] = s + 1
                body = (
                    f'{{"v":1,"id":"{dev}","boot":900000,"seq":{s},"ts":{int(time.time())},'
                    f'"d_mm":900,"fill":0.35,"t_c":30.0,"bat_mv":3900,"rssi":-70,"fl":0,"drop":0}}'
                )
                sender.publish(f"ww/{city}/bins/{dev}/telemetry", body.encode())
                n += 1
            sender.service(0.002)
        wall = time.monotonic() - start
        sender.drain(60)
    except PublishError as exc:
        raise BenchError(f"paced leg: {exc}") from exc
    finally:
        sender.close()
    return sender.acked, n / wall


def run_eval(opts: EvalOptions, progress: Progress) -> dict[str, Any]:
    """Replay, process, score; the figures (keys in processors/README.md)."""
    settings = load_settings()
    env = stack_up(settings)
    target = target_from_env(env)
    run = _Run()
    end = int(time.time()) // 3600 * 3600
    start = end - int(opts.days * 86_400)
    city = load_city([DEFAULT_CITY_DIR])
    chosen = [b for b, _ in select_bins(city, opts.bins)]
    registry = replace(city, bins=tuple(chosen))
    proc_ports = [free_port() for _ in opts.processes]
    truth_dir = opts.keep_truth or Path(tempfile.mkdtemp(prefix="ww-eval-truth-"))
    try:
        with _own_pipeline(env, run, settings, progress) as pipeline:
            dsns, service_env = pipeline.dsns, pipeline.env
            import_city(dsns["WW_DB_DSN"], registry)
            service_env["WW_PROCESSORS_GROUP_PREFIX"] = f"eval-{run.run_id}-"
            pipeline.start("wastewatch.ingest.sink", "sink")
            pipeline.start("wastewatch.ingest.bridge", "bridge")
            for i, (only, port) in enumerate(zip(opts.processes, proc_ports, strict=True)):
                penv = {**service_env, "WW_PROCESSORS_METRICS_PORT": str(port)}
                pipeline.start("wastewatch.processors", f"processors-{i}", penv, ("--only", only))
            time.sleep(8.0)  # subscriptions and consumer groups in place before publishing
            pipeline.check()
            sim = build_simulation(
                run.city,
                seed=opts.seed,
                start=start,
                end=end,
                bins=opts.bins,
                data=city,
                faults=replace(FaultRates(), fire=opts.fire_rate),
                truth=truth_dir,
            )
            t0 = time.monotonic()
            result = run_replay(
                sim,
                target=target,
                publishers=opts.publishers,
                client_prefix=f"eval-{run.run_id}",
                progress=progress,
            )
            progress(f"replay published in {time.monotonic() - t0:.0f} s; waiting for processors")
            kafka = KafkaSettings(
                bootstrap=env["WW_KAFKA_BOOTSTRAP"], topic_prefix=run.topic_prefix
            )
            group_settings = settings.model_copy(
                update={
                    "ingest": settings.ingest.model_copy(
                        update={"sink_group": service_env["WW_INGEST_SINK_GROUP"]}
                    ),
                    "processors": settings.processors.model_copy(
                        update={"group_prefix": service_env["WW_PROCESSORS_GROUP_PREFIX"]}
                    ),
                }
            )
            catch_up = _wait_caught_up(
                proc_ports,
                dsns["WW_DB_DSN"],
                int(result["readings_published"]),
                pipeline.check,
                progress,
                kafka=kafka,
                groups={
                    **sink_groups(group_settings),
                    **stage_groups(
                        group_settings, [n for spec in opts.processes for n in spec.split(",")]
                    ),
                },
            )
            replay_s = time.monotonic() - t0
            progress(f"processors caught up {catch_up:.0f} s after the replay ended")
            oracle = _Oracle({d.bin_id: d.fill for d in sim.devices})
            scored = _score(
                dsns["WW_DB_READER_DSN"], truth_dir, registry.bins, start, end, progress, oracle
            )
            if opts.keep_truth is not None:
                (truth_dir / "eval_misses.json").write_text(json.dumps(_misses, indent=1))
            progress(f"paced leg: {opts.rate:.0f} readings/s for {opts.lag_seconds:.0f} s")
            before = _metrics(proc_ports)
            devices = [b.reg.device_id for b in chosen if b.reg.device_id]
            acked, achieved = _paced_leg(target, run.city, devices, opts.rate, opts.lag_seconds)
            time.sleep(5.0)
            after = _metrics(proc_ports)
            lag = {
                st: _quantile(0.99, _histogram(before, st), _histogram(after, st))
                for st in READING_STAGES
            }
            worst = max((v for v in lag.values() if v is not None), default=None)
            return {
                **scored,
                "lag_s_p99": None if worst is None else round(worst, 3),
                "lag_s_p99_by_stage": {
                    k: None if v is None else round(v, 3) for k, v in lag.items()
                },
                "lag_offered_per_s": round(achieved, 1),
                "lag_readings": acked,
                "processor_processes": list(opts.processes),
                "fire_rate_per_bin_day": opts.fire_rate,
                "days": opts.days,
                "bins": opts.bins,
                "seed": opts.seed,
                "readings": result["readings_published"],
                "messages": result["messages"],
                "replay_and_process_s": round(replay_s, 1),
                "catch_up_after_replay_s": round(catch_up, 1),
                "processed_per_s": round(result["messages"] / replay_s, 1),
                "run_id": run.run_id,
            }
    except SimulatorError as exc:
        raise BenchError(f"the simulator failed: {exc}") from exc


# --------------------------------------------------------------------------- scoring


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ts(t: datetime) -> int:
    return int(t.timestamp())


class _Oracle:
    """The crossing a forecaster would predict if it knew the simulator's true mean inflow.

    Same starting level and time as each stored forecast; the bin's true base rate,
    calendar multipliers and compaction, the hourly burst noise replaced by its mean.
    Its error is the floor any model of the mean rate can reach on this simulator:
    the rest is the bursts themselves (log-normal, sigma 0.5 per hour).
    """

    def __init__(self, models: dict[str, FillModel]) -> None:
        self.models = models

    def crossing(self, bin_id: str, made: int, fill: float, th: float) -> int | None:
        m = self.models.get(bin_id)
        if m is None:
            return None
        k = m.compaction
        a, f, t = 1.0 / k, fill, made
        for _ in range(24 * 14):
            nxt = (t // 3600 + 1) * 3600
            day, hour = local_day_and_hour(t)
            r = m.rate_lph * m.calendar.multipliers(day, m.place, m.zone)[hour]
            if r > 0:
                b = r * k / m.capacity_l
                f1 = a - (a - f) * math.exp(-b * (nxt - t) / 3600)
                if f1 >= th:
                    return t + round(math.log((a - f) / (a - th)) / b * 3600)
                f = f1
            t = nxt
        return None


def _score(
    dsn: str,
    truth: Path,
    bins: tuple[SimBin, ...],
    start: int,
    end: int,
    progress: Progress,
    oracle: _Oracle | None = None,
) -> dict[str, Any]:
    progress("scoring against the ground truth")
    thresholds = {b.reg.bin_id: b.reg.collection_threshold for b in bins}
    device_bin = {b.reg.device_id: b.reg.bin_id for b in bins if b.reg.device_id}
    true_collections = _jsonl(truth / "collections.jsonl")
    faults = _jsonl(truth / "faults.jsonl")
    crossings = _jsonl(truth / "crossings.jsonl")
    devices = _jsonl(truth / "devices.jsonl")
    deliveries = _jsonl(truth / "deliveries.jsonl")
    manifest = json.loads((truth / "manifest.json").read_text())
    with psycopg.connect(dsn) as conn:
        detected = [
            (b, _ts(t))
            for b, t in conn.execute("select bin_id, time from collections order by time")
        ]
        alerts = conn.execute(
            "select kind, device_id, opened_at, resolved_at from alerts where device_id is not null"
        ).fetchall()
        forecasts = conn.execute(
            "select bin_id, time, fill_level, threshold_at from fill_forecasts "
            "order by bin_id, time"
        ).fetchall()
        readings = conn.execute(
            "select bin_id, time, fill_level, flags from readings "
            "where fill_level is not null and bin_id is not null order by bin_id, time"
        ).fetchall()
        proj = conn.execute(
            "select site_id, as_of, full_date, days_left from landfill_projections "
            "order by as_of desc limit 1"
        ).fetchone()
        no_tickets = conn.execute(
            "select site_id, day, stream, collected_kg_est from landfill_daily"
        ).fetchall()
        site_row = conn.execute(
            "select site_id, name, capacity_m3, used_m3, surveyed_on, compacted_density_kg_m3 "
            "from landfill_sites order by site_id limit 1"
        ).fetchone()
        dens: dict[str, float] = dict(
            conn.execute(
                "select stream, compacted_density_kg_m3 from landfill_stream_densities"
            ).fetchall()
        )
    out: dict[str, Any] = {}
    out.update(_score_collections(true_collections, detected, end, faults))
    out.update(
        _score_forecast(crossings, true_collections, thresholds, forecasts, readings, oracle)
    )
    out.update(_score_alerts(faults, alerts, devices, device_bin, len(bins), start, end, manifest))
    if site_row is not None and proj is not None:
        site = SiteInfo(
            site_row[0],
            site_row[1],
            float(site_row[2]),
            float(site_row[3]),
            site_row[4],
            float(site_row[5]),
            {k: float(v) for k, v in dens.items()},
        )
        out.update(_score_landfill(site, deliveries, proj, no_tickets))
    return out


_MIN_OBSERVABLE_DROP = 0.03
"""A true emptying that lowers the level by less than this (about 2.5 cm in a 240 L
bin, five times the sensor's noise) cannot be seen by a level sensor: a crew tipping a
bin that held 1-4 % leaves the reading where it was."""


def _unobservable(c: dict[str, Any], stuck: dict[str, list[tuple[int, int]]]) -> str | None:
    """Why a level sensor could not have seen this collection, or None."""
    if c["fill_before"] - c["fill_after"] < _MIN_OBSERVABLE_DROP:
        return "tiny_drop"
    if any(a <= c["ts"] <= b for a, b in stuck.get(c["bin"], [])):
        return "stuck_sensor"  # the sensor repeats one distance whatever happens
    return None


def _score_collections(
    truth: list[dict[str, Any]],
    detected: list[tuple[str, int]],
    end: int,
    faults: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Greedy one-to-one matching per bin: a detection 5 min before to 2 h after the truth.

    Recall counts the collections a level sensor could see (``_unobservable``); those it
    could not are reported apart, and ``collection_recall_all`` counts every one.  A
    detection matched to an unobservable collection is still a true detection.
    """
    stuck: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for f in faults or []:
        if f["kind"] == "stuck":
            stuck[f["bin"]].append((f["ts"], f["end_ts"]))
    horizon = end - 2 * 3600  # a collection in the last hours may not be confirmed yet
    det_by_bin: dict[str, list[int]] = defaultdict(list)
    for b, t in detected:
        if t <= horizon:
            det_by_bin[b].append(t)
    used: set[tuple[str, int]] = set()
    missed: list[dict[str, Any]] = []
    matched = 0
    considered = 0
    matched_obs = 0
    observable = 0
    unobservable: dict[str, int] = {"tiny_drop": 0, "stuck_sensor": 0}
    for c in sorted(truth, key=lambda x: x["ts"]):
        if c["ts"] > horizon - 3600:
            continue
        considered += 1
        why = _unobservable(c, stuck)
        if why is None:
            observable += 1
        else:
            unobservable[why] += 1
        times = det_by_bin.get(c["bin"], [])
        i = bisect.bisect_left(times, c["ts"] - 300)
        while i < len(times) and times[i] <= c["ts"] + 7200:
            if (c["bin"], times[i]) not in used:
                used.add((c["bin"], times[i]))
                matched += 1
                matched_obs += why is None
                break
            i += 1
        else:
            missed.append({**c, "unobservable": why})
    n_det = sum(len(v) for v in det_by_bin.values())
    _misses.clear()
    _misses["missed_collections"] = missed
    _misses["false_detections"] = sorted(
        (b, t) for b, ts in det_by_bin.items() for t in ts if (b, t) not in used
    )
    return {
        "collection_precision": round(len(used) / n_det, 4) if n_det else None,
        "collection_recall": round(matched_obs / observable, 4) if observable else None,
        "collection_recall_all": round(matched / considered, 4) if considered else None,
        "collections_true": considered,
        "collections_unobservable": unobservable,
        "collections_detected": n_det,
    }


def _score_forecast(
    crossings: list[dict[str, Any]],
    collections: list[dict[str, Any]],
    thresholds: dict[str, float],
    forecasts: list[tuple[Any, ...]],
    readings: list[tuple[Any, ...]],
    oracle: _Oracle | None = None,
) -> dict[str, Any]:
    """Errors of forecasts made 6..24 h before each true crossing of the bin's threshold,
    within the same fill cycle (no collection in between), ours and the two-point line's
    (and, with ``oracle``, the true-mean-rate forecast's from the same levels)."""
    fc_by_bin: dict[str, list[tuple[int, float, int | None]]] = defaultdict(list)
    for b, t, fill, at in forecasts:
        fc_by_bin[b].append((_ts(t), float(fill), None if at is None else _ts(at)))
    rd_by_bin: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for b, t, fill, flags in readings:
        if not flags & _BAD:
            ts_list, fills = rd_by_bin[b]
            ts_list.append(_ts(t))
            fills.append(float(fill))
    coll_by_bin: dict[str, list[int]] = defaultdict(list)
    for c in collections:
        coll_by_bin[c["bin"]].append(c["ts"])
    for v in coll_by_bin.values():
        v.sort()
    ours: list[float] = []
    base: list[float] = []
    floor: list[float] = []
    both: list[tuple[float, float]] = []
    pairs = 0
    for x in crossings:
        b, tc = x["bin"], x["ts"]
        th = thresholds.get(b)
        if th is None or abs(x["threshold"] - th) > 1e-9:
            continue
        fcs = fc_by_bin.get(b, [])
        times = [f[0] for f in fcs]
        colls = coll_by_bin.get(b, [])
        lo = bisect.bisect_left(times, tc - 24 * 3600)
        hi = bisect.bisect_right(times, tc - 6 * 3600)
        for made, fill, at in fcs[lo:hi]:
            k = bisect.bisect_right(colls, made)
            if k < len(colls) and colls[k] < tc:
                continue  # emptied in between: another fill cycle
            if fill >= th:
                continue
            pairs += 1
            e_ours = abs(at - tc) / 3600 if at is not None else None
            e_base = _baseline_error(rd_by_bin.get(b), made, th, tc)
            if e_ours is not None:
                ours.append(e_ours)
            o_at = oracle.crossing(b, made, fill, th) if oracle is not None else None
            if o_at is not None:
                floor.append(abs(o_at - tc) / 3600)
            if e_base is not None:
                base.append(e_base)
            if e_ours is not None and e_base is not None:
                both.append((e_ours, e_base))

    def mae(v: list[float]) -> float | None:
        return round(sum(v) / len(v), 3) if v else None

    return {
        "forecast_mae_h": mae(ours),
        "baseline_mae_h": mae(base),
        "oracle_mae_h": mae(floor),
        "forecast_pairs": pairs,
        "forecast_coverage": round(len(ours) / pairs, 4) if pairs else None,
        "baseline_coverage": round(len(base) / pairs, 4) if pairs else None,
        "forecast_mae_h_common": mae([a for a, _ in both]),
        "baseline_mae_h_common": mae([b for _, b in both]),
    }


def _baseline_error(
    rd: tuple[list[int], list[float]] | None, made: int, th: float, tc: int
) -> float | None:
    """The naive forecast: the line through the last two readings at or before ``made``."""
    if rd is None:
        return None
    ts_list, fills = rd
    i = bisect.bisect_right(ts_list, made)
    if i < 2:
        return None
    (t1, f1), (t2, f2) = (ts_list[i - 2], fills[i - 2]), (ts_list[i - 1], fills[i - 1])
    if t2 <= t1 or f2 <= f1:
        return None  # flat or falling: the line never reaches the threshold
    at = t2 + (th - f2) * (t2 - t1) / (f2 - f1)
    return abs(at - tc) / 3600


_ALERT_OF = {"fire": "fire", "tip_over": "tipped_over", "offline": "offline"}


def _score_alerts(
    faults: list[dict[str, Any]],
    alerts: list[tuple[Any, ...]],
    devices: list[dict[str, Any]],
    device_bin: dict[str, str],
    n_bins: int,
    start: int,
    end: int,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Recall per injected kind (an alert of that kind for the device, opened between 15 min
    before the episode and 2 h after its end); alerts matching no episode are false."""
    interval = int(manifest.get("report_interval_s", 900))
    by_dev: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for kind, dev, opened, resolved in alerts:
        by_dev[(kind, dev)].append((_ts(opened), _ts(resolved) if resolved else end))
    recall: dict[str, float | None] = {}
    excluded: dict[str, int] = {}
    missed: list[dict[str, Any]] = []
    _misses["missed_alert_episodes"] = missed
    for fkind, akind in _ALERT_OF.items():
        eps = [f for f in faults if f["kind"] == fkind and f["end_ts"] < end - 3 * 3600]
        # Unobservable: an outage shorter than a report interval leaves no gap, and one
        # that began before the replay has no last reading for a gap to follow (the
        # simulator draws whole days, so episodes may start before the window).
        observable = [
            f
            for f in eps
            if fkind != "offline" or (f["end_ts"] - f["ts"] >= interval + 2 and f["ts"] >= start)
        ]
        excluded[akind] = len(eps) - len(observable)
        hit = 0
        for f in observable:
            spans = by_dev.get((akind, f["device"]), [])
            if any(f["ts"] - 900 <= o <= f["end_ts"] + 7200 for o, _ in spans):
                hit += 1
            else:
                missed.append({**f, "alerts_of_device": spans})
        recall[akind] = round(hit / len(observable), 4) if observable else None
    dead = {d["device"] for d in devices if d["dead"]}
    explain = {
        "fire": ("fire",),
        "tipped_over": ("tip_over",),
        "offline": ("offline", "reboot", "battery"),
        "sensor_fault": ("stuck", "noisy"),
    }
    false: dict[str, int] = {}
    for akind, fkinds in explain.items():
        n = 0
        for (kind, dev), spans in by_dev.items():
            if kind != akind:
                continue
            eps = [f for f in faults if f["device"] == dev and f["kind"] in fkinds]
            for opened, resolved in spans:
                if akind == "offline" and dev in dead:
                    continue  # a dead battery is a real outage
                if not any(
                    f["ts"] - 3600 <= resolved and opened <= f["end_ts"] + 3 * 3600 for f in eps
                ):
                    n += 1
        false[akind] = n
    bin_days = n_bins * (end - start) / 86_400
    return {
        "alert_recall": {
            k: recall[v]
            for k, v in (("fire", "fire"), ("tipped", "tipped_over"), ("offline", "offline"))
        },
        "alert_episodes_excluded_unobservable": excluded,
        "false_alerts_per_1000_bin_days": round(sum(false.values()) / bin_days * 1000, 3),
        "false_alerts_by_kind": false,
        "alerts_total": len(alerts),
    }


def _score_landfill(
    site: SiteInfo,
    deliveries: list[dict[str, Any]],
    proj: tuple[Any, ...],
    collected: list[tuple[Any, ...]],
) -> dict[str, Any]:
    """Our projection against the same projection from the true deliveries."""
    per: dict[tuple[date, str], float] = defaultdict(float)
    for d in deliveries:
        if d["site"] != site.site_id:
            continue
        day = datetime.fromtimestamp(d["ts"], tz=UTC).astimezone(BANGKOK).date()
        per[(day, d["stream"])] += d["net_kg"]
    true_days = [
        DayVolume(day, s, kg, kg / site.density(s)) for (day, s), kg in sorted(per.items())
    ]
    truth = project(site, true_days)
    est_days = [
        DayVolume(day, s, float(kg), float(kg) / site.density(s))
        for sid, day, s, kg in collected
        if sid == site.site_id
    ]
    est = project(site, est_days)
    _, _, full_date, days_left = proj

    def diff(a: date | None, b: date | None) -> int | None:
        return None if a is None or b is None else (a - b).days

    return {
        "landfill_full_date_error_days": diff(full_date, truth.full_date if truth else None),
        "landfill_full_date": full_date.isoformat() if full_date else None,
        "landfill_full_date_truth": truth.full_date.isoformat()
        if truth and truth.full_date
        else None,
        "landfill_days_left": days_left,
        "landfill_full_date_error_days_without_tickets": diff(
            est.full_date if est else None, truth.full_date if truth else None
        ),
    }
