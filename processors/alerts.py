"""Device health and safety alerts: pure detectors over one device's readings.

:class:`DeviceAlerts` is fed one device's readings in order and returns
:class:`AlertChange` values (an alert opened, or resolved).  The processor turns
them into ``wastewatch.schema.alerts.Alert`` messages and table rows.

Rules, and why:

* **Open once, deduplicated**: at most one alert per (device, kind) is open.
  The alert id is ``<kind>:<device>:<boot>:<seq>`` of the reading that opened
  it, so a replay opens the same id and the table upserts.
* **Hysteresis**: an alert resolves only after the condition has been clear for
  a few readings (or a clear margin), so a flickering flag does not page anyone
  twice.
* **fire** (critical): the device's FIRE flag, a temperature at or above
  ``fire_temp_c``, or a rise of ``fire_rise_c_per_min`` between readings.
* **tipped_over**: the TILTED flag.
* **overflowing**: OVERFULL or fill >= ``overflow_fill``; resolves once the
  level is back under ``overflow_clear`` (after a collection).
* **low_battery**: the LOW_BATTERY flag or voltage under ``low_battery_mv``;
  ``days_left`` comes from the drain over the last days (least squares).
* **sensor_fault**: SENSOR_FAULT flags, a stuck sensor (the same distance many
  readings in a row: real ultrasonic readings jitter by millimetres), or a
  noisy one (level jumps far beyond the normal few millimetres).
* **offline**: from readings only, so that the result does not depend on how
  two topics interleave: a reading the device had to buffer (BUFFERED) proves
  an outage that began at the first buffered reading; and when nothing arrives
  the processor's event-time watermark (:meth:`DeviceAlerts.check_offline`)
  opens the alert ``offline_after_s`` after the last reading.  The next live
  reading resolves it.  ``opened_at`` is corrected to the first buffered
  reading when those arrive later, so every path ends with the same row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wastewatch.processors.readings import Reading
from wastewatch.schema import AlertKind, Severity, TelemetryFlag
from wastewatch.schema.config import DeviceConfig

__all__ = ["AlertChange", "AlertParams", "DeviceAlerts", "battery_days_left"]

_FIRE = int(TelemetryFlag.FIRE)
_TILTED = int(TelemetryFlag.TILTED)
_OVERFULL = int(TelemetryFlag.OVERFULL)
_LOW_BATTERY = int(TelemetryFlag.LOW_BATTERY)
_SENSOR_FAULT = int(TelemetryFlag.SENSOR_FAULT)
_BUFFERED = int(TelemetryFlag.BUFFERED)
_NO_ECHO = int(TelemetryFlag.NO_ECHO)

_FIRMWARE = DeviceConfig.model_fields
"""The device's own alarm settings: one source for the thresholds both sides apply."""


