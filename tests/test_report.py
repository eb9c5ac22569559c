"""`wastewatch report`: the monthly report renders, with its plots, from the real tables.

Data: the planners' replay (``tests/planning_data.py``).  The page must be one
self-contained file (plots embedded as PNG), the PNG files non-empty images, the PDF a
PDF with a page per plot, and the figures it shows equal to independent queries.  With
Chromium installed, a headless screenshot of the page must be a non-empty image.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import SessionDb, StackEnv
from tests.planning_data import PlanningData, planning_data, reader_only_cli
from wastewatch.queries.params import month_period
from wastewatch.reports import plots
from wastewatch.reports.data import BinUse, MonthData
from wastewatch.reports.report import ReportFiles, build_report, render_html

PNG = b"\x89PNG\r\n\x1a\n"


# -- pure -----------------------------------------------------------------------------------


def _use(**over: Any) -> BinUse:
    values: dict[str, Any] = {
        "bin_id": "b",
        "name": None,
        "zone_id": "z",
        "stream": "general",
        "volume_l": 240.0,
        "collections": 5,
        "median_fill_at_collection": 0.6,
        "hours_reported": 100,
        "overflow_hours": 0,
        "overflow_alerts": 0,
    }
    values.update(over)
    return BinUse(**values)


def test_rules_for_bins_to_resize_or_move() -> None:
    assert not _use().often_overflowing
    assert not _use().mostly_empty
    assert _use(overflow_hours=5).often_overflowing  # 5 % of the hours
    assert not _use(overflow_hours=4).often_overflowing
    assert _use(overflow_alerts=2).often_overflowing
    assert _use(median_fill_at_collection=0.39).mostly_empty
    assert not _use(median_fill_at_collection=0.39, collections=2).mostly_empty
    assert not _use(median_fill_at_collection=None).mostly_empty
    assert _use(hours_reported=0).overflow_share == 0.0


def _empty_month(**over: Any) -> MonthData:
    period = month_period("2026-02")
    values: dict[str, Any] = {
        "month": "2026-02",
        "period": period,
        "first_day": date(2026, 2, 1),
        "last_day": date(2026, 2, 28),
        "stream_names": {"general": ("General waste", "ขยะทั่วไป")},
        "zone_names": {},
        "tonnage": [],
        "delivered": [],
        "fills": [],
        "overflow_by_day": [],
        "bins": [],
        "alerts": [],
        "divert": {"organic": 0.5},
        "landfill": [],
    }
    values.update(over)
    return MonthData(**values)


def test_people_edited_text_is_escaped_and_an_empty_month_still_renders() -> None:
    evil = "<script>alert(1)</script>"
    month = _empty_month(
        bins=[_use(bin_id="b<1>", name=evil, median_fill_at_collection=0.1, collections=4)]
    )
    figures = plots.render(month)
    assert set(figures) == set(plots.PLOTS)
    images = {name: plots.png_bytes(fig) for name, fig in figures.items()}
    assert all(b.startswith(PNG) for b in images.values())
    page = render_html(month, images, city="<b>city</b>")
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "b&lt;1&gt;" in page
    assert "<b>city</b>" not in page
    assert "ไม่มีข้อมูล / no data" in page


def test_titles_are_bilingual_only_when_thai_can_be_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "thai_font", lambda: None)
    assert plots.titled("ขยะ", "Waste") == "Waste"
    monkeypatch.setattr(plots, "thai_font", lambda: "Loma")
    assert plots.titled("ขยะ", "Waste") == "ขยะ / Waste"


# -- against the replay --------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(test_db: SessionDb, stack_env: StackEnv) -> PlanningData:
    return planning_data(test_db, stack_env.kafka_bootstrap)


@pytest.fixture(scope="module")
def report(data: PlanningData, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    out = tmp_path_factory.mktemp("report")
    return build_report(
        data.reader_dsn,
        data.month,
        out,
        divert={"recyclable": 0.3, "organic": 0.5},
        pdf=True,
    )


@pytest.fixture(scope="module")
def admin(data: PlanningData) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(data.admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.mark.integration
def test_the_page_is_self_contained_with_every_plot(report: ReportFiles) -> None:
    page = report.html.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(plots.PLOTS)
    for encoded in images:
        raw = base64.b64decode(encoded)
        assert raw.startswith(PNG)
        assert len(raw) > 5000
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from elsewhere
    for thai, english in (
        ("รายงานขยะประจำเดือน", "Monthly waste report"),
        ("ปริมาณขยะตามประเภทและเขต", "Tonnage by stream and zone"),
        ("ระดับขยะเมื่อเก็บ", "Fill level at collection"),
        ("ขยะล้นถัง", "Overflow incidents"),
        ("อายุหลุมฝังกลบ", "Landfill projection"),
        ("ถังที่ควรปรับขนาดหรือย้าย", "Bins to resize or move"),
        ("การแจ้งเตือน", "Alerts"),
    ):
        assert thai in page
        assert english in page


@pytest.mark.integration
def test_png_files_and_pdf(report: ReportFiles) -> None:
    assert set(report.pngs) == set(plots.PLOTS)
    for path in report.pngs.values():
        raw = path.read_bytes()
        assert raw.startswith(PNG)
        assert len(raw) > 5000, path
    assert report.pdf is not None
    pdf = report.pdf.read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1 + len(plots.PLOTS)


@pytest.mark.integration
def test_the_figures_match_the_tables(
    report: ReportFiles, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    month = report.data
    p = month_period(data.month)
    n, kg = admin.execute(
        "select count(*), coalesce(sum(mass_kg::float8), 0) from collections "
        "where time >= %s and time < %s",
        [p.start, p.end],
    ).fetchone()
    assert month.collections == n > 0
    assert month.collected_kg == pytest.approx(kg, rel=1e-6)
    assert len(month.fills) == n
    page = report.html.read_text("utf-8")
    assert f"{n:,}" in page
    assert all(z in page for z, *_ in month.tonnage)
    opened = admin.execute(
        "select count(*) from alerts where opened_at >= %s and opened_at < %s", [p.start, p.end]
    ).fetchone()[0]
    assert sum(c for _, _, c in month.alerts) == opened
    days = [d for d, _, _ in month.overflow_by_day]
    assert days[0] == date(2026, 9, 1)
    assert days[-1] == date(2026, 9, 30)
    assert len(days) == 30
    # every flagged bin is in the page, under the right heading
    flagged = [b for b in month.bins if b.often_overflowing or b.mostly_empty]
    assert flagged, "the replay flagged no bin to resize or move"
    section = page.split("Bins to resize or move", 1)[1]
    assert all(b.bin_id in section for b in flagged)


@pytest.mark.integration
def test_landfill_projection_as_of_the_months_end(
    report: ReportFiles, data: PlanningData, admin: psycopg.Connection[Any]
) -> None:
    (scenario,) = [s for s in report.data.landfill if s.site.site_id == data.site]
    last = admin.execute(
        "select max(day) from landfill_daily where site_id = %s and day <= '2026-09-30'",
        [data.site],
    ).fetchone()[0]
    assert scenario.baseline.as_of == last
    assert scenario.diverted is not None
    assert scenario.diverted.rate_m3_per_day < scenario.baseline.rate_m3_per_day
    assert scenario.baseline.full_date is not None
    assert scenario.diverted.full_date is not None
    assert scenario.diverted.full_date >= scenario.baseline.full_date
    assert str(scenario.diverted.full_date) in report.html.read_text("utf-8")


@pytest.mark.integration
def test_the_command(
    data: PlanningData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = reader_only_cli("report", data, monkeypatch, capsys)
    code, out, err = run("--month", data.month, "--out", str(tmp_path / "r"))
    assert code == 0, err
    written = [Path(line) for line in out.splitlines()]
    assert written[0] == tmp_path / "r" / f"report-{data.month}.html"
    assert len(written) == 1 + len(plots.PLOTS)
    assert all(p.stat().st_size > 0 for p in written)
    (tmp_path / "file").write_text("x")
    for args, says in (
        (("--month", "2026-13", "--out", str(tmp_path)), "--month: '2026-13' is not a month"),
        (("--month", data.month, "--out", str(tmp_path), "--divert", "plastic=1"), "unknown"),
        (("--month", data.month, "--out", str(tmp_path / "file")), "is not a folder"),
    ):
        code, out, err = run(*args)
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert says in err
    code, out, err = run("--month", "2020-01", "--out", str(tmp_path / "empty"))
    assert code == 0
    assert "the report is empty" in err


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_headless_screenshot_of_the_page(report: ReportFiles, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium: `make test` as root installs it (scripts/test_tools.sh)")
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # No network beyond this machine: keep Chromium from trying Google's services.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1100,4000",
            f"--screenshot={shot}",
            report.html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    raw = shot.read_bytes()
    assert raw.startswith(PNG)
    assert len(raw) > 10_000
