"""Pure detectors and models of processors/ on crafted series (no services)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from wastewatch.processors.alerts import DeviceAlerts, battery_days_left
from wastewatch.processors.collections import CollectionDetector, detect_collection
from wastewatch.processors.errors import ConfigError
from wastewatch.processors.forecast import FillForecaster, Urgency, local_hour, local_weekday
from wastewatch.processors.landfill import DayVolume, SiteInfo, parse_divert, project
from wastewatch.processors.readings import Reading, decode_reading
from wastewatch.processors.rollups import HourAgg
from wastewatch.processors.service import parse_only
from wastewatch.schema.alerts import AlertKind
from wastewatch.schema.common import TelemetryFlag as F

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DEV = "kls-bin-0001"


def reading(
    i: int,
    fill: float | None,
    *,
    step: int = 900,
    flags: int = 0,
    temp: float | None = 30.0,
    bat: int | None = 3900,
    d_mm: int | None = None,
    ts: int | None = None,
) -> Reading:
    t = T0 + i * step if ts is None else ts
    if d_mm is None and fill is not None:
        d_mm = round(1250 - fill * 1000)
    return Reading(DEV, 1, i, t, d_mm, fill, temp, bat, flags)


def feed(det: CollectionDetector, fills: list[float | None], **kw: int) -> list[int]:
    """Indices of readings whose feeding confirmed a collection."""
    out = []
    for i, f in enumerate(fills):
        if det.update(reading(i, f, **kw)) is not None:
            out.append(i)
    return out


def rising(n: int, start: float, per_step: float, noise: float, rng: random.Random) -> list[float]:
    return [min(1.0, max(0.0, start + per_step * k + rng.gauss(0, noise))) for k in range(n)]


# -- collections ---------------------------------------------------------------------------


def test_decode_reading_and_levels() -> None:
    raw = (
        b'{"v":1,"id":"kls-bin-0001","boot":3,"seq":9,"ts":1767225600,"d_mm":612,'
        b'"fill":0.42,"t_c":31.5,"bat_mv":3870,"rssi":-71,"fl":64,"drop":0}'
    )
    r = decode_reading(raw)
    assert r is not None
    assert r.boot == 3
    assert r.fill == 0.42
    assert r.level is None  # SENSOR_FAULT: the value says nothing
    assert decode_reading(b"not json") is None
    assert decode_reading(b'{"id":"x"}') is None


def test_one_clean_collection_is_detected_once_with_its_levels() -> None:
    rng = random.Random(1)
    fills = rising(30, 0.3, 0.015, 0.005, rng) + rising(30, 0.02, 0.015, 0.005, rng)
    det = CollectionDetector(device_id=DEV)
    found = []
    for i, f in enumerate(fills):
        c = det.update(reading(i, f))
        if c:
            found.append(c)
    assert len(found) == 1
    c = found[0]
    assert c.ts == T0 + 30 * 900  # the first low reading
    assert c.event_id == f"{DEV}:1:30"
    assert 0.7 < c.fill_before < 0.8
    assert c.fill_after < 0.06


def test_noise_alone_never_makes_a_collection() -> None:
    rng = random.Random(2)
    det = CollectionDetector(device_id=DEV)
    assert feed(det, rising(2000, 0.2, 0.0003, 0.006, rng)) == []


def test_a_single_low_echo_is_not_a_collection() -> None:
    fills = [0.5 + 0.01 * k for k in range(10)] + [0.05] + [0.61 + 0.01 * k for k in range(10)]
    assert feed(CollectionDetector(device_id=DEV), fills) == []


def test_noisy_sensor_needs_a_big_confirmed_drop() -> None:
    rng = random.Random(3)
    det = CollectionDetector(device_id=DEV)
    noisy = rising(300, 0.45, 0.0, 0.12, rng)
    assert feed(det, noisy) == []
    assert det.sigma > det.params.noisy_sigma
    # a real emptying from 0.9 still shows through the noise
    later = [min(1.0, 0.9 + rng.gauss(0, 0.03)) for _ in range(6)] + [0.02, 0.03, 0.02, 0.04]
    det2 = CollectionDetector(device_id=DEV)
    assert len(feed(det2, later)) == 1


def test_stuck_sensor_shows_no_collection() -> None:
    assert feed(CollectionDetector(device_id=DEV), [0.55] * 200) == []


def test_emptied_twice_in_a_row_counts_twice_after_refill_once_within_minutes() -> None:
    rng = random.Random(4)
    cycle = rising(40, 0.05, 0.02, 0.004, rng)
    fills = cycle + cycle + cycle
    assert len(feed(CollectionDetector(device_id=DEV), fills)) == 2
    # the crew empties it in two goes, 15 min apart: one collection
    two_step = [0.8, 0.81, 0.82, 0.83, 0.4, 0.41, 0.03, 0.03, 0.04, 0.05]
    assert feed(CollectionDetector(device_id=DEV), two_step) == [5]


def test_fire_and_tip_over_drops_are_not_collections() -> None:
    det = CollectionDetector(device_id=DEV)
    base = [0.7 + 0.005 * k for k in range(8)]
    out = feed(det, base)
    det.update(reading(8, 0.74, flags=F.FIRE, temp=120.0))
    det.update(reading(9, None, flags=F.TILTED | F.NO_ECHO))
    for i, f in enumerate([0.3, 0.3, 0.31, 0.32], start=10):
        assert det.update(reading(i, f)) is None
    assert out == []


def test_duplicates_and_stale_readings_are_ignored() -> None:
    det = CollectionDetector(device_id=DEV)
    for i in range(5):
        det.update(reading(i, 0.8))
    assert det.update(reading(6, 0.05)) is None
    assert det.update(reading(6, 0.05)) is None  # the same reading again
    assert det.update(reading(3, 0.8)) is None  # a late copy
    assert det.update(reading(7, 0.05)) is not None


def test_detector_state_round_trips() -> None:
    det = CollectionDetector(device_id=DEV)
    feed(det, [0.5, 0.51, 0.52, 0.1])
    again = CollectionDetector.from_dict(DEV, det.to_dict())
    assert again.to_dict() == det.to_dict()
    assert again.update(reading(4, 0.1)) is not None


def test_detect_collection_uses_medians() -> None:
    assert detect_collection([0.8, 0.2, 0.82], [0.05, 0.06], needed_drop=0.1) == (0.8, 0.055)
    assert detect_collection([0.8, 0.81], [0.05, 0.7, 0.75], needed_drop=0.2) is None


# -- forecast -----------------------------------------------------------------------------


def test_local_time_helpers() -> None:
    assert local_hour(T0) == 7  # 00:00 UTC = 07:00 in Bangkok
    assert local_weekday(T0) == 3  # 2026-01-01 is a Thursday


def _profile(hour: int) -> float:
    return 0.004 if hour < 6 or hour >= 22 else 0.03  # fill per hour, busy by day


def test_forecast_learns_a_daily_pattern_and_predicts_the_crossing() -> None:
    model = FillForecaster(threshold=0.8)
    assert model.forecast().refill_h is None  # nothing learned yet
    rng = random.Random(5)
    fill, t = 0.05, T0
    emptied = 0
    for _ in range(21 * 96):  # three weeks at 15 min, emptied when it passes 0.85
        fill = min(1.0, fill + _profile(local_hour(t)) / 4 * (1 - 0.3 * fill))
        if fill > 0.85:
            fill = 0.02
            emptied += 1
        r = Reading(DEV, 1, t, t, None, round(fill + rng.gauss(0, 0.004), 4), 30.0, 3900, 0)
        model.update(r)
        t += 900
    fc = model.forecast()
    assert fc.threshold_at is not None
    assert fc.early_at is not None
    assert fc.late_at is not None
    # simulate forward from the last state to find the true crossing
    f, tt = fill, t - 900
    while f < 0.8:
        tt += 60
        f += _profile(local_hour(tt)) / 60 * (1 - 0.3 * f)
    assert abs(fc.threshold_at - tt) < 1.5 * 3600, (fc.threshold_at - tt) / 3600
    assert fc.early_at <= fc.threshold_at <= fc.late_at
    # Hours from empty to the threshold at the usual rate: about one emptying cycle
    # (0.02 -> 0.85) scaled to the threshold, whatever the hour the forecast is made.
    cycle_h = 21 * 24 / emptied
    assert fc.refill_h is not None
    assert 0.6 * cycle_h < fc.refill_h < 1.2 * cycle_h, (fc.refill_h, cycle_h)


def _market(t: int) -> float:
    """Fill per hour: a steady day plus a Saturday-evening market (16-23 h local)."""
    base = _profile(local_hour(t))
    if local_weekday(t) == 5 and 16 <= local_hour(t) < 23:
        return base * 3.0
    return base


def _true_crossing(fill: float, t: int, rate: Callable[[int], float]) -> int:
    while fill < 0.8:
        t += 60
        fill += rate(t) / 60 * (1 - 0.3 * fill)
    return t


def test_forecast_learns_a_few_busy_hours_of_one_weekday() -> None:
    """A weekday factor alone spreads a Saturday market over the whole Saturday; the
    hour-of-week correction puts it in its evening hours."""
    model = FillForecaster(threshold=0.8)
    rng = random.Random(7)
    fill, t = 0.05, T0
    while True:
        fill = min(1.0, fill + _market(t) / 4 * (1 - 0.3 * fill))
        if fill > 0.85:
            fill = 0.02
        r = Reading(DEV, 1, t, t, None, round(fill + rng.gauss(0, 0.004), 4), 30.0, 3900, 0)
        model.update(r)
        if t > T0 + 21 * 86_400 and local_weekday(t) == 5 and local_hour(t) == 14:
            break
        t += 900
    # Saturday 14:00 after three weeks; from half full the crossing falls in the
    # market hours, so the evening decides it.
    model.collected(t, 0.55)
    fc = model.forecast()
    assert fc.threshold_at is not None
    truth = _true_crossing(0.55, t, _market)
    flat = _true_crossing(0.55, t, lambda x: _profile(local_hour(x)))
    assert truth < flat - 3600  # the market makes a real difference
    assert abs(fc.threshold_at - truth) < abs(fc.threshold_at - flat)
    assert abs(fc.threshold_at - truth) < 1.5 * 3600, (fc.threshold_at - truth) / 3600
    again = FillForecaster.from_dict(model.to_dict(), threshold=0.8)
    assert again.forecast() == fc


def test_forecast_urgency_and_reset_and_round_trip() -> None:
    model = FillForecaster(threshold=0.8)
    assert model.forecast().threshold_at is None  # no history, no forecast
    for i in range(40):
        model.update(reading(i, 0.1 + 0.02 * i, step=3600))
    fc = model.forecast()
    assert fc.urgency in (Urgency.URGENT, Urgency.OVERFLOWING)
    assert fc.collect_by is not None
    assert fc.collect_by <= fc.as_of + 1
    again = FillForecaster.from_dict(model.to_dict(), threshold=0.8)
    assert again.forecast() == fc
    model.update(reading(41, 0.02, step=3600))  # emptied: back to fine or soon
    assert model.forecast().urgency in (Urgency.FINE, Urgency.SOON)
    model.update(reading(42, 1.0, step=3600, flags=F.OVERFULL))
    assert model.forecast().urgency == Urgency.OVERFLOWING


# -- alerts -------------------------------------------------------------------------------


def kinds(changes: list[object]) -> list[tuple[str, bool]]:
    return [(c.kind.value, c.resolved_at is not None) for c in changes]  # type: ignore[attr-defined]


def test_fire_opens_once_and_resolves_after_cooling() -> None:
    al = DeviceAlerts(device_id=DEV)
    out = []
    temps = [30, 31, 95, 140, 160, 150, 45, 40, 35, 33, 32]
    for i, t in enumerate(temps):
        flags = F.FIRE if t >= 70 else 0
        out += al.update(reading(i, 0.5 + 0.002 * i, step=60, flags=flags, temp=float(t)))
    assert kinds(out) == [("fire", False), ("fire", True)]
    assert out[0].alert_id == f"fire:{DEV}:1:2"
    assert out[0].severity.value == "critical"


def test_fast_temperature_rise_alone_opens_fire() -> None:
    al = DeviceAlerts(device_id=DEV)
    al.update(reading(0, 0.5, step=60, temp=30.0))
    assert kinds(al.update(reading(1, 0.5, step=60, temp=40.0))) == [("fire", False)]


def test_tipped_over_and_overflowing() -> None:
    al = DeviceAlerts(device_id=DEV)
    out = []
    out += al.update(reading(0, 0.5))
    out += al.update(reading(1, None, flags=F.TILTED | F.NO_ECHO))
    out += al.update(reading(2, None, flags=F.TILTED | F.NO_ECHO))
    out += al.update(reading(3, 0.2))
    out += al.update(reading(4, 0.2))
    out += al.update(reading(5, 1.0, flags=F.OVERFULL))
    out += al.update(reading(6, 1.0, flags=F.OVERFULL))
    out += al.update(reading(7, 0.03))
    assert kinds(out) == [
        ("tipped_over", False),
        ("tipped_over", True),
        ("overflowing", False),
        ("overflowing", True),
    ]


def test_low_battery_has_days_left_from_the_drain() -> None:
    al = DeviceAlerts(device_id=DEV)
    out = []
    for day in range(10):
        mv = 3600 - 30 * day
        out += al.update(reading(day, 0.3, step=86_400, bat=mv))
    opened = [c for c in out if c.kind is AlertKind.LOW_BATTERY]
    assert len(opened) == 1
    days = opened[0].details["days_left"]
    assert isinstance(days, float)
    assert 2 < days < 5
    assert battery_days_left([(0, 4000), (86_400, 4000), (172_800, 4001)], 3300) is None


def test_sensor_faults_stuck_noisy_and_flags_but_not_a_collection() -> None:
    al = DeviceAlerts(device_id=DEV)
    out = []
    for i in range(12):
        out += al.update(reading(i, 0.55, d_mm=700))
    assert kinds(out) == [("sensor_fault", False)]
    assert out[0].details["cause"] == "stuck"
    for i in range(12, 22):
        out += al.update(reading(i, 0.55 + 0.001 * i))
    assert kinds(out)[-1] == ("sensor_fault", True)
    al2 = DeviceAlerts(device_id=DEV)
    rng = random.Random(7)
    out2 = []
    for i in range(30):
        out2 += al2.update(reading(i, min(1.0, max(0.0, 0.5 + rng.gauss(0, 0.12)))))
    assert [c.details["cause"] for c in out2] == ["noisy"]
    al3 = DeviceAlerts(device_id=DEV)
    out3 = []
    for i, f in enumerate([0.3, 0.32, 0.9, 0.91, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]):
        out3 += al3.update(reading(i, f))
    assert [c.kind for c in out3 if c.kind is AlertKind.SENSOR_FAULT] == []


def test_offline_from_watermark_and_from_buffered_readings_agree() -> None:
    def run(use_watermark: bool) -> list[tuple[str, int, int | None]]:
        al = DeviceAlerts(device_id=DEV)
        out = []
        for i in range(4):
            out += al.update(reading(i, 0.3))
        if use_watermark:
            c = al.check_offline(T0 + 3 * 900 + 4000)
            assert c is not None
            out.append(c)
            assert al.check_offline(T0 + 3 * 900 + 9000) is None  # open once
        for i in range(4, 10):  # the buffered readings of the outage, sent on reconnect
            out += al.update(reading(i, 0.3, flags=F.BUFFERED))
        out += al.update(reading(10, 0.3))
        return [(c.alert_id, c.opened_at, c.resolved_at) for c in out]

    by_watermark, by_buffer = run(True), run(False)
    assert by_watermark[-1] == by_buffer[-1]
    alert_id, opened, resolved = by_buffer[-1]
    assert alert_id == f"offline:{DEV}:1:3"
    assert (opened, resolved) == (T0 + 4 * 900, T0 + 10 * 900)


def test_silent_gap_without_buffer_opens_and_resolves_offline() -> None:
    al = DeviceAlerts(device_id=DEV)
    al.update(reading(0, 0.3))
    out = al.update(reading(8, 0.3))  # two hours later, nothing in between
    assert kinds(out) == [("offline", False), ("offline", True)]
    assert out[0].opened_at == T0 + 3600


def test_alert_state_round_trips() -> None:
    al = DeviceAlerts(device_id=DEV)
    al.update(reading(0, 0.5, flags=F.TILTED))
    again = DeviceAlerts.from_dict(DEV, al.to_dict())
    assert again.to_dict() == al.to_dict()
    assert kinds(again.update(reading(1, 0.5)) + again.update(reading(2, 0.5))) == [
        ("tipped_over", True)
    ]


# -- landfill -----------------------------------------------------------------------------

SITE = SiteInfo(
    "kls-landfill-1",
    "x",
    250_000.0,
    221_000.0,
    date(2025, 12, 15),
    750.0,
    {"organic": 900.0, "recyclable": 350.0},
)


def days_of(n: int, start: date, per_stream: dict[str, float]) -> list[DayVolume]:
    return [
        DayVolume(start + timedelta(days=i), s, v * 750, v)
        for i in range(n)
        for s, v in per_stream.items()
    ]


def test_projection_full_date_interval_and_what_if() -> None:
    rows = days_of(28, date(2025, 12, 16), {"general": 40.0, "organic": 10.0, "recyclable": 5.0})
    p = project(SITE, rows)
    assert p is not None
    assert p.as_of == date(2026, 1, 12)
    assert p.used_m3 == pytest.approx(221_000 + 28 * 55)
    assert p.rate_m3_per_day == pytest.approx(55.0)
    assert p.days_left == pytest.approx((29_000 - 28 * 55) / 55, rel=1e-3)
    assert p.full_date_early is not None
    assert p.full_date is not None
    assert p.full_date_late is not None
    assert p.full_date_early <= p.full_date <= p.full_date_late
    alt = project(SITE, rows, divert=parse_divert("recyclable=0.3,organic=0.5"))
    assert alt is not None
    assert alt.full_date is not None
    assert alt.rate_m3_per_day == pytest.approx(55 - 1.5 - 5)
    assert alt.full_date > p.full_date
    assert alt.used_m3 == p.used_m3  # what is already buried stays


def test_projection_fills_the_gap_since_the_survey_and_needs_data() -> None:
    assert project(SITE, []) is None
    rows = days_of(14, date(2026, 1, 15), {"general": 50.0})
    p = project(SITE, rows)
    assert p is not None
    gap = (date(2026, 1, 15) - date(2025, 12, 15)).days - 1
    assert p.used_m3 == pytest.approx(221_000 + 14 * 50 + gap * 50)


def test_parse_divert_errors() -> None:
    assert parse_divert("recyclable=0.3, organic=0.5") == {"recyclable": 0.3, "organic": 0.5}
    for bad in ("recyclable", "organic=x", "organic=1.5"):
        with pytest.raises(ConfigError):
            parse_divert(bad)


# -- rollups and plumbing -------------------------------------------------------------------


def test_hour_aggregate() -> None:
    agg = HourAgg("kls-0001", T0)
    agg.add(reading(0, 0.2, step=600))
    agg.add(reading(1, None, step=600, flags=F.NO_ECHO))
    agg.add(reading(2, 0.4, step=600, temp=35.0, bat=3800))
    assert (agg.readings, agg.levels, agg.fill_min, agg.fill_max, agg.fill_last) == (
        3,
        2,
        0.2,
        0.4,
        0.4,
    )
    assert agg.fill_sum == Decimal("0.6")
    assert agg.temp_max == 35.0
    assert agg.battery_min == 3800
    assert agg.flags_any == F.NO_ECHO


def test_parse_only() -> None:
    assert parse_only(None) == ["collections", "forecast", "alerts", "landfill", "rollups"]
    assert parse_only("alerts,collections,alerts") == ["alerts", "collections"]
    with pytest.raises(ConfigError, match="unknown"):
        parse_only("alerts,routes")


def _alert_stage() -> Any:
    from wastewatch.core.settings import Settings
    from wastewatch.processors.alert_stage import AlertStage

    return AlertStage(Settings(), registry=None)


def _devices_in(partition: int, n: int, partitions: int) -> list[str]:
    from wastewatch.processors.runtime import partition_of

    out: list[str] = []
    i = 0
    while len(out) < n:
        dev = f"kls-bin-{i:05d}"
        if partition_of(dev, partitions) == partition:
            out.append(dev)
        i += 1
    return out


def test_watermark_per_partition_ignores_a_partition_read_late() -> None:
    """A partition fetched 12 h behind another must not make its devices look silent;
    a device silent within its own partition must."""
    stage = _alert_stage()
    ahead = _devices_in(0, 8, stage.partitions)
    behind = _devices_in(1, 8, stage.partitions)
    for dev in ahead:
        stage.state.cache[dev] = {"last_live_ts": T0 + 86_400, "open": {}}
    for dev in behind:
        stage.state.cache[dev] = {"last_live_ts": T0 + 43_200, "open": {}}
    stage.caught_up = False  # a backlog: the global watermark must not move
    stage._advance_watermark()
    assert stage.watermark == 0
    lateness = stage.lateness
    assert stage.watermark_of(ahead[0]) == T0 + 86_400 - lateness
    assert stage.watermark_of(behind[0]) == T0 + 43_200 - lateness
    silent = ahead[-1]
    stage.state.cache[silent] = {"last_live_ts": T0 + 80_000, "open": {}}
    for dev in ahead[:-1]:
        stage.state.cache[dev] = {"last_live_ts": T0 + 90_000, "open": {}}
    stage._advance_watermark()
    mark = stage.watermark_of(silent)
    assert mark - T0 - 80_000 > stage.params.offline_after_s  # judged silent in its partition
    assert stage.watermark_of(behind[0]) - T0 - 43_200 < stage.params.offline_after_s


def test_a_small_fleet_uses_the_global_watermark_only_when_drained() -> None:
    stage = _alert_stage()
    devs = [_devices_in(p, 1, stage.partitions)[0] for p in range(4)]
    for i, dev in enumerate(devs):
        stage.state.cache[dev] = {"last_live_ts": T0 + i * 3600, "open": {}}
    stage.caught_up = False
    stage._advance_watermark()
    assert stage.watermark_of(devs[0]) == 0
    stage.caught_up = True
    stage._advance_watermark()
    assert stage.watermark_of(devs[0]) == T0 - stage.lateness  # the 5th percentile


@pytest.mark.parametrize(
    ("ts", "flags", "has_time"),
    [
        (T0, 0, True),
        (1_704_067_200, 0, True),  # 2024-01-01, the earliest plausible time
        (1_704_067_199, 0, False),
        (946_684_800, 0, False),  # MicroPython's epoch: the RTC was never set
        (86_400, 0, False),  # 1970: would put a rollup hour in a 1970 chunk
        (0, 0, False),
        (T0, int(F.CLOCK_UNSET), False),
    ],
)
def test_only_a_plausible_clock_places_a_reading_in_event_time(
    ts: int, flags: int, has_time: bool
) -> None:
    assert reading(0, 0.5, ts=ts, flags=flags).has_time is has_time
