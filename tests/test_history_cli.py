"""`wastewatch history`: parameters (pure) and its outputs against the real TimescaleDB.

The data is the planners' replay (``tests/planning_data.py``: the simulator through the
sink's row code and the real processors).  Every figure the CLI prints is checked
against an independent query on the source tables (``collections``, ``readings``),
not against the rollups the CLI reads, so a wrong join or bucket would show.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.conftest import SessionDb, StackEnv
from tests.planning_data import PlanningData, planning_data, reader_only_cli
from wastewatch.queries.errors import BadParameterError
from wastewatch.queries.formats import csv_text
from wastewatch.queries.params import (
    BANGKOK,
    check_known,
    month_period,
    parse_instant,
    resolve_period,
    split_values,
)

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


# -- pure: parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "is_end", "expected"),
    [
        ("2026-09-01", False, datetime(2026, 8, 31, 17, tzinfo=UTC)),
        ("2026-09-01", True, datetime(2026, 9, 1, 17, tzinfo=UTC)),  # the whole day
        ("2026-09-01T08:00", False, datetime(2026, 9, 1, 1, tzinfo=UTC)),  # Bangkok
        ("2026-09-01T08:00Z", False, datetime(2026, 9, 1, 8, tzinfo=UTC)),
        ("2026-09-01T08:00:00+07:00", True, datetime(2026, 9, 1, 1, tzinfo=UTC)),
        ("2026-09-01T08:00:00 07:00", False, datetime(2026, 9, 1, 1, tzinfo=UTC)),  # lost "+"
        ("2026-09-01 08:00", False, datetime(2026, 9, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, is_end: bool, expected: datetime) -> None:
    assert parse_instant(text, param="--from", is_end=is_end) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-02-30",
        "2026-09-01T25:00",
        "x" * 60,
        "0001-01-01T00:00+14:00",
        "9999-12-31",
        "1899-12-31T23:00Z",
    ],
)
def test_parse_instant_rejects_with_the_parameter_named(text: str) -> None:
    with pytest.raises(BadParameterError) as err:
        parse_instant(text, param="--from")
    assert str(err.value).startswith("--from: ")
    assert err.value.param == "--from"


def test_month_is_the_bangkok_calendar_month() -> None:
    p = month_period("2026-12")
    assert p.start == datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert p.end == datetime(2026, 12, 31, 17, tzinfo=UTC)
    assert p.start.astimezone(BANGKOK).date() == date(2026, 12, 1)
    for bad in ("2026-13", "2026-9", "26-09", "2026-00", "september"):
        with pytest.raises(BadParameterError, match="YYYY-MM"):
            month_period(bad)
    # its end would be 10000-01-01: beyond any date Python or the API can take
    for far in ("9999-12", "9999-01", "1899-12"):
        with pytest.raises(BadParameterError, match="out of range; give a month from 1900-01"):
            month_period(far, param="month")
    assert month_period("9998-12").end == datetime(9998, 12, 31, 17, tzinfo=UTC)


def test_period_kinds_exclude_each_other_and_from_must_precede_to() -> None:
    with pytest.raises(BadParameterError, match="only one of"):
        resolve_period(start=None, end=None, month="2026-09", days=3, now=NOW)
    with pytest.raises(BadParameterError, match="only one of"):
        resolve_period(start="2026-09-01", end=None, month="2026-09", now=NOW)
    with pytest.raises(BadParameterError, match="not before"):
        resolve_period(start="2026-09-10", end="2026-09-01", now=NOW)
    with pytest.raises(BadParameterError, match="out of range"):
        resolve_period(start=None, end=None, days=0, now=NOW)
    same_day = resolve_period(start="2026-09-01", end="2026-09-01", now=NOW)
    assert same_day.end is not None
    assert same_day.start is not None
    assert same_day.end - same_day.start == timedelta(days=1)
    assert resolve_period(start=None, end=None, now=NOW, default_days=30).start == NOW - timedelta(
        days=30
    )


def test_values_split_dedupe_and_unknown_ones_are_listed() -> None:
    assert split_values(["a,b", " c ", "a", ""], param="--zone") == ("a", "b", "c")
    with pytest.raises(BadParameterError, match="at most"):
        split_values([",".join(str(i) for i in range(101))], param="--zone")
    with pytest.raises(BadParameterError, match=r"unknown zone 'x'; known: z1, z2"):
        check_known("--zone", ["z1", "x"], ["z2", "z1"], what="zone")


def test_csv_quotes_and_defuses_formulas() -> None:
    text = csv_text(["a", "b"], [["=cmd()", 'say "hi", ok'], [None, 1.5]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b"], ["'=cmd()", 'say "hi", ok'], ["", "1.5"]]


# -- against the replay --------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(test_db: SessionDb, stack_env: StackEnv) -> PlanningData:
    return planning_data(test_db, stack_env.kafka_bootstrap)


@pytest.fixture(scope="module")
def admin(data: PlanningData) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(data.admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def cli(
    data: PlanningData, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run `wastewatch history ...` in-process; only the reader DSN leads anywhere."""
    return reader_only_cli("history", data, monkeypatch, capsys)


