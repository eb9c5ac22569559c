"""Route planner, pure parts: solver optimality, plan feasibility, selection, exports, CLI errors.

No services: the distance service client is tested against a fake OSRM table
server on 127.0.0.1 (the only fake here, and only of the remote service).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from tests.routes_helpers import bin_input
from tests.test_geojson import assert_geojson
from wastewatch import cli
from wastewatch.processors.routing.check import check_day
from wastewatch.processors.routing.distances import CsvMatrix, HaversineMatrix, OsrmTable, Place
from wastewatch.processors.routing.errors import DistanceError, InstanceError, SolverError
from wastewatch.processors.routing.export import day_geojson, driver_sheet
from wastewatch.processors.routing.planner import DayPlan, plan_day
from wastewatch.processors.routing.problem import (
    BinInput,
    Candidate,
    DayInputs,
    PlanOptions,
    StreamProblem,
    build_stream_problem,
    kg_per_litre,
    local_to_utc,
    next_window_start,
    select_candidates,
    stream_places,
)
from wastewatch.processors.routing.solver import read_cvrp, run_solver, solve_cvrp
from wastewatch.processors.routing.synthetic import DEPOT, LANDFILL, kalasin_day
from wastewatch.schema.common import WasteStream


def main(argv: list[str]) -> int:
    """``wastewatch routes ...`` through the CLI's entry point, its one error handler
    included; the root logger it points at this test's stderr is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return cli.main(argv)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


pytestmark = pytest.mark.timeout(60)

# --- a small CVRP solved to its proven optimum -------------------------------------

_COORDS = [(50, 50), (10, 12), (14, 20), (8, 30), (90, 85), (84, 92), (95, 70), (52, 95)]
_DEMANDS = [0, 4, 3, 5, 4, 6, 3, 2]
_CAPACITY = 12


def _vrp_text() -> str:
    lines = [
        "NAME : tiny-7",
        "TYPE : CVRP",
        f"DIMENSION : {len(_COORDS)}",
        "EDGE_WEIGHT_TYPE : EUC_2D",
        f"CAPACITY : {_CAPACITY}",
        "NODE_COORD_SECTION",
        *(f"{i + 1} {x} {y}" for i, (x, y) in enumerate(_COORDS)),
        "DEMAND_SECTION",
        *(f"{i + 1} {d}" for i, d in enumerate(_DEMANDS)),
        "DEPOT_SECTION",
        "1",
        "-1",
        "EOF",
    ]
    return "\n".join(lines) + "\n"


def _brute_force_optimum() -> int:
    """Exact optimum by enumeration: best tour per feasible subset, then best partition."""
    n = len(_COORDS)

    def d(a: int, b: int) -> int:
        (x1, y1), (x2, y2) = _COORDS[a], _COORDS[b]
        return int(np.floor(np.hypot(x1 - x2, y1 - y2) + 0.5))

    customers = range(1, n)
    tour: dict[frozenset[int], int] = {}
    for k in range(1, n):
        for subset in itertools.combinations(customers, k):
            if sum(_DEMANDS[c] for c in subset) > _CAPACITY:
                continue
            tour[frozenset(subset)] = min(
                d(0, p[0]) + sum(d(a, b) for a, b in itertools.pairwise(p)) + d(p[-1], 0)
                for p in itertools.permutations(subset)
            )
    best: dict[frozenset[int], int] = {frozenset(): 0}
    full = frozenset(customers)
    for size in range(1, n):
        for group in itertools.combinations(customers, size):
            s = frozenset(group)
            first = min(s)
            best[s] = min(
                (cost + best[s - sub] for sub, cost in tour.items() if first in sub and sub <= s),
                default=10**9,
            )
    return best[full]


