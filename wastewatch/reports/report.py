"""The monthly report: one self-contained HTML page (plots embedded), the plots as
PNG files beside it, and optionally a PDF (matplotlib's PdfPages).

Reads through the read-only role; every figure is for one Asia/Bangkok calendar
month.  The landfill projection is the processor's own computation on the days
up to the month's last day, so a report made again later shows the same.
Everything from the database is HTML-escaped (bin names are edited by people).
"""

from __future__ import annotations

import asyncio
import base64
import html
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from wastewatch.queries import BANGKOK, month_period
from wastewatch.reports import plots
from wastewatch.reports.data import (
    EMPTY_FILL,
    EMPTY_MIN_COLLECTIONS,
    OVERFLOW_ALERTS,
    OVERFLOW_LEVEL,
    OVERFLOW_SHARE,
    BinUse,
    MonthData,
    load_month,
)

__all__ = ["ReportFiles", "build_report", "render_html"]


@dataclass(frozen=True)
class ReportFiles:
    """What `build_report` wrote, and the data it drew."""

    html: Path
    pngs: dict[str, Path]
    pdf: Path | None
    data: MonthData


async def _load(dsn: str, month: str, divert: dict[str, float], window_days: int) -> MonthData:
    period = month_period(month)
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, connect_timeout=10
    ) as conn:
        await conn.execute("set default_transaction_read_only = on")
        return await load_month(conn, month, period, divert=divert, window_days=window_days)