def _json(cli: Any, *args: str) -> dict[str, Any]:
    code, out, err = cli(*args, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.integration
def test_daily_totals_per_zone_match_the_collections_table(
    cli: Any, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    zones = ",".join(data.zones)
    doc = _json(cli, "--month", data.month, "--zone", zones, "--per", "day")
    assert doc["per"] == "day"
    assert doc["by"] == "zone"
    got: dict[tuple[str, str, str], tuple[int, float]] = {
        (r["period"], r["zone_id"], r["stream"]): (r["collections"], r["mass_kg"])
        for r in doc["rows"]
    }
    expected = {
        (str(r[0]), r[1], r[2]): (int(r[3]), float(r[4]))
        for r in admin.execute(
            "select (time at time zone 'Asia/Bangkok')::date, zone_id, stream, count(*), "
            "sum(mass_kg::float8) from collections where zone_id = any(%s) "
            "and time >= %s and time < %s group by 1, 2, 3",
            [list(data.zones), *_month(data)],
        )
    }
    assert expected, "the replay produced no collection"
    with_collections = {k: v for k, v in got.items() if v[0]}
    assert set(with_collections) == set(expected)
    for key, (n, kg) in expected.items():
        assert with_collections[key][0] == n, key
        assert with_collections[key][1] == pytest.approx(kg, abs=0.06), key
    # days with readings but no collection still show their fill statistics
    assert all(r["bins_reporting"] > 0 for r in doc["rows"] if not r["collections"])


def _month(data: PlanningData) -> tuple[datetime, datetime]:
    p = month_period(data.month)
    assert p.start is not None
    assert p.end is not None
    return p.start, p.end


@pytest.mark.integration
def test_week_and_month_totals_agree_with_days(cli: Any, data: PlanningData) -> None:
    zones = ",".join(data.zones)
    totals = {}
    for per in ("day", "week", "month"):
        doc = _json(cli, "--month", data.month, "--zone", zones, "--per", per, "--by", "city")
        periods = [date.fromisoformat(r["period"]) for r in doc["rows"]]
        assert periods == sorted(periods)
        assert len(set(periods)) == len(periods)
        if per == "week":
            assert all(p.weekday() == 0 for p in periods)  # weeks start on Monday
        if per == "month":
            assert periods == [date(2026, 9, 1)]
        totals[per] = (
            sum(r["collections"] for r in doc["rows"]),
            round(sum(r["mass_kg"] for r in doc["rows"]), 0),
            sum(r["readings"] for r in doc["rows"]),
            sum(r["overflow_hours"] for r in doc["rows"]),
        )
    assert totals["day"] == totals["week"] == totals["month"]
    assert totals["month"][0] > 0
    assert totals["month"][2] > 0


@pytest.mark.integration
def test_one_bins_fill_average_matches_its_readings(
    cli: Any, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    bin_id = data.bins[2]
    doc = _json(cli, "--bin", bin_id, "--from", "2026-09-03", "--to", "2026-09-04")
    assert doc["by"] == "bin"
    assert {r["bin_id"] for r in doc["rows"]} == {bin_id}
    assert [r["period"] for r in doc["rows"]] == ["2026-09-03", "2026-09-04"]
    for row in doc["rows"]:
        day = date.fromisoformat(row["period"])
        start = datetime(day.year, day.month, day.day, tzinfo=BANGKOK)
        avg, top, n = admin.execute(
            "select avg(fill_level::numeric), max(fill_level), count(*) from readings "
            "where bin_id = %s and time >= %s and time < %s and fill_level is not null "
            "and flags & 70 = 0",  # SENSOR_FAULT | NO_ECHO | TILTED: untrusted levels
            [bin_id, start, start + timedelta(days=1)],
        ).fetchone()
        assert n > 0
        assert row["fill_avg"] == pytest.approx(float(avg), abs=1e-3)
        assert row["fill_max"] >= float(top) - 1e-4
        collected = admin.execute(
            "select count(*) from collections where bin_id = %s and time >= %s and time < %s",
            [bin_id, start, start + timedelta(days=1)],
        ).fetchone()
        assert row["collections"] == collected[0]


@pytest.mark.integration
def test_stream_filter_and_csv_and_table_show_the_same_rows(cli: Any, data: PlanningData) -> None:
    args = ("--month", data.month, "--zone", ",".join(data.zones), "--stream", "organic")
    rows = _json(cli, *args, "--per", "week")["rows"]
    assert rows
    assert {r["stream"] for r in rows} == {"organic"}
    code, out, _ = cli(*args, "--per", "week", "--format", "csv")
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [(r["period"], r["zone_id"], int(r["collections"])) for r in parsed] == [
        (r["period"], r["zone_id"], r["collections"]) for r in rows
    ]
    code, out, _ = cli(*args, "--per", "week")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Collections and fill per week, 2026-09-01 00:00")
    assert lines[1].split()[:3] == ["period", "zone_id", "stream"]
    assert len(lines) == 3 + len(rows)
    per_zone: dict[str, int] = defaultdict(int)
    for r in rows:
        per_zone[r["zone_id"]] += r["collections"]
    assert all(z in out for z in per_zone)


@pytest.mark.integration
def test_an_empty_period_is_no_rows_not_an_error(cli: Any, data: PlanningData) -> None:
    doc = _json(cli, "--month", "2020-01", "--zone", data.zones[0])
    assert doc["rows"] == []
    code, out, _ = cli("--month", "2020-01", "--zone", data.zones[0])
    assert code == 0
    assert "no collections or readings" in out


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--zone", "' or 1=1 --"), '--zone: unknown zone "\' or 1=1 --"; known: '),
        (("--stream", "plastic"), "--stream: unknown stream 'plastic'; known: general"),
        (("--bin", "nope"), "--bin: unknown bin 'nope'"),
        (("--from", "2026-09-10", "--to", "2026-09-01"), "--from: 2026-09-10 is not before"),
        (("--from", "last tuesday"), "--from: 'last tuesday' is not a date"),
        (("--month", "2026-13"), "--month: '2026-13' is not a month"),
        (("--month", "9999-12"), "--month: '9999-12' is out of range"),
        (("--to", "9999-12-31"), "--to: '9999-12-31' is out of range"),
        (("--month", "2026-09", "--days", "7"), "give only one of"),
        (("--per", "year"), "argument --per: invalid choice"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    cli: Any, data: PlanningData, args: tuple[str, ...], message: str
) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