@pytest.fixture
def tiny_vrp(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-7.vrp"
    path.write_text(_vrp_text(), encoding="utf-8")
    return path


def test_small_instance_solved_to_its_optimum(tiny_vrp: Path) -> None:
    optimum = _brute_force_optimum()
    got = solve_cvrp(read_cvrp(tiny_vrp), seconds=0.5, seed=1)
    assert got.cost == optimum
    assert sorted(c for r in got.routes for c in r) == list(range(1, len(_COORDS)))
    assert all(load <= _CAPACITY for load in got.loads)


def test_solve_vrplib_cli_prints_cost_and_sol_numbered_routes(
    tiny_vrp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["routes", "solve-vrplib", str(tiny_vrp), "--seconds", "0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["cost"] == _brute_force_optimum()
    assert sorted(c for r in out["routes"] for c in r) == list(range(1, len(_COORDS)))
    for r in out["routes"]:
        assert sum(_DEMANDS[c] for c in r) <= _CAPACITY


@pytest.mark.parametrize(
    "content",
    [
        "this is not an instance\n",
        _vrp_text().replace(f"CAPACITY : {_CAPACITY}", "CAPACITY : 3"),
        _vrp_text().replace("DEMAND_SECTION", "XX_SECTION"),
    ],
)
def test_solve_vrplib_cli_bad_file_is_one_line(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.vrp"
    bad.write_text(content, encoding="utf-8")
    assert main(["routes", "solve-vrplib", str(bad), "--seconds", "0.2", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wastewatch: ")
    assert str(bad) in lines[0]


def test_missing_file_is_an_instance_error(tmp_path: Path) -> None:
    with pytest.raises(InstanceError, match="no such file"):
        read_cvrp(tmp_path / "nope.vrp")


# --- daily plans ---------------------------------------------------------------------


def _assert_feasible_and_complete(day_inputs, options):  # type: ignore[no-untyped-def]
    day = plan_day(day_inputs, options)
    assert check_day(day, day_inputs, options) == []
    on_duty = {t.truck_id for t in day_inputs.trucks}
    assert {r.plan.truck_id for r in day.routes} == on_duty
    return day


def test_plan_is_feasible_with_reloads_and_keeps_every_must_collect_bin() -> None:
    inputs = kalasin_day(bins=150, trucks=2, seed=5, due_share=0.9)
    # Small trucks: the day needs several landfill trips each.
    inputs = replace(
        inputs,
        trucks=tuple(replace(t, capacity_l=8000.0, capacity_kg=2000.0) for t in inputs.trucks),
    )
    options = PlanOptions(seconds=2.0, seed=2)
    day = _assert_feasible_and_complete(inputs, options)
    assert day.missed_must_collect == ()
    assert day.must_collect > 100
    planned = {s.bin_id for p in day.plans for s in p.stops}
    shift_start = local_to_utc(inputs.service_date, time(5, 0))
    window = next_window_start(inputs.trucks, inputs.service_date, WasteStream.GENERAL)
    must = {
        c.bin.bin_id
        for c in select_candidates(
            inputs.bins, shift_start=shift_start, next_window=window, options=options
        )
        if c.required
    }
    assert must <= planned
    assert sum(len(r.unload_after) for r in day.routes) >= 2
    for r in day.routes:
        for used_l, used_kg in r.trip_loads:
            assert used_l <= 8000 * 0.9 + 1
            assert used_kg <= 2000 * 0.9 + 1


def test_streams_are_kept_apart() -> None:
    streams = (WasteStream.GENERAL, WasteStream.ORGANIC, WasteStream.RECYCLABLE)
    inputs = kalasin_day(bins=90, trucks=1, seed=7, streams=streams)
    day = _assert_feasible_and_complete(inputs, PlanOptions(seconds=1.5))
    stream_of = {b.bin_id: b.stream for b in inputs.bins}
    for r in day.routes:
        assert r.plan.waste_stream == r.truck.stream
        assert {stream_of[s.bin_id] for s in r.plan.stops} <= {r.truck.stream}
    assert {r.plan.waste_stream for r in day.routes if r.plan.stops} == set(streams)


def test_shift_limit_holds() -> None:
    inputs = kalasin_day(bins=120, trucks=3, seed=9)
    options = PlanOptions(seconds=1.5, shift_s=4 * 3600)
    day = _assert_feasible_and_complete(inputs, options)
    assert all(p.total_duration_s <= 4 * 3600 for p in day.plans)


def test_too_much_work_is_loud_not_silent() -> None:
    inputs = kalasin_day(bins=80, trucks=1, seed=4, due_share=1.0)
    options = PlanOptions(seconds=1.0, shift_s=2 * 3600)
    with pytest.raises(SolverError, match="must-collect"):
        plan_day(inputs, replace(options, strict=True))
    day = plan_day(inputs, options)
    assert day.missed_must_collect
    assert any(n.startswith("WARNING general") for n in day.notes)
    assert check_day(day, inputs, options) == []
    assert day.plans[0].stops  # what fits is still planned


def _driven(day: DayPlan) -> list[tuple[str, str, list[tuple[str, datetime]]]]:
    return [
        (r.plan.truck_id, r.plan.waste_stream.value, [(s.bin_id, s.eta) for s in r.all_stops])
        for r in day.routes
    ]


def test_an_iteration_budget_makes_a_replan_repeat_stop_for_stop() -> None:
    """A wall-clock limit lets the machine's load decide the plan; a budget does not."""
    inputs = kalasin_day(bins=120, trucks=3, seed=2, market_share=0.1)
    options = PlanOptions(seconds=60.0, seed=3, iterations=300)
    first = plan_day(inputs, options)
    again = plan_day(inputs, options)
    assert sum(len(r.all_stops) for r in first.routes) > 60
    assert first.repeat_visits > 0  # market bins: deadlines and repeats are in the budget too
    assert _driven(again) == _driven(first)
    assert not [n for n in first.notes if "iterations" in n]
    assert check_day(first, inputs, options) == []


def test_a_time_limit_that_ends_the_search_before_its_budget_is_said() -> None:
    inputs = kalasin_day(bins=60, trucks=2, seed=2)
    day = plan_day(inputs, PlanOptions(seconds=0.2, seed=3, iterations=10_000_000))
    cut = [n for n in day.notes if "iterations" in n]
    assert len(cut) == 1, day.notes
    assert cut[0].startswith("general: the solver's time limit")
    assert "a re-plan of the same inputs may differ" in cut[0]


def test_run_solver_counts_its_budget() -> None:
    inputs = kalasin_day(bins=30, trucks=1, seed=4)
    problem = _general_problem(inputs)
    run = run_solver(problem.data, seconds=60.0, seed=1, iterations=50)
    assert (run.iterations, run.budget, run.cut_by_time) == (50, 50, False)
    cut = run_solver(problem.data, seconds=0.05, seed=1, iterations=10_000_000)
    assert cut.cut_by_time
    assert not run_solver(problem.data, seconds=0.05, seed=1).cut_by_time  # no budget asked
    with pytest.raises(SolverError, match="positive iteration budget"):
        run_solver(problem.data, seconds=1.0, seed=1, iterations=0)


def test_a_failed_search_says_whether_the_clock_or_the_budget_ended_it() -> None:
    # Eighty required bins and a 1 h shift: no feasible plan exists.
    inputs = kalasin_day(bins=80, trucks=1, seed=4, due_share=1.0)
    problem = _general_problem(inputs, PlanOptions(shift_s=3600))
    with pytest.raises(SolverError, match="within 20 iterations") as budget_ended:
        run_solver(problem.data, seconds=60.0, seed=1, iterations=20)
    assert not budget_ended.value.cut_by_time
    with pytest.raises(SolverError, match=r"cut at 0.05 s") as clock_ended:
        run_solver(problem.data, seconds=0.05, seed=1, iterations=10_000_000)
    assert clock_ended.value.cut_by_time


def _general_problem(inputs: DayInputs, options: PlanOptions | None = None) -> StreamProblem:
    """The general stream's PyVRP problem of ``inputs``, every bin required."""
    trucks = [t for t in inputs.trucks if t.stream == WasteStream.GENERAL]
    cands = [
        Candidate(bin=b, required=True, load_l=100.0, load_kg=20.0, prize_m=0, crossing=None)
        for b in inputs.bins
        if b.stream == WasteStream.GENERAL
    ]
    places = stream_places(inputs, trucks, cands)
    matrix = HaversineMatrix().matrix(places)
    return build_stream_problem(
        WasteStream.GENERAL, inputs, trucks, cands, places, matrix, options or PlanOptions()
    )


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_plan_cli_bad_iterations_is_one_line(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:  # argparse's own exit, before any I/O
        main(["routes", "plan", "--date", "2026-03-04", "--iterations", value])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "--iterations" in lines[0]


def test_selection_must_optional_and_skip() -> None:
    as_of = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    shift = local_to_utc(date(2026, 3, 2), time(5, 0))
    window = shift + timedelta(days=1)

    def b(bin_id: str, fill: float, rate: float, **kw: object) -> BinInput:
        return bin_input(bin_id, 16.43, 103.5, fill_level=fill, rate_per_h=rate, as_of=as_of, **kw)

    bins = [
        b("over", 1.0, 0.0, urgency="overflowing"),
        b("soon", 0.5, 0.02),  # crosses in 15 h: before tomorrow's window
        b("later", 0.55, 0.007),  # crosses in 36 h: optional (before the window after)
        b("empty", 0.05, 0.005),  # far away: not a candidate
        b("low", 0.3, 0.012),  # within two windows but under half full: not offered
        b("state", 0.2, 0.0, collect_by=shift + timedelta(hours=3)),
    ]
    got = {
        c.bin.bin_id: c
        for c in select_candidates(
            bins,
            shift_start=shift,
            next_window=window,
            options=PlanOptions(due_fill=None, early_band=True),  # the threshold rule
        )
    }
    assert {k for k, c in got.items() if c.required} == {"over", "soon", "state"}
    assert {k for k, c in got.items() if not c.required} == {"later"}
    assert 0 < got["later"].prize_m <= PlanOptions().optional_prize_m
    assert got["over"].load_l == 240.0
    assert got["over"].load_kg == pytest.approx(48.0)


def test_weighbridge_kg_per_litre_is_learned_bounded_and_used_for_loads() -> None:
    general, organic, recyclable = WasteStream.GENERAL, WasteStream.ORGANIC, WasteStream.RECYCLABLE
    learned = kg_per_litre(
        {general: 25_000.0, organic: 9_000.0, recyclable: 50_000.0},
        {general: 100_000.0, organic: 10_000.0, recyclable: 100_000.0},
    )
    # 0.25 kg/L from the tickets; organic has too few litres to trust; recyclable's 0.5
    # is clipped to twice its loose density.
    assert learned == {general: 0.25, recyclable: 0.16}
    assert kg_per_litre({general: 0.0}, {general: 100_000.0}) == {}

    shift = local_to_utc(date(2026, 3, 2), time(5, 0))
    full = BinInput(
        bin_id="b",
        latitude=16.43,
        longitude=103.5,
        stream=general,
        volume_l=240.0,
        fill_level=1.0,
        rate_per_h=0.0,
        threshold=0.8,
        as_of=shift - timedelta(hours=1),
        urgency="overflowing",
    )
    opts = PlanOptions()
    window = shift + timedelta(days=1)
    (loose,) = select_candidates([full], shift_start=shift, next_window=window, options=opts)
    (heavy,) = select_candidates(
        [full], shift_start=shift, next_window=window, options=opts, kg_per_l=learned
    )
    assert loose.load_kg == pytest.approx(240 * 0.20)
    assert heavy.load_kg == pytest.approx(240 * 0.25)
    assert heavy.load_l == loose.load_l


def test_blind_bins_are_collected_without_waiting_for_their_level() -> None:
    shift = local_to_utc(date(2026, 3, 2), time(5, 0))
    window = shift + timedelta(days=1)

    def b(bin_id: str, as_of: datetime, **kw: object) -> BinInput:
        return bin_input(bin_id, 16.43, 103.5, fill_level=0.1, as_of=as_of, **kw)

    fresh = shift - timedelta(hours=5)
    bins = [
        b("trusted", fresh),
        b("stuck", fresh, sensor_ok=False),  # an open sensor_fault alert: level frozen
        b("silent", shift - timedelta(hours=13)),  # offline since the evening before
        b("quiet", shift - timedelta(hours=11)),  # within stale_after_h: still trusted
    ]
    got = {
        c.bin.bin_id: c
        for c in select_candidates(
            bins, shift_start=shift, next_window=window, options=PlanOptions()
        )
    }
    assert set(got) == {"stuck", "silent"}
    assert all(c.required for c in got.values())
    assert got["stuck"].load_l == pytest.approx(240.0 * 0.8)  # unknown: assume the threshold
    inputs = replace(kalasin_day(bins=4, trucks=1, seed=3, due_share=0.0), bins=tuple(bins))
    day = plan_day(inputs, PlanOptions(seconds=0.5))
    assert {s.bin_id for p in day.plans for s in p.stops} == {"stuck", "silent"}
    assert any("2 bin(s) with an untrusted or silent sensor" in n for n in day.notes)


def test_nothing_due_gives_empty_plans_with_a_note() -> None:
    inputs = kalasin_day(bins=20, trucks=2, seed=1, due_share=0.0)
    inputs = replace(inputs, bins=tuple(replace(b, rate_per_h=0.0) for b in inputs.bins))
    day = plan_day(inputs, PlanOptions(seconds=0.5))
    assert all(not p.stops for p in day.plans)
    assert len(day.plans) == 2
    assert any("nothing due" in n for n in day.notes)


# --- exports -------------------------------------------------------------------------


def test_geojson_and_driver_sheet() -> None:
    inputs = kalasin_day(bins=60, trucks=1, seed=2)
    inputs = replace(
        inputs,
        trucks=tuple(replace(t, capacity_l=6000.0, capacity_kg=1500.0) for t in inputs.trucks),
    )
    day = plan_day(inputs, PlanOptions(seconds=1.0))
    places = {DEPOT.place_id: DEPOT, LANDFILL.place_id: LANDFILL}
    places.update({b.bin_id: Place(b.bin_id, b.latitude, b.longitude) for b in inputs.bins})
    gj = day_geojson(day, places)
    assert_geojson(gj)  # RFC 7946 (tests/test_geojson.py)
    kinds = [f["properties"]["kind"] for f in gj["features"]]
    assert kinds.count("route") == 1
    assert kinds.count("stop") == len(day.plans[0].stops)
    line = gj["features"][0]["geometry"]["coordinates"]
    assert line[0] == line[-1] == [round(DEPOT.longitude, 6), round(DEPOT.latitude, 6)]
    route = day.routes[0]
    assert route.unload_after
    sheet = driver_sheet(route, {b.bin_id: f"จุด {b.bin_id}" for b in inputs.bins})
    assert "ใบงานเก็บขยะ / Collection sheet" in sheet
    assert "Unload at kls-landfill-1" in sheet
    assert "ไปเทที่" in sheet
    assert sheet.count("จุด syn-") == len(route.plan.stops)  # one line per stop, with its name


# --- distances -----------------------------------------------------------------------

_PLACES = [
    Place("a", 16.43, 103.50),
    Place("b", 16.44, 103.50),
    Place("c", 16.43, 103.51),
    Place("d", 16.45, 103.52),
    Place("e", 16.42, 103.49),
]


def test_haversine_matrix() -> None:
    m = HaversineMatrix(road_factor=1.3).matrix(_PLACES)
    assert m.duration_s is None
    assert m.distance_m[0, 0] == 0
    # 0.01 degree of latitude is 1.11 km; times the road factor
    assert m.distance_m[0, 1] == pytest.approx(1112 * 1.3, rel=0.01)
    assert (m.distance_m == m.distance_m.T).all()


def test_csv_matrix_reads_and_reports_gaps(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    rows = ["from_id,to_id,distance_m,duration_s"]
    rows += [
        f"{p.place_id},{q.place_id},{100 * i + j},{10 * i + j}"
        for i, p in enumerate(_PLACES[:3])
        for j, q in enumerate(_PLACES[:3])
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    m = CsvMatrix(path).matrix(_PLACES[:3])
    assert m.distance_m[1, 2] == 102
    assert m.duration_s is not None
    assert m.duration_s[2, 1] == 21
    with pytest.raises(DistanceError, match="no row from a to d"):
        CsvMatrix(path).matrix(_PLACES[:4])


@pytest.fixture
def fake_osrm() -> Iterator[tuple[str, list[str]]]:
    """An OSRM-like /table/v1 on 127.0.0.1: distance = 1000*|i-j| by place id order."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlsplit(self.path)
            if not url.path.startswith("/table/v1/driving/"):
                self.send_error(404)
                return
            coords = url.path.rsplit("/", 1)[1].split(";")
            lat = [float(c.split(",")[1]) for c in coords]
            key = [round((x - 16.42) * 100) for x in lat]  # a stand-in position per place
            q = parse_qs(url.query)
            src = [int(k) for k in q["sources"][0].split(";")]
            dst = [int(k) for k in q["destinations"][0].split(";")]
            body = {
                "code": "Ok",
                "distances": [[1000.0 * abs(key[i] - key[j]) for j in dst] for i in src],
                "durations": [[100.0 * abs(key[i] - key[j]) for j in dst] for i in src],
            }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def test_osrm_table_in_blocks(fake_osrm: tuple[str, list[str]]) -> None:
    url, seen = fake_osrm
    m = OsrmTable(url, max_locations=4).matrix(_PLACES)
    key = [round((p.latitude - 16.42) * 100) for p in _PLACES]
    want = np.array([[1000 * abs(a - b) for b in key] for a in key])
    assert (m.distance_m == want).all()
    assert m.duration_s is not None
    assert (m.duration_s == want // 10).all()
    assert len(seen) == 9  # 5 places in blocks of 2 -> 3 x 3 requests
    assert all(p.startswith("/table/v1/driving/") for p in seen)


def test_osrm_errors_are_distance_errors(fake_osrm: tuple[str, list[str]]) -> None:
    url, _ = fake_osrm
    with pytest.raises(DistanceError, match=r"failed|HTTP"):
        OsrmTable(url + "/nowhere-404", timeout_s=2).matrix(_PLACES[:2])
    with pytest.raises(DistanceError):
        OsrmTable("http://127.0.0.1:9", timeout_s=2).matrix(_PLACES[:2])