@dataclass(frozen=True, slots=True)
class AlertParams:
    """Thresholds of the detectors (the firmware's alarms: DeviceConfig's defaults)."""

    fire_temp_c: float = _FIRMWARE["fire_temp_c"].default
    fire_clear_c: float = 55.0
    fire_rise_c_per_min: float = _FIRMWARE["fire_rise_c_per_min"].default
    fire_clear_readings: int = 3
    tilt_clear_readings: int = 2
    overflow_fill: float = 0.98
    overflow_clear: float = 0.9
    low_battery_mv: int = _FIRMWARE["low_battery_mv"].default
    battery_clear_mv: int = 3550
    dead_battery_mv: int = 3300
    stuck_readings: int = 8
    noisy_step: float = 0.06
    """Lower quartile of |second differences| of the level above which the sensor counts
    as noisy (5 mm of normal jitter gives ~0.005 on a 1 m bin, a failing transducer ~0.1):
    a collection and a big dump are at most four large values of eight."""
    noisy_window: int = 8
    fault_flags_in_window: int = 2
    fault_clear_readings: int = 8
    offline_after_s: int = 3600
    """No reading for this long (event time, by the watermark) opens an offline alert."""


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One alert opened or resolved (or re-timed: opened_at corrected)."""

    alert_id: str
    kind: AlertKind
    severity: Severity
    device_id: str
    opened_at: int
    resolved_at: int | None
    details: dict[str, str | int | float | bool | None]


def battery_days_left(points: list[tuple[int, int]], dead_mv: int) -> float | None:
    """Days until ``dead_mv`` by a least-squares line through (ts, mV); None if not draining."""
    if len(points) < 3 or points[-1][0] - points[0][0] < 12 * 3600:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx <= 0:
        return None
    slope = sum((t - mx) * (v - my) for t, v in points) / sxx  # mV per second
    if slope >= 0:
        return None
    last_t, _ = points[-1]
    level = my + slope * (last_t - mx)
    return max(0.0, (level - dead_mv) / -slope / 86_400)


_SEVERITY = {
    AlertKind.FIRE: Severity.CRITICAL,
    AlertKind.TIPPED_OVER: Severity.WARNING,
    AlertKind.OVERFLOWING: Severity.WARNING,
    AlertKind.LOW_BATTERY: Severity.WARNING,
    AlertKind.SENSOR_FAULT: Severity.WARNING,
    AlertKind.OFFLINE: Severity.WARNING,
}


@dataclass(slots=True)
class DeviceAlerts:
    """Per-device detector state; JSON round-trips through to_dict/from_dict."""

    device_id: str
    params: AlertParams = field(default_factory=AlertParams)
    last_ts: int = 0
    last_temp: float | None = None
    last_temp_ts: int = 0
    open: dict[str, list[Any]] = field(default_factory=dict)
    """kind -> [alert_id, opened_at, clear_count]."""
    last_live_ts: int = 0
    last_live_key: str = ""
    first_buffered_ts: int = 0
    same_d: int = 0
    last_d: int | None = None
    last_fill: float | None = None
    diffs: list[float] = field(default_factory=list)
    """The last few |second differences| of the level: a bin filling fast has large
    steps but small second differences; a failing transducer has both.  Their median
    is robust to one collection's drop."""
    last_step: float | None = None
    fault_window: list[int] = field(default_factory=list)
    battery: list[list[int]] = field(default_factory=list)
    """Daily minimum battery voltage: [local day, mV, ts]."""

    # -- helpers -------------------------------------------------------------------
    def _open(
        self, kind: AlertKind, r: Reading, opened_at: int, details: dict[str, Any]
    ) -> AlertChange | None:
        if kind.value in self.open:
            return None
        alert_id = f"{kind.value}:{self.device_id}:{r.boot}:{r.seq}"
        self.open[kind.value] = [alert_id, opened_at, 0]
        return AlertChange(
            alert_id, kind, _SEVERITY[kind], self.device_id, opened_at, None, details
        )

    def _resolve(self, kind: AlertKind, ts: int, details: dict[str, Any]) -> AlertChange | None:
        entry = self.open.pop(kind.value, None)
        if entry is None:
            return None
        alert_id, opened_at, _ = entry
        return AlertChange(
            alert_id, kind, _SEVERITY[kind], self.device_id, opened_at, max(ts, opened_at), details
        )

    def _clear_after(
        self, kind: AlertKind, clear: bool, needed: int, ts: int, details: dict[str, Any]
    ) -> AlertChange | None:
        entry = self.open.get(kind.value)
        if entry is None:
            return None
        entry[2] = entry[2] + 1 if clear else 0
        if entry[2] >= needed:
            return self._resolve(kind, ts, details)
        return None

    # -- the detectors ---------------------------------------------------------------
    def update(self, r: Reading) -> list[AlertChange]:
        """Feed the next reading of this device; the alerts it opened or resolved."""
        if not r.has_time or r.ts <= self.last_ts:
            return []
        self.last_ts = r.ts
        out: list[AlertChange | None] = []
        out.extend(self._offline(r))
        out.extend(self._fire(r))
        out.extend(self._tilt(r))
        out.extend(self._overflow(r))
        out.extend(self._battery(r))
        out.extend(self._sensor(r))
        return [c for c in out if c is not None]

    def _offline(self, r: Reading) -> list[AlertChange | None]:
        p = self.params
        if r.flags & _BUFFERED:
            if not self.first_buffered_ts:
                self.first_buffered_ts = r.ts
            entry = self.open.get(AlertKind.OFFLINE.value)
            if entry is None:
                return [self._open_offline(r.ts)]
            if entry[1] != self.first_buffered_ts:
                # opened by the watermark earlier: the buffer tells when it really began
                entry[1] = self.first_buffered_ts
                return [
                    AlertChange(
                        entry[0],
                        AlertKind.OFFLINE,
                        Severity.WARNING,
                        self.device_id,
                        entry[1],
                        None,
                        {"cause": "buffered"},
                    )
                ]
            return []
        out: list[AlertChange | None] = []
        if (
            AlertKind.OFFLINE.value not in self.open
            and self.last_live_ts
            and r.ts - self.last_live_ts > p.offline_after_s
        ):
            out.append(self._open_offline(self.last_live_ts + p.offline_after_s))
        out.append(self._resolve(AlertKind.OFFLINE, r.ts, {"cause": "reading"}))
        self.last_live_ts = r.ts
        self.last_live_key = f"{r.boot}:{r.seq}"
        self.first_buffered_ts = 0
        return out

    def _open_offline(self, opened_at: int) -> AlertChange | None:
        if AlertKind.OFFLINE.value in self.open or not self.last_live_key:
            return None
        alert_id = f"offline:{self.device_id}:{self.last_live_key}"
        self.open[AlertKind.OFFLINE.value] = [alert_id, opened_at, 0]
        return AlertChange(
            alert_id,
            AlertKind.OFFLINE,
            Severity.WARNING,
            self.device_id,
            opened_at,
            None,
            {"last_reading_ts": self.last_live_ts},
        )

    def check_offline(self, watermark: int) -> AlertChange | None:
        """Open an offline alert when the event-time watermark passed the silence limit."""
        if (
            self.last_live_ts
            and AlertKind.OFFLINE.value not in self.open
            and watermark - self.last_live_ts > self.params.offline_after_s
        ):
            return self._open_offline(self.last_live_ts + self.params.offline_after_s)
        return None

    def _fire(self, r: Reading) -> list[AlertChange | None]:
        p = self.params
        rising = False
        if r.temp_c is not None:
            if self.last_temp is not None and r.ts - self.last_temp_ts >= 30:
                per_min = (r.temp_c - self.last_temp) * 60.0 / (r.ts - self.last_temp_ts)
                rising = per_min >= p.fire_rise_c_per_min
            self.last_temp, self.last_temp_ts = r.temp_c, r.ts
        hot = r.temp_c is not None and r.temp_c >= p.fire_temp_c
        if r.flags & _FIRE or hot or rising:
            return [
                self._open(AlertKind.FIRE, r, r.ts, {"temperature_c": r.temp_c, "flags": r.flags})
            ]
        clear = r.temp_c is None or r.temp_c < p.fire_clear_c
        return [
            self._clear_after(
                AlertKind.FIRE, clear, p.fire_clear_readings, r.ts, {"temperature_c": r.temp_c}
            )
        ]

    def _tilt(self, r: Reading) -> list[AlertChange | None]:
        if r.flags & _TILTED:
            return [self._open(AlertKind.TIPPED_OVER, r, r.ts, {"flags": r.flags})]
        return [
            self._clear_after(
                AlertKind.TIPPED_OVER, True, self.params.tilt_clear_readings, r.ts, {}
            )
        ]

    def _overflow(self, r: Reading) -> list[AlertChange | None]:
        p = self.params
        level = r.level
        if r.flags & _OVERFULL or (level is not None and level >= p.overflow_fill):
            return [self._open(AlertKind.OVERFLOWING, r, r.ts, {"fill_level": level})]
        if level is not None and level < p.overflow_clear:
            return [self._resolve(AlertKind.OVERFLOWING, r.ts, {"fill_level": level})]
        return []

    def _battery(self, r: Reading) -> list[AlertChange | None]:
        p = self.params
        if r.battery_mv is None:
            return []
        day = (r.ts + 7 * 3600) // 86_400
        if self.battery and self.battery[-1][0] == day:
            if r.battery_mv < self.battery[-1][1]:
                self.battery[-1][1:] = [r.battery_mv, r.ts]
        else:
            self.battery.append([day, r.battery_mv, r.ts])
            del self.battery[:-10]
        if r.flags & _LOW_BATTERY or r.battery_mv < p.low_battery_mv:
            days = battery_days_left([(t, v) for _, v, t in self.battery], p.dead_battery_mv)
            return [
                self._open(
                    AlertKind.LOW_BATTERY,
                    r,
                    r.ts,
                    {
                        "battery_mv": r.battery_mv,
                        "days_left": None if days is None else round(days, 1),
                    },
                )
            ]
        if r.battery_mv >= p.battery_clear_mv:
            return [self._resolve(AlertKind.LOW_BATTERY, r.ts, {"battery_mv": r.battery_mv})]
        return []

    def _sensor(self, r: Reading) -> list[AlertChange | None]:
        p = self.params
        if r.flags & (_TILTED | _NO_ECHO):
            return []  # a tipped or open bin: not the sensor's fault
        self.fault_window.append(1 if r.flags & _SENSOR_FAULT else 0)
        del self.fault_window[:-4]
        if r.d_mm is not None and r.d_mm == self.last_d:
            self.same_d += 1
        else:
            self.same_d = 0
        self.last_d = r.d_mm
        level = r.level
        if level is not None:
            if self.last_fill is not None:
                step = round(level - self.last_fill, 4)
                if self.last_step is not None:
                    self.diffs.append(round(abs(step - self.last_step), 4))
                    del self.diffs[: -p.noisy_window]
                self.last_step = step
            self.last_fill = level
        cause = None
        if sum(self.fault_window) >= p.fault_flags_in_window:
            cause = "fault_flag"
        elif self.same_d + 1 >= p.stuck_readings:
            cause = "stuck"
        elif len(self.diffs) >= p.noisy_window and sorted(self.diffs)[len(self.diffs) // 4] > (
            p.noisy_step
        ):
            cause = "noisy"
        if cause is not None:
            return [
                self._open(AlertKind.SENSOR_FAULT, r, r.ts, {"cause": cause, "distance_mm": r.d_mm})
            ]
        return [self._clear_after(AlertKind.SENSOR_FAULT, True, p.fault_clear_readings, r.ts, {})]

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "last_ts": self.last_ts,
            "last_temp": self.last_temp,
            "last_temp_ts": self.last_temp_ts,
            "open": self.open,
            "last_live_ts": self.last_live_ts,
            "last_live_key": self.last_live_key,
            "first_buffered_ts": self.first_buffered_ts,
            "same_d": self.same_d,
            "last_d": self.last_d,
            "last_fill": self.last_fill,
            "diffs": self.diffs,
            "last_step": self.last_step,
            "fault_window": self.fault_window,
            "battery": self.battery,
        }

    @classmethod
    def from_dict(
        cls, device_id: str, data: dict[str, Any], params: AlertParams | None = None
    ) -> DeviceAlerts:
        return cls(
            device_id=device_id,
            params=params or AlertParams(),
            last_ts=int(data["last_ts"]),
            last_temp=data["last_temp"],
            last_temp_ts=int(data["last_temp_ts"]),
            open={k: list(v) for k, v in data["open"].items()},
            last_live_ts=int(data["last_live_ts"]),
            last_live_key=str(data["last_live_key"]),
            first_buffered_ts=int(data["first_buffered_ts"]),
            same_d=int(data["same_d"]),
            last_d=data["last_d"],
            last_fill=data["last_fill"],
            diffs=[float(x) for x in data["diffs"]],
            last_step=data.get("last_step"),
            fault_window=[int(x) for x in data["fault_window"]],
            battery=[[int(a), int(b), int(c)] for a, b, c in data["battery"]],
        )
