"""Operator-facing alert texts in English and Thai (boards show both).

Times are shown in Asia/Bangkok, as everywhere people read them; the data
itself stays UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from wastewatch.schema import AlertKind

BANGKOK: Final = timezone(timedelta(hours=7), "Asia/Bangkok")


def local_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")


def alert_text(
    kind: AlertKind, subject: str, details: dict[str, Any], *, resolved: bool
) -> tuple[str, str]:
    """(English, Thai) one-liners for an alert about ``subject`` (a bin or device)."""
    if kind is AlertKind.FIRE:
        t = details.get("temperature_c")
        temp = f": {t} °C" if t is not None else ""
        en, th = f"Possible fire in bin {subject}{temp}", f"อาจเกิดไฟไหม้ในถัง {subject}{temp}"
    elif kind is AlertKind.TIPPED_OVER:
        en, th = f"Bin {subject} has tipped over", f"ถัง {subject} ล้มคว่ำ"
    elif kind is AlertKind.OVERFLOWING:
        en, th = f"Bin {subject} is overflowing", f"ถัง {subject} ขยะล้น"
    elif kind is AlertKind.LOW_BATTERY:
        mv = details.get("battery_mv")
        days = details.get("days_left")
        left = f", about {days} days left" if days is not None else ""
        left_th = f" เหลือประมาณ {days} วัน" if days is not None else ""
        en = f"Battery low on {subject} ({mv} mV{left})"
        th = f"แบตเตอรี่ต่ำที่ {subject} ({mv} mV{left_th})"
    elif kind is AlertKind.SENSOR_FAULT:
        cause = details.get("cause", "fault")
        en, th = f"Sensor fault on {subject} ({cause})", f"เซนเซอร์ขัดข้องที่ {subject} ({cause})"
    elif kind is AlertKind.OFFLINE:
        since = details.get("last_reading_ts")
        when = f": no reading since {local_time(int(since))}" if since else ""
        when_th = f": ไม่มีข้อมูลตั้งแต่ {local_time(int(since))}" if since else ""
        en, th = f"{subject} offline{when}", f"{subject} ออฟไลน์{when_th}"
    else:
        en, th = f"{kind.value} on {subject}", f"{kind.value} ที่ {subject}"
    if resolved:
        return f"Resolved: {en}", f"แก้ไขแล้ว: {th}"
    return en, th


def landfill_text(site: str, days_left: float, full_date: str) -> tuple[str, str]:
    return (
        f"Landfill {site}: about {days_left:.0f} days of capacity left (full around {full_date})",
        f"บ่อฝังกลบ {site}: เหลือความจุประมาณ {days_left:.0f} วัน (เต็มราว {full_date})",
    )
