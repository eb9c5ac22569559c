"""The simulator's pure parts: payloads, determinism, fault rates, dynamics, plans, city data."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from wastewatch.city.citydata import CityData, load_city
from wastewatch.schema.common import TelemetryFlag, WasteStream
from wastewatch.schema.landfill import LandfillDelivery
from wastewatch.schema.status import DeviceStatus
from wastewatch.schema.telemetry import MAX_PAYLOAD_BYTES, DeviceTelemetry
from wastewatch.schema.topics import DeviceTopicKind, parse_device_topic, parse_landfill_topic
from wastewatch.workbench.simulators.build import build_simulation, reporting_every
from wastewatch.workbench.simulators.calendar import load_calendar
from wastewatch.workbench.simulators.devices import Emission
from wastewatch.workbench.simulators.dynamics import FillModel
from wastewatch.workbench.simulators.errors import CityDataError
from wastewatch.workbench.simulators.faults import FaultKind, FaultRates, draw_day
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.rng import stream
from wastewatch.workbench.simulators.run import write_dump
from wastewatch.workbench.simulators.trucks import PlannedRoute, StaticPlans

END = 1_772_323_200  # 2026-03-01T00:00:00Z
DAY = 86_400


@pytest.fixture(scope="module")
def city() -> CityData:
    data = load_city([DEFAULT_CITY_DIR])
    data.check_references()
    return data


def _run(
    city: CityData,
    *,
    seed: int = 7,
    bins: int = 40,
    days: float = 1.0,
    truth_dir: Path | None = None,
    faults: FaultRates | None = None,
    plans: StaticPlans | None = None,
    step: int = 3600,
) -> tuple[list[Emission], dict[str, object]]:
    start = END - int(days * DAY)
    sim = build_simulation(
        "kalasin",
        seed=seed,
        start=start,
        end=END,
        bins=bins,
        data=city,
        faults=faults,
        plans=plans,
        truth=truth_dir,
    )
    out: list[Emission] = []
    t = start
    while t < END:
        t += step
        out.extend(sim.advance(t))
    return out, sim.finish()


def test_shipped_city_is_complete(city: CityData) -> None:
    assert len(city.bins) >= 300
    streams = {b.reg.waste_stream.value for b in city.bins}
    assert streams == {"general", "recyclable", "organic", "hazardous"}
    for b in city.bins:
        assert 16.40 < b.reg.latitude < 16.46
        assert 103.48 < b.reg.longitude < 103.54
    assert city.depots
    assert city.trucks
    assert city.sites
    assert len(city.zones) == 8
    assert {d.waste_stream.value for d in city.densities} == streams


def test_messages_validate_strictly_by_alias(city: CityData) -> None:
    messages, summary = _run(city, faults=FaultRates().scaled(30), days=2)
    kinds: Counter[str] = Counter()
    for _, topic, payload, retained, _ in messages:
        assert len(payload) <= MAX_PAYLOAD_BYTES
        if "/landfill/" in topic:
            parse_landfill_topic(topic)
            LandfillDelivery.model_validate_json(payload, strict=True, by_alias=True, by_name=False)
            kinds["ticket"] += 1
            continue
        where = parse_device_topic(topic)
        assert where.city == "kalasin"
        if where.kind is DeviceTopicKind.TELEMETRY:
            reading = DeviceTelemetry.model_validate_json(
                payload, strict=True, by_alias=True, by_name=False
            )
            assert reading.device_id == where.device_id
            assert not retained
            kinds["reading"] += 1
        else:
            assert where.kind is DeviceTopicKind.STATUS
            assert retained
            status = DeviceStatus.model_validate_json(
                payload, strict=True, by_alias=True, by_name=False
            )
            assert status.device_id == where.device_id
            kinds["status"] += 1
    assert kinds["reading"] > 40 * 2 * 90
    assert kinds["status"] >= 40
    assert kinds["ticket"] >= 1
    assert summary["readings_published"] + summary["duplicates_sent"] == kinds["reading"]


def test_same_seed_same_bytes_other_seed_differs(city: CityData, tmp_path: Path) -> None:
    a, _ = _run(city, truth_dir=tmp_path / "a")
    b, _ = _run(city, truth_dir=tmp_path / "b", step=977)  # other slicing, same events
    c, _ = _run(city, seed=8, truth_dir=tmp_path / "c")
    with (tmp_path / "a.jsonl").open("wb") as fa, (tmp_path / "b.jsonl").open("wb") as fb:
        write_dump(fa, a)
        write_dump(fb, b)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert [m[2] for m in a] != [m[2] for m in c]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["lines"]["fill.jsonl"] == 40 * 24


def test_fault_draws_match_their_rates() -> None:
    rates = FaultRates(
        stuck=0.02, noisy=0.03, offline=0.05, reboot=0.04, fire=0.01, tip_over=0.02, battery=0.01
    )
    bin_days = 4000
    counts: Counter[FaultKind] = Counter()
    for i in range(200):
        for day in range(20_000, 20_020):
            counts.update(ep.kind for ep in draw_day(3, f"kls-{i:04d}", day, rates))
    for kind in FaultKind:
        expected = rates.rate(kind) * bin_days
        # Poisson: 4 standard deviations either way.
        assert abs(counts[kind] - expected) <= 4 * math.sqrt(expected), (kind, counts[kind])


def test_injected_faults_show_in_the_messages(city: CityData, tmp_path: Path) -> None:
    rates = FaultRates(
        stuck=0.05, noisy=0.05, offline=0.2, reboot=0.2, fire=0.1, tip_over=0.1, battery=0.0
    )
    messages, summary = _run(city, faults=rates, days=3, bins=40, truth_dir=tmp_path)
    faults = [json.loads(line) for line in (tmp_path / "faults.jsonl").read_text().splitlines()]
    by_kind = Counter(f["kind"] for f in faults)
    bin_days = 40 * 3
    for kind in ("offline", "reboot", "fire", "tip_over"):
        expected = getattr(rates, kind) * bin_days
        assert abs(by_kind[kind] - expected) <= 4 * math.sqrt(expected) + 1, (kind, by_kind)
    readings = [
        DeviceTelemetry.model_validate_json(m[2]) for m in messages if m[1].endswith("/telemetry")
    ]
    # Every duplicate re-send is byte-identical to an earlier reading: keys repeat exactly
    # as often as the truth says.
    keys = Counter(r.natural_key for r in readings if r.clock_trusted)
    keys_clockless = Counter(
        (r.device_id, r.boot_count, r.sequence) for r in readings if not r.clock_trusted
    )
    repeats = sum(n - 1 for n in keys.values()) + sum(n - 1 for n in keys_clockless.values())
    assert (
        repeats
        == summary["duplicates_sent"]
        == sum(int(f["param"]) for f in faults if f["kind"] == "duplicate")
    )
    flagged = {flag: {r.device_id for r in readings if r.has(flag)} for flag in TelemetryFlag}
    device_of = {f["bin"]: f["device"] for f in faults}
    for f in faults:
        seen_after = any(r.device_id == f["device"] and r.timestamp_s >= f["ts"] for r in readings)
        if not seen_after or f["ts"] >= END - 1800:
            continue
        if f["kind"] == "tip_over":
            assert f["device"] in flagged[TelemetryFlag.TILTED]
        if f["kind"] == "fire" and f["end_ts"] - f["ts"] >= 1200:
            assert f["device"] in flagged[TelemetryFlag.FIRE]
        if f["kind"] == "reboot":
            assert f["device"] in flagged[TelemetryFlag.CLOCK_UNSET]
        if f["kind"] == "offline" and f["end_ts"] < END - 1800:
            assert f["device"] in flagged[TelemetryFlag.BUFFERED]
    assert device_of
    assert summary["clock_unset"] == sum(1 for r in readings if r.has(TelemetryFlag.CLOCK_UNSET))


def test_fill_dynamics_crossings_and_overflow() -> None:
    calendar = load_calendar(None)
    from wastewatch.schema.common import WasteStream

    model = FillModel(
        capacity_l=240.0,
        stream=WasteStream.GENERAL,
        place="market",
        zone="kls-z01",
        calendar=calendar,
        rng=stream(1, "x"),
        start=END,
        initial_fill=0.0,
        rate_factor=3.0,
    )
    last = 0.0
    for hour in range(1, 72):
        model.advance(END + hour * 3600)
        assert model.fill >= last
        last = model.fill
    assert model.fill == 1.0
    assert model.overflow_s > 0
    assert model.overflow_l > 0
    times = [t for t, _ in model.crossings]
    assert [th for _, th in model.crossings] == [0.5, 0.75, 0.9, 1.0]
    assert times == sorted(times)
    got = model.empty(residual_fill=0.01)
    assert got.litres > 240 * 0.9
    assert model.fill == 0.01
    assert model.overflow_s == 0


def test_trucks_follow_a_route_plan_when_there_is_one(city: CityData, tmp_path: Path) -> None:
    service_day = date(2026, 2, 28)
    local_midnight = END - 7 * 3600 - DAY  # 2026-02-28 00:00 Asia/Bangkok
    stops = (("kls-0005", local_midnight + 6 * 3600), ("kls-0002", local_midnight + 7 * 3600))
    plans = StaticPlans(
        {
            service_day: (
                PlannedRoute("kls-truck-01", stops=stops, waste_stream=city.trucks[0].waste_stream),
            )
        }
    )
    _run(city, plans=plans, days=2, bins=40, truth_dir=tmp_path)
    collections = [
        json.loads(line) for line in (tmp_path / "collections.jsonl").read_text().splitlines()
    ]
    planned = [c for c in collections if c["source"].startswith("plan")]
    assert [c["bin"] for c in planned] == ["kls-0005", "kls-0002"]
    for c, (_, eta) in zip(planned, stops, strict=True):
        assert c["ts"] >= eta
        assert c["truck"] == "kls-truck-01"
    day_start = local_midnight
    same_day = [c for c in collections if day_start <= c["ts"] < day_start + DAY]
    assert same_day == planned  # the plan replaced the fixed schedule that day
    other = [c for c in collections if c["ts"] >= day_start + DAY]
    assert other
    assert all(c["source"] == "fixed" for c in other)
    deliveries = (tmp_path / "deliveries.jsonl").read_text().splitlines()
    assert any('"truck":"kls-truck-01"' in line for line in deliveries)


def test_a_lent_trucks_ticket_names_the_stream_it_carried(city: CityData, tmp_path: Path) -> None:
    service_day = date(2026, 2, 28)
    local_midnight = END - 7 * 3600 - DAY  # 2026-02-28 00:00 Asia/Bangkok
    general = next(t for t in city.trucks if t.waste_stream.value == "general")
    recyclables = [b.reg.bin_id for b in city.bins if b.reg.waste_stream.value == "recyclable"]
    stops = tuple((b, local_midnight + 6 * 3600) for b in recyclables[:2])
    lent = PlannedRoute(general.truck_id, stops=stops, waste_stream=WasteStream.RECYCLABLE)
    _run(city, plans=StaticPlans({service_day: (lent,)}), days=2, bins=40, truth_dir=tmp_path)
    tickets = [
        json.loads(line) for line in (tmp_path / "deliveries.jsonl").read_text().splitlines()
    ]
    that_day = [
        t
        for t in tickets
        if t["truck"] == general.truck_id and local_midnight <= t["ts"] < local_midnight + DAY
    ]
    assert that_day
    assert {t["stream"] for t in that_day} == {"recyclable"}
    later = [
        t for t in tickets if t["truck"] == general.truck_id and t["ts"] >= local_midnight + DAY
    ]
    assert later
    assert {t["stream"] for t in later} == {"general"}  # back on its own stream


def test_bad_csv_row_names_file_line_and_field(tmp_path: Path) -> None:
    header = (DEFAULT_CITY_DIR / "bins.csv").read_text(encoding="utf-8").splitlines()[:3]
    bad = header[2].split(",")
    bad[6] = "-240"  # volume_l
    path = tmp_path / "bins.csv"
    path.write_text("\n".join([header[0], header[1], ",".join(bad)]) + "\n", encoding="utf-8")
    with pytest.raises(CityDataError) as info:
        load_city([path])
    message = str(info.value)
    assert f"{path}, line 3" in message
    assert "'volume_l'" in message
    assert "\n" not in message


def test_geojson_city_file(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": None,
                "properties": {"kind": "zone", "zone_id": "z1", "name_en": "Z", "name_th": "ซ"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [103.5, 16.43]},
                "properties": {
                    "kind": "bin",
                    "bin_id": "b-001",
                    "device_id": "d-001",
                    "zone": "z1",
                    "waste_stream": "organic",
                    "volume_l": 240,
                    "mounting_height_mm": 1050,
                    "usable_depth_mm": 800,
                    "name": "test",
                    "installed_at": "2026-01-01T00:00:00Z",
                    "place": "market",
                },
            },
        ],
    }
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    data = load_city([path])
    assert data.bins[0].reg.latitude == 16.43
    assert data.bins[0].place == "market"
    doc["features"][1]["properties"]["colour"] = "red"  # type: ignore[index]
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(CityDataError, match=r"feature 2: field 'colour'"):
        load_city([path])


def test_reporting_interval_sets_the_reading_rate(city: CityData) -> None:
    sim = build_simulation(
        "kalasin",
        seed=1,
        start=END - 3600,
        end=END,
        bins=20,
        data=city,
        calendar=load_calendar(None),
        reporting=reporting_every(60),
        faults=FaultRates().scaled(0),
        collections=False,
    )
    readings = [m for m in sim.advance(END) if m[1].endswith("/telemetry")]
    assert 20 * 58 <= len(readings) <= 20 * 60


def test_cli_dry_run_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from wastewatch.workbench.commands import simulate

    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers(dest="command"))
    dumps = []
    for run in ("a", "b"):
        args = parser.parse_args(
            [
                "simulate",
                "replay",
                "--days",
                "0.5",
                "--bins",
                "10",
                "--end",
                "2026-03-01T00:00:00Z",
                "--dry-run",
                "--plans",
                "none",
                "--dump",
                str(tmp_path / f"{run}.jsonl"),
                "--ground-truth",
                str(tmp_path / run),
                "--json",
            ]
        )
        assert args.handler(args) == 0
        dumps.append((tmp_path / f"{run}.jsonl").read_bytes())
    assert dumps[0] == dumps[1]
    assert dumps[0].count(b"\n") > 10 * 40
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bins"] == 10
    assert result["start"] == "2026-02-28T12:00:00Z"
