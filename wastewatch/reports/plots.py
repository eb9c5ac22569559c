"""The monthly report's plots: matplotlib figures drawn by Agg (no pyplot, no display).

Titles are Thai and English when a Thai font is installed (``fonts-tlwg-loma-ttf``,
which ``scripts/bootstrap.sh`` installs; any TLWG or Noto Thai font works):
matplotlib then falls back glyph by glyph from DejaVu Sans to it.  Without
one, plots are titled in English only and the HTML page carries the Thai.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.dates import date2num as _date2num
from matplotlib.figure import Figure

from wastewatch.reports.data import (
    EMPTY_FILL,
    OVERFLOW_LEVEL,
    OVERFLOW_SHARE,
    MonthData,
)

__all__ = ["PLOTS", "png_bytes", "render", "thai_font", "titled", "write_pdf"]

#: matplotlib's own date -> axis number conversion (typed here: the library's is not).
date2num: Callable[[Sequence[date]], Any] = _date2num

THAI_FONTS: Final = (
    "Loma",
    "Garuda",
    "Norasi",
    "Sawasdee",
    "Umpush",
    "Waree",
    "Noto Sans Thai",
    "Noto Sans Thai Looped",
    "Tlwg Typo",
)
STREAM_COLORS: Final = {
    "general": "#7f7f7f",
    "recyclable": "#1f77b4",
    "organic": "#2ca02c",
    "hazardous": "#d62728",
}
SEVERITY_COLORS: Final = {"info": "#9ecae1", "warning": "#fd8d3c", "critical": "#d62728"}


@cache
def thai_font() -> str | None:
    """The family name of an installed font with Thai glyphs, or None."""
    for family in THAI_FONTS:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return family
    return None


def titled(thai: str, english: str) -> str:
    """A bilingual title when Thai can be drawn, else the English one."""
    return f"{thai} / {english}" if thai_font() else english


@contextmanager
def _style() -> Iterator[None]:
    family = ["DejaVu Sans"] + ([thai_font() or ""] if thai_font() else [])
    with rc_context(
        {
            "font.family": family,
            "font.size": 9,
            "axes.titlesize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
        }
    ):
        yield


def _figure(title: str, has_data: bool, height: float = 4.2) -> tuple[Figure, Axes | None]:
    """A figure with one axes titled ``title``, and that axes to draw on; when there is
    no data, the figure says so and the axes is None."""
    fig = Figure(figsize=(9.0, height), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    if has_data:
        return fig, ax
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, fontsize=14)
    ax.set_axis_off()
    return fig, None


def _stream_label(data: MonthData, stream: str) -> str:
    en, th = data.stream_names.get(stream, (stream, stream))
    return f"{th} / {en}" if thai_font() else en


def tonnage(data: MonthData) -> Figure:
    """Collected mass per zone, stacked by stream, in tonnes."""
    fig, ax = _figure(
        titled("ขยะที่เก็บได้ตามเขตและประเภท (ตัน)", "Collected waste by zone and stream (t)"),
        bool(data.tonnage),
    )
    if ax is None:
        return fig
    zones = sorted({z for z, *_ in data.tonnage})
    streams = sorted({s for _, s, *_ in data.tonnage})
    bottom = [0.0] * len(zones)
    for stream in streams:
        values = [
            sum(kg for z, s, _n, kg, _l in data.tonnage if z == zone and s == stream) / 1000
            for zone in zones
        ]
        ax.bar(
            range(len(zones)),
            values,
            bottom=bottom,
            label=_stream_label(data, stream),
            color=STREAM_COLORS.get(stream),
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(zones)), [_zone_label(data, z) for z in zones], rotation=30, ha="right")
    ax.set_ylabel("t")
    ax.legend(frameon=False, loc="best")
    return fig


def _zone_label(data: MonthData, zone: str) -> str:
    en, _th = data.zone_names.get(zone, (zone, zone))
    return en


def fill_at_collection(data: MonthData) -> Figure:
    """How full bins were when emptied: a histogram per stream."""
    fig, ax = _figure(titled("ระดับขยะในถังเมื่อเก็บ", "Fill level when collected"), bool(data.fills))
    if ax is None:
        return fig
    streams = sorted({s for s, _ in data.fills})
    edges = [i / 20 for i in range(21)]
    ax.hist(
        [[f for s, f in data.fills if s == stream] for stream in streams],
        bins=edges,
        stacked=True,
        label=[_stream_label(data, s) for s in streams],
        color=[STREAM_COLORS.get(s, "#999999") for s in streams],
    )
    ax.axvline(EMPTY_FILL, color="black", linestyle=":", linewidth=1)
    ax.axvline(0.8, color="black", linestyle="--", linewidth=1)
    ax.text(EMPTY_FILL, ax.get_ylim()[1] * 0.95, " mostly empty", fontsize=8, va="top")
    ax.text(0.8, ax.get_ylim()[1] * 0.95, " threshold 0.8", fontsize=8, va="top")
    ax.set_xlim(0, 1)
    ax.set_xlabel("fill level (0..1)")
    ax.set_ylabel("collections")
    ax.legend(frameon=False, loc="upper left")
    return fig


def overflows(data: MonthData) -> Figure:
    """Overflowing bin-hours per day, and overflow alerts opened."""
    fig, ax = _figure(
        titled("ขยะล้นถังรายวัน", "Overflow incidents per day"), bool(data.overflow_by_day)
    )
    if ax is None:
        return fig
    days = date2num([d for d, _, _ in data.overflow_by_day])
    ax.bar(days, [h for _, h, _ in data.overflow_by_day], color="#fd8d3c", label="bin-hours ≥ 0.98")
    ax2 = ax.twinx()
    ax2.plot(
        days,
        [a for _, _, a in data.overflow_by_day],
        color="#d62728",
        marker="o",
        linewidth=1,
        label="overflow alerts opened",
    )
    ax2.set_ylim(bottom=0)
    ax.xaxis_date()
    ax.set_ylabel(f"bin-hours at ≥ {OVERFLOW_LEVEL:.2f}")
    ax2.set_ylabel("alerts")
    bars, bar_labels = ax.get_legend_handles_labels()
    line, line_labels = ax2.get_legend_handles_labels()
    ax.legend(bars + line, bar_labels + line_labels, frameon=False, loc="upper right")
    fig.autofmt_xdate()
    return fig


def landfill(data: MonthData) -> Figure:
    """Remaining airspace: history, and the projection with and without diversion."""
    shares = ", ".join(f"{k} {v:.0%}" for k, v in data.divert.items())
    title = titled("พื้นที่หลุมฝังกลบคงเหลือ", "Landfill airspace left") + f" (m³; divert {shares})"
    fig, ax = _figure(title, bool(data.landfill), 4.6)
    if ax is None:
        return fig
    for s in data.landfill:
        past = data.landfill_history.get(s.site.site_id, [])
        if past:
            ax.plot(
                date2num([d for d, _ in past]),
                [r for _, r in past],
                color="black",
                linewidth=1.5,
                label=f"{s.site.site_id}: as projected each day",
            )
        for proj, style, label in (
            (s.baseline, "--", "as now"),
            (s.diverted, ":", "with diversion"),
        ):
            if proj is None:
                continue
            end = proj.full_date or (proj.as_of + timedelta(days=3650))
            remaining_end = (
                0.0 if proj.full_date else max(proj.remaining_m3 - proj.rate_m3_per_day * 3650, 0.0)
            )
            ax.plot(
                date2num([proj.as_of, end]),
                [proj.remaining_m3, remaining_end],
                linestyle=style,
                linewidth=1.5,
                label=f"{s.site.site_id}: {label} → full {proj.full_date or 'beyond 10 years'}",
            )
        b = s.baseline
        if b.full_date_early and b.full_date_late:
            # between the fastest and the slowest trend: the full date's interval
            ax.fill(
                date2num([b.as_of, b.full_date_early, b.full_date_late]),
                [b.remaining_m3, 0.0, 0.0],
                color="#cccccc",
                alpha=0.5,
                linewidth=0,
                label=f"{s.site.site_id}: interval {b.full_date_early} .. {b.full_date_late}",
            )
    ax.set_ylim(bottom=0)
    ax.xaxis_date()
    ax.set_ylabel("m³")
    ax.legend(frameon=False, fontsize=8)
    fig.autofmt_xdate()
    return fig


def bins_to_review(data: MonthData) -> Figure:
    """Each bin: median fill when emptied against its share of hours overflowing."""
    points = [b for b in data.bins if b.median_fill_at_collection is not None or b.overflow_hours]
    fig, ax = _figure(titled("ถังที่ควรปรับขนาดหรือย้าย", "Bins to resize or move"), bool(points))
    if ax is None:
        return fig
    for flag, color, label in (
        ("over", "#d62728", "often overflowing"),
        ("empty", "#1f77b4", "collected mostly empty"),
        ("ok", "#999999", "fine"),
    ):
        chosen = [
            b
            for b in points
            if (flag == "over" and b.often_overflowing)
            or (flag == "empty" and b.mostly_empty and not b.often_overflowing)
            or (flag == "ok" and not b.often_overflowing and not b.mostly_empty)
        ]
        if chosen:
            ax.scatter(
                [b.median_fill_at_collection or 0.0 for b in chosen],
                [b.overflow_share for b in chosen],
                s=[max(b.volume_l / 8, 10) for b in chosen],
                color=color,
                alpha=0.75,
                label=label,
            )
    ax.axvline(EMPTY_FILL, color="black", linestyle=":", linewidth=1)
    ax.axhline(OVERFLOW_SHARE, color="black", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1.05)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("median fill level when collected (size = bin volume)")
    ax.set_ylabel("share of reported hours overflowing")
    ax.legend(frameon=False)
    return fig


def alert_counts(data: MonthData) -> Figure:
    """Alerts opened in the month, per kind and severity."""
    fig, ax = _figure(titled("จำนวนการแจ้งเตือน", "Alerts opened"), bool(data.alerts))
    if ax is None:
        return fig
    kinds = sorted({k for k, _, _ in data.alerts})
    left = [0] * len(kinds)
    for severity in ("critical", "warning", "info"):
        values = [
            sum(n for k, s, n in data.alerts if k == kind and s == severity) for kind in kinds
        ]
        if not any(values):
            continue
        ax.barh(kinds, values, left=left, color=SEVERITY_COLORS[severity], label=severity)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("alerts")
    ax.legend(frameon=False)
    return fig


PLOTS: Final = {
    "tonnage": tonnage,
    "fill-at-collection": fill_at_collection,
    "overflows": overflows,
    "landfill": landfill,
    "bins-to-review": bins_to_review,
    "alerts": alert_counts,
}


def render(data: MonthData) -> dict[str, Figure]:
    """Every plot of the report, by name."""
    with _style():
        return {name: make(data) for name, make in PLOTS.items()}


def png_bytes(fig: Figure) -> bytes:
    with _style():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()


def write_pdf(path: Path, figures: dict[str, Figure], summary: list[tuple[str, str]]) -> None:
    """A PDF: the key figures on the first page, then one plot per page."""
    from matplotlib.backends.backend_pdf import PdfPages

    # fontTools logs every glyph subset at INFO while the PDF embeds its fonts.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    with _style(), rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        first = Figure(figsize=(8.27, 11.69))
        first.text(0.08, 0.94, titled("รายงานขยะประจำเดือน", "Monthly waste report"), fontsize=16)
        for i, (label, value) in enumerate(summary):
            y = 0.88 - i * 0.035
            shown = label if thai_font() else label.split(" / ")[-1]
            first.text(0.08, y, shown, fontsize=10)
            first.text(0.92, y, value, fontsize=10, ha="right")
        pdf.savefig(first)
        for fig in figures.values():
            pdf.savefig(fig)