def build_report(
    dsn: str,
    month: str,
    out_dir: Path,
    *,
    divert: dict[str, float],
    window_days: int = 28,
    city: str = "kalasin",
    pdf: bool = False,
) -> ReportFiles:
    """Read the month, draw the plots, write the files into ``out_dir``."""
    data = asyncio.run(_load(dsn, month, divert, window_days))
    figures = plots.render(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    pngs: dict[str, Path] = {}
    for name, fig in figures.items():
        images[name] = plots.png_bytes(fig)
        pngs[name] = out_dir / f"report-{month}-{name}.png"
        pngs[name].write_bytes(images[name])
    page = out_dir / f"report-{month}.html"
    page.write_text(render_html(data, images, city=city), encoding="utf-8")
    pdf_path = None
    if pdf:
        pdf_path = out_dir / f"report-{month}.pdf"
        plots.write_pdf(pdf_path, figures, _summary_lines(data, city))
    return ReportFiles(html=page, pngs=pngs, pdf=pdf_path, data=data)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _t(kg: float) -> str:
    return f"{kg / 1000:,.2f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> str:
    out = ["<table><thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    count = 0
    for row in rows:
        count += 1
        cells = [
            f'<td class="n">{_e(v)}</td>' if i >= numeric_from else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    if not count:
        out.append(f'<tr><td colspan="{len(head)}">ไม่มีข้อมูล / no data</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _img(images: dict[str, bytes], name: str, alt: str) -> str:
    data = base64.b64encode(images[name]).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _stream(data: MonthData, stream: str) -> str:
    en, th = data.stream_names.get(stream, (stream, stream))
    return f"{th} / {en}"


def _zone(data: MonthData, zone: str) -> str:
    en, th = data.zone_names.get(zone, (zone, zone))
    return f"{zone} ({th} / {en})" if zone in data.zone_names else zone


def _summary_lines(data: MonthData, city: str) -> list[tuple[str, str]]:
    """Key figures as (label, value), for the HTML summary and the PDF's first page."""
    fills = [f for _, f in data.fills]
    overflow_hours = sum(h for _, h, _ in data.overflow_by_day)
    overflow_alerts = sum(a for _, _, a in data.overflow_by_day)
    critical = sum(n for _, s, n in data.alerts if s == "critical")
    delivered = sum(kg for _, kg, _ in data.delivered)
    return [
        ("เมือง / City", city),
        ("ช่วงเวลา / Period", f"{data.first_day} .. {data.last_day} (Asia/Bangkok)"),
        ("จำนวนครั้งที่เก็บ / Collections detected", f"{data.collections:,}"),
        ("ขยะที่เก็บ (ประมาณ) / Collected, estimated (t)", _t(data.collected_kg)),
        ("ขยะเข้าหลุมฝังกลบ (ชั่ง) / Delivered to landfill, weighed (t)", _t(delivered)),
        ("ถังที่รายงาน / Bins reporting", f"{data.bins_reporting:,}"),
        ("ค่าที่อ่านได้ / Readings", f"{data.readings:,}"),
        (
            "ระดับเฉลี่ยเมื่อเก็บ / Average fill when collected",
            _pct(statistics.fmean(fills) if fills else None),
        ),
        ("ชั่วโมงที่ถังล้น / Overflowing bin-hours", f"{overflow_hours:,}"),
        ("การแจ้งเตือนขยะล้น / Overflow alerts", f"{overflow_alerts:,}"),
        (
            "การแจ้งเตือนทั้งหมด (วิกฤต) / Alerts opened (critical)",
            f"{sum(n for _, _, n in data.alerts):,} ({critical:,})",
        ),
    ]


def _tonnage_section(data: MonthData, images: dict[str, bytes]) -> str:
    streams = sorted({s for _, s, *_ in data.tonnage})
    zones = sorted({z for z, *_ in data.tonnage})
    rows = []
    for zone in zones:
        kgs = [
            sum(kg for z, s, _n, kg, _l in data.tonnage if z == zone and s == stream)
            for stream in streams
        ]
        rows.append([_zone(data, zone), *(_t(k) for k in kgs), _t(sum(kgs))])
    totals = [sum(kg for _z, s, _n, kg, _l in data.tonnage if s == st) for st in streams]
    if zones:
        rows.append(["รวม / Total", *(_t(k) for k in totals), _t(sum(totals))])
    delivered = [(_stream(data, s), _t(kg), days) for s, kg, days in data.delivered]
    return (
        "<h2>ปริมาณขยะตามประเภทและเขต / Tonnage by stream and zone</h2>"
        "<p>มวลประมาณจากปริมาตรที่เก็บคูณความหนาแน่นของขยะแต่ละประเภท (เฉพาะถังที่มีเซนเซอร์) "
        "และมวลที่ชั่งจริงที่หลุมฝังกลบ / Mass estimated from the collected volume times each "
        "stream's loose density (sensored bins only), and the mass weighed at the landfill.</p>"
        + _img(images, "tonnage", "tonnage by zone and stream")
        + _table(
            ["เขต / Zone", *(_stream(data, s) + " (t)" for s in streams), "รวม / Total (t)"], rows
        )
        + "<h3>ชั่งที่หลุมฝังกลบ / Weighed at the landfill</h3>"
        + _table(["ประเภท / Stream", "ตัน / t", "วันที่ชั่ง / Days weighed"], delivered)
    )


def _fill_section(data: MonthData, images: dict[str, bytes]) -> str:
    rows = []
    for stream in sorted({s for s, _ in data.fills}):
        f = [x for s, x in data.fills if s == stream]
        rows.append(
            [
                _stream(data, stream),
                len(f),
                _pct(statistics.fmean(f)),
                _pct(statistics.median(f)),
                _pct(sum(x < EMPTY_FILL for x in f) / len(f)),
                _pct(sum(x >= 0.8 for x in f) / len(f)),
            ]
        )
    return (
        "<h2>ระดับขยะเมื่อเก็บ / Fill level at collection</h2>"
        "<p>ถังที่ถูกเก็บขณะยังว่างมากคือเที่ยวรถที่อาจไม่จำเป็น / Bins emptied while mostly "
        "empty are trips that could be saved.</p>"
        + _img(images, "fill-at-collection", "histogram of fill level at collection")
        + _table(
            [
                "ประเภท / Stream",
                "ครั้ง / Collections",
                "เฉลี่ย / Mean",
                "มัธยฐาน / Median",
                f"ต่ำกว่า / Below {EMPTY_FILL:.0%}",
                "80% ขึ้นไป / At or over 80%",
            ],
            rows,
        )
    )


def _overflow_section(data: MonthData, images: dict[str, bytes]) -> str:
    worst = sorted(
        (b for b in data.bins if b.overflow_hours or b.overflow_alerts),
        key=lambda b: (-b.overflow_hours, -b.overflow_alerts, b.bin_id),
    )[:10]
    rows = [
        [b.bin_id, b.name or "", b.zone_id or "", b.stream, b.overflow_hours, b.overflow_alerts]
        for b in worst
    ]
    return (
        "<h2>ขยะล้นถัง / Overflow incidents</h2>"
        f"<p>ชั่วโมงที่ระดับสูงสุดของถังถึง {OVERFLOW_LEVEL:.2f} และการแจ้งเตือนขยะล้นที่เปิดขึ้น / "
        f"Bin-hours whose highest reading reached {OVERFLOW_LEVEL:.2f}, and overflow alerts "
        "opened.</p>"
        + _img(images, "overflows", "overflow incidents per day")
        + "<h3>ถังที่ล้นบ่อยที่สุด / Bins overflowing most</h3>"
        + _table(
            [
                "ถัง / Bin",
                "ชื่อ / Name",
                "เขต / Zone",
                "ประเภท / Stream",
                "ชั่วโมงที่ล้น / Overflow hours",
                "การแจ้งเตือน / Alerts",
            ],
            rows,
            numeric_from=4,
        )
    )


def _landfill_section(data: MonthData, images: dict[str, bytes]) -> str:
    shares = ", ".join(f"{_stream(data, k)} {v:.0%}" for k, v in data.divert.items())
    rows = []
    for s in data.landfill:
        b, d = s.baseline, s.diverted
        gained = (d.full_date - b.full_date).days if d and d.full_date and b.full_date else None
        rows.append(
            [
                s.site.site_id,
                b.as_of,
                f"{b.remaining_m3:,.0f}",
                _pct(b.fill_fraction),
                f"{b.rate_m3_per_day:,.1f}",
                f"{b.full_date or '–'} ({b.full_date_early or '–'} .. {b.full_date_late or '–'})",
                f"{d.full_date or '–'}" if d else "–",
                "–" if gained is None else f"{gained:+d}",
            ]
        )
    return (
        "<h2>อายุหลุมฝังกลบ / Landfill projection</h2>"
        f"<p>คาดการณ์ ณ สิ้นเดือน ทั้งแบบปัจจุบันและเมื่อคัดแยก {_e(shares)} ออกจากหลุมฝังกลบ / "
        f"Projection as of the month's end, as things are and with {_e(shares)} diverted "
        "from the landfill.</p>"
        + _img(images, "landfill", "landfill airspace projection")
        + _table(
            [
                "หลุม / Site",
                "ณ วันที่ / As of",
                "เหลือ / Left (m³)",
                "ใช้ไป / Used",
                "อัตรา / Rate (m³/day)",
                "เต็ม / Full (interval)",
                "เต็มเมื่อคัดแยก / Full with diversion",
                "วันที่ได้เพิ่ม / Days gained",
            ],
            rows,
        )
    )


def _bin_rows(bins: Iterable[BinUse]) -> list[list[Any]]:
    return [
        [
            b.bin_id,
            b.name or "",
            b.zone_id or "",
            b.stream,
            f"{b.volume_l:,.0f}",
            b.collections,
            _pct(b.median_fill_at_collection),
            _pct(b.overflow_share),
            b.overflow_alerts,
        ]
        for b in bins
    ]


_BIN_HEAD = [
    "ถัง / Bin",
    "ชื่อ / Name",
    "เขต / Zone",
    "ประเภท / Stream",
    "ลิตร / Litres",
    "ครั้งที่เก็บ / Collections",
    "มัธยฐานเมื่อเก็บ / Median fill",
    "สัดส่วนชั่วโมงที่ล้น / Share of hours overflowing",
    "แจ้งเตือนล้น / Overflow alerts",
]


def _bins_section(data: MonthData, images: dict[str, bytes]) -> str:
    over = sorted(
        (b for b in data.bins if b.often_overflowing), key=lambda b: (-b.overflow_share, b.bin_id)
    )
    empty = sorted(
        (b for b in data.bins if b.mostly_empty and not b.often_overflowing),
        key=lambda b: (b.median_fill_at_collection or 0.0, b.bin_id),
    )
    return (
        "<h2>ถังที่ควรปรับขนาดหรือย้าย / Bins to resize or move</h2>"
        + _img(images, "bins-to-review", "bins: fill at collection against overflow")
        + "<h3>ล้นบ่อย: ใช้ถังใหญ่ขึ้น เก็บถี่ขึ้น หรือเพิ่มถัง / Often overflowing: a larger "
        "bin, more frequent collection, or a second bin</h3>"
        f"<p>ล้นอย่างน้อย {OVERFLOW_SHARE:.0%} ของชั่วโมงที่รายงาน หรือมีการแจ้งเตือนขยะล้น "
        f"{OVERFLOW_ALERTS} ครั้งขึ้นไป / Overflowing in at least {OVERFLOW_SHARE:.0%} of its "
        f"reported hours, or {OVERFLOW_ALERTS} or more overflow alerts.</p>"
        + _table(_BIN_HEAD, _bin_rows(over), numeric_from=4)
        + "<h3>เก็บขณะยังว่าง: ใช้ถังเล็กลง เก็บน้อยลง หรือย้ายไปจุดที่มีขยะมากกว่า / "
        "Collected mostly empty: a smaller bin, fewer collections, or a busier spot</h3>"
        f"<p>มัธยฐานของระดับเมื่อเก็บต่ำกว่า {EMPTY_FILL:.0%} จากการเก็บอย่างน้อย "
        f"{EMPTY_MIN_COLLECTIONS} ครั้ง / Median fill when emptied below {EMPTY_FILL:.0%} over "
        f"at least {EMPTY_MIN_COLLECTIONS} collections.</p>"
        + _table(_BIN_HEAD, _bin_rows(empty), numeric_from=4)
    )


def _alerts_section(data: MonthData, images: dict[str, bytes]) -> str:
    rows = [[kind, severity, n] for kind, severity, n in data.alerts]
    return (
        "<h2>การแจ้งเตือน / Alerts</h2>"
        + _img(images, "alerts", "alerts opened per kind")
        + _table(["ชนิด / Kind", "ระดับ / Severity", "จำนวน / Count"], rows, numeric_from=2)
    )


_CSS = """
body { font-family: "Sarabun", "Loma", "Noto Sans Thai", "DejaVu Sans", sans-serif;
       margin: 2em auto; max-width: 1000px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #2ca02c; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 0.8em 0; }
.meta { color: #666; font-size: 0.9em; }
"""


def render_html(data: MonthData, images: dict[str, bytes], *, city: str = "kalasin") -> str:
    """The whole page, every plot embedded (base64 PNG): one file to e-mail or publish."""
    made = datetime.now(UTC).astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")
    summary = _table(["", ""], _summary_lines(data, city), numeric_from=1)
    return (
        '<!DOCTYPE html>\n<html lang="th"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>รายงานขยะประจำเดือน {_e(data.month)} / Monthly waste report {_e(data.month)}"
        f"</title><style>{_CSS}</style></head><body>"
        f"<h1>รายงานขยะประจำเดือน {_e(data.month)}<br>Monthly waste report {_e(data.month)}</h1>"
        f'<p class="meta">{_e(city)} · {_e(data.first_day)} .. {_e(data.last_day)} '
        f"(Asia/Bangkok) · สร้างเมื่อ / made {_e(made)} · wastewatch</p>"
        "<h2>สรุป / Summary</h2>"
        + summary
        + _tonnage_section(data, images)
        + _fill_section(data, images)
        + _overflow_section(data, images)
        + _landfill_section(data, images)
        + _bins_section(data, images)
        + _alerts_section(data, images)
        + '<p class="meta">ข้อมูลจากเซนเซอร์ถังขยะและตาชั่งหลุมฝังกลบ ผ่านบัญชีอ่านอย่างเดียว / '
        "Data from the bins' sensors and the landfill weighbridge, read through the read-only "
        "database role. Masses from collections are estimates (volume × loose density).</p>"
        "</body></html>\n"
    )
