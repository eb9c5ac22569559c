"""One bin with its sensor: what the firmware would measure, flag and publish.

Pure (no I/O, no wall clock): :meth:`BinDevice.wake` is called at event time
``t`` and appends the messages the device would send at ``t`` to a list. It
follows the firmware's rules (``firmware/lib/schedule.py``, ``measure.py``):

* wake every ``report_interval_s``; every ``nearly_full_interval_s`` once the
  fill is at or above ``nearly_full`` (or OVERFULL); every minute during a fire;
* publish on the first reading after boot, an alarm flag set or cleared (and
  every wake while FIRE), a fill change of ``large_change``, crossing
  ``nearly_full``, or when ``heartbeat_s`` passed. With the default heartbeat
  equal to the report interval every wake publishes (one reading per interval);
* ultrasonic distance with ~5 mm noise; inside the 200 mm dead zone (waste heaped
  above the full line) ``d_mm`` is null, OVERFULL set and ``fill`` 1.0;
  ``fill = clamp((mounting_height - d_mm) / usable_depth, 0, 1)``, 4 decimals;
* temperature: Kalasin's daily cycle (about 23-33 °C) plus the bin's offset;
  FIRE at >= 70 °C or a rise of >= 5 °C/min;
* battery: slow drain, LOW_BATTERY below 3400 mV, dead below 3300 mV;
* the injected faults of :mod:`wastewatch.workbench.simulators.faults`.

Payloads are formatted directly (short keys, firmware key order, compact JSON)
rather than through pydantic: this is the hot path of a replay. The tests
validate them against :class:`wastewatch.schema.telemetry.DeviceTelemetry` in strict mode.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from wastewatch.city import SimBin
from wastewatch.processors.alerts import AlertParams
from wastewatch.schema import TelemetryFlag, status_topic, telemetry_topic
from wastewatch.schema.config import Calibration, DeviceConfig
from wastewatch.workbench.simulators.calendar import BANGKOK_OFFSET_S, Calendar
from wastewatch.workbench.simulators.dynamics import DEFAULT_THRESHOLDS, FillModel
from wastewatch.workbench.simulators.faults import DAY_S, Episode, FaultKind, FaultRates, draw_day
from wastewatch.workbench.simulators.rng import stream

__all__ = ["FIRMWARE_VERSION", "BinDevice", "DeviceCounters", "Emission", "ReportingConfig"]

FIRMWARE_VERSION: Final = "0.3.1-sim"

Emission = tuple[int, str, bytes, bool, int]
"""(publish time, MQTT topic, payload, retained, routing key: device index or -1)."""

_OVERFULL: Final = int(TelemetryFlag.OVERFULL)
_NO_ECHO: Final = int(TelemetryFlag.NO_ECHO)
_TILTED: Final = int(TelemetryFlag.TILTED)
_FIRE: Final = int(TelemetryFlag.FIRE)
_LOW_BATTERY: Final = int(TelemetryFlag.LOW_BATTERY)
_CLOCK_UNSET: Final = int(TelemetryFlag.CLOCK_UNSET)
_SENSOR_FAULT: Final = int(TelemetryFlag.SENSOR_FAULT)
_BUFFERED: Final = int(TelemetryFlag.BUFFERED)
_ALARMS: Final = _OVERFULL | _NO_ECHO | _TILTED | _FIRE | _LOW_BATTERY | _SENSOR_FAULT


_FIRMWARE = DeviceConfig.model_fields
"""The device's settings: the simulated device starts from the same defaults as a real one."""


@dataclass(frozen=True, slots=True)
class ReportingConfig:
    """Device settings (``wastewatch.schema.config.DeviceConfig`` values) and hardware limits."""

    report_interval_s: int = _FIRMWARE["report_interval_s"].default
    nearly_full_interval_s: int = _FIRMWARE["nearly_full_interval_s"].default
    heartbeat_s: int = _FIRMWARE["report_interval_s"].default
    """Unlike the firmware's default (an hour), every wake publishes: one reading an interval."""
    large_change: float = _FIRMWARE["large_change_threshold"].default
    nearly_full: float = _FIRMWARE["nearly_full_threshold"].default
    fire_temp_c: float = _FIRMWARE["fire_temp_c"].default
    fire_rise_c_per_min: float = _FIRMWARE["fire_rise_c_per_min"].default
    low_battery_mv: int = _FIRMWARE["low_battery_mv"].default
    dead_battery_mv: int = AlertParams().dead_battery_mv
    """Where the node stops: the voltage the processors' dead-battery forecast aims at."""
    dead_zone_mm: int = Calibration.model_fields["dead_zone_mm"].default
    buffer_capacity: int = 96
    """Readings the flash ring holds while offline (a day at 15 min); the oldest is
    dropped, and counted in ``drop``, when it is full."""


@dataclass(slots=True)
class DeviceCounters:
    """What one device did, for the ground truth's per-device summary."""

    readings: int = 0
    """Readings created (distinct natural keys), sent or not."""
    published: int = 0
    """Distinct readings published (directly or from the buffer)."""
    buffered: int = 0
    dropped: int = 0
    unsent: int = 0
    duplicates: int = 0
    clock_unset: int = 0
    status: int = 0
    boots: list[int] = field(default_factory=list)


_Fields = tuple[int, int, int, int | None, float | None, float, int, int, int, int]
"""boot, seq, ts, d_mm, fill, t_c, bat_mv, rssi, fl, drop."""


def _num(value: float | None) -> str:
    return "null" if value is None else repr(value)


class BinDevice:
    """A bin, its true content (:class:`FillModel`) and its sensor node."""

    def __init__(
        self,
        *,
        index: int,
        spec: SimBin,
        city: str,
        seed: int,
        start: int,
        calendar: Calendar,
        reporting: ReportingConfig,
        rates: FaultRates,
    ) -> None:
        reg = spec.reg
        if reg.device_id is None:
            raise ValueError(f"bin {reg.bin_id} has no device_id: nothing to simulate")
        self.index = index
        self.spec = spec
        self.bin_id = reg.bin_id
        self.device_id: str = reg.device_id
        self.topic = telemetry_topic(city, self.device_id)
        self.status_topic = status_topic(city, self.device_id)
        self.seed = seed
        self.cfg = reporting
        self.rates = rates
        self.mount = reg.mounting_height_mm
        self.usable = reg.usable_depth_mm
        self.capacity_l = reg.volume_l
        setup = stream(seed, reg.bin_id, "setup")
        thresholds = tuple(sorted({*DEFAULT_THRESHOLDS, reg.collection_threshold}))
        self.fill = FillModel(
            capacity_l=reg.volume_l,
            stream=reg.waste_stream,
            place=spec.place,
            zone=reg.zone,
            calendar=calendar,
            rng=stream(seed, reg.bin_id, "fill"),
            start=start,
            initial_fill=round(setup.uniform(0.0, 0.6), 4),
            rate_factor=math.exp(setup.gauss(0.0, 0.35)),
            thresholds=thresholds,
        )
        self.rng = stream(seed, reg.bin_id, "device")
        self.first_wake = start + setup.randrange(reporting.report_interval_s)
        self.boot = setup.randint(1, 40)
        self.seq = 0
        self.battery = setup.uniform(3850.0, 4150.0)
        self.drain_per_s = setup.uniform(4.0, 10.0) / DAY_S
        self.rssi_base = min(-45, max(-115, round(setup.gauss(-80.0, 8.0))))
        self.temp_offset = setup.gauss(1.0, 1.5)
        self.counters = DeviceCounters(boots=[self.boot])
        # Fault state.
        self.fault_day = start // DAY_S
        self.pending: list[Episode] = []
        self.active: list[Episode] = []
        self.effects: list[tuple[int, float]] = []  # (time, share of content kept)
        self.new_episodes: list[Episode] = []  # drawn, not yet written to the truth
        self.stuck_mm: int | None = None
        self.clock_unset_left = 0
        self.dead = False
        # Reporting state.
        self.last_t: int | None = None
        self.last_temp: float | None = None
        self.has_last = False
        self.last_fill = -1.0
        self.last_flags = 0
        self.last_pub_t = 0
        self.drop = 0
        self.offline = False
        self.online_announced = False
        self.buffer: deque[_Fields] = deque()
        self.recent: deque[bytes] = deque(maxlen=3)
        self.resends: list[tuple[int, int]] = []  # (time, count) for the truth

    # -- world -----------------------------------------------------------------

    def _draw_faults(self, until: int) -> None:
        day = until // DAY_S
        while self.fault_day <= day:
            for ep in draw_day(self.seed, self.bin_id, self.fault_day, self.rates):
                self.pending.append(ep)
                self.new_episodes.append(ep)
                if ep.kind is FaultKind.FIRE:
                    self.effects.append((ep.end, 0.4))
                elif ep.kind is FaultKind.TIP_OVER:
                    self.effects.append((ep.start, 0.3))
            self.fault_day += 1
            self.effects.sort()

    def bring_to(self, t: int) -> None:
        """Advance the true content to ``t``, applying fires and spills on the way."""
        self._draw_faults(t)
        while self.effects and self.effects[0][0] <= t:
            when, keep = self.effects.pop(0)
            self.fill.advance(when)
            self.fill.reduce(keep)
        self.fill.advance(t)

    def _update_faults(self, t: int, out: list[Emission]) -> None:
        if self.pending and self.pending[0].start <= t:
            due = [ep for ep in self.pending if ep.start <= t]
            self.pending = [ep for ep in self.pending if ep.start > t]
            for ep in due:
                if ep.kind is FaultKind.REBOOT:
                    self._reboot(t, int(ep.param), out)
                elif ep.kind is FaultKind.BATTERY:
                    self.drain_per_s += ep.param / DAY_S
                else:
                    self.active.append(ep)
        if self.active:
            self.active = [ep for ep in self.active if ep.end > t]

    def _is(self, kind: FaultKind) -> Episode | None:
        for ep in self.active:
            if ep.kind is kind:
                return ep
        return None

    def _reboot(self, t: int, unset_readings: int, out: list[Emission]) -> None:
        self.boot += 1
        self.seq = 0
        self.drop = 0
        self.has_last = False
        self.clock_unset_left = unset_readings
        self.counters.boots.append(self.boot)
        if not self._is(FaultKind.OFFLINE):
            self._status(t, "online", "boot", out, with_ts=False)

    def _status(
        self, t: int, state: str, reason: str, out: list[Emission], *, with_ts: bool = True
    ) -> None:
        body: dict[str, object] = {
            "v": 1,
            "state": state,
            "id": self.device_id,
            "fw": FIRMWARE_VERSION,
            "boot": self.boot,
            "reason": reason,
        }
        if with_ts:
            body["ts"] = t
        out.append(
            (
                t,
                self.status_topic,
                json.dumps(body, separators=(",", ":")).encode(),
                True,
                self.index,
            )
        )
        self.counters.status += 1

    # -- sensing -----------------------------------------------------------------

    def _ambient(self, t: int) -> float:
        hour = ((t + BANGKOK_OFFSET_S) % DAY_S) / 3600.0
        return 28.0 + 5.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0) + self.temp_offset

    def wake(self, t: int, out: list[Emission]) -> int | None:
        """Measure at ``t``, append what is sent, return the next wake time (None: dead)."""
        self.bring_to(t)
        self._update_faults(t, out)
        if self.dead:
            return None
        rng = self.rng
        cfg = self.cfg
        if self.last_t is not None:
            self.battery -= self.drain_per_s * (t - self.last_t)
        battery = int(self.battery)
        if battery < cfg.dead_battery_mv:
            self.dead = True
            if not self._is(FaultKind.OFFLINE):
                self._status(t, "offline", "low_battery", out)
            self._flush_unsent()
            return None
        if not self.online_announced:
            self.online_announced = True
            self._status(t, "online", "boot", out)

        flags = 0
        d_mm: int | None
        fill: float | None
        if self._is(FaultKind.TIP_OVER):
            flags |= _TILTED
            if rng.random() < 0.7:
                flags |= _NO_ECHO
                d_mm = None
            else:
                d_mm = rng.randint(self.mount // 2, self.mount + 400)
            self.stuck_mm = None
        else:
            model = self.fill
            heap = 0.0
            if model.overflow_l > 0.0:
                heap = min(self.usable, model.overflow_l / self.capacity_l * self.usable * 0.5)
            true_d = self.mount - model.fill * self.usable - heap
            if self._is(FaultKind.STUCK):
                if self.stuck_mm is None:
                    self.stuck_mm = max(0, round(true_d + rng.gauss(0.0, 5.0)))
                d_mm = self.stuck_mm
            else:
                self.stuck_mm = None
                if self._is(FaultKind.NOISY):
                    if rng.random() < 0.25:
                        flags |= _SENSOR_FAULT
                        d_mm = None
                    else:
                        d_mm = max(0, round(true_d + rng.gauss(0.0, 120.0)))
                else:
                    d_mm = max(0, round(true_d + rng.gauss(0.0, 5.0)))
        if d_mm is not None and d_mm < cfg.dead_zone_mm and not flags & _TILTED:
            flags |= _OVERFULL
            d_mm = None
        if d_mm is not None:
            fill = round(min(1.0, max(0.0, (self.mount - d_mm) / self.usable)), 4)
        elif flags & _OVERFULL:
            fill = 1.0
        else:
            fill = None

        temp = self._ambient(t) + rng.gauss(0.0, 0.3)
        fire = self._is(FaultKind.FIRE)
        if fire is not None:
            temp += (fire.param - temp) * min(1.0, (t - fire.start) / 600.0)
        temp = round(min(150.0, max(-40.0, temp)), 1)
        if temp >= cfg.fire_temp_c or (
            self.last_temp is not None
            and self.last_t is not None
            and t - self.last_t >= 30
            and (temp - self.last_temp) * 60.0 >= cfg.fire_rise_c_per_min * (t - self.last_t)
        ):
            flags |= _FIRE
        if battery < cfg.low_battery_mv:
            flags |= _LOW_BATTERY
        self.last_t = t
        self.last_temp = temp

        # The firmware's publish rules (schedule.publish_reason), fills as fractions.
        f_now = -1.0 if fill is None else fill
        if (
            not self.has_last
            or flags & _FIRE
            or (flags ^ self.last_flags) & _ALARMS
            or (self.last_fill < 0) != (f_now < 0)
            or (
                f_now >= 0
                and (
                    abs(f_now - self.last_fill) >= cfg.large_change
                    or (f_now >= cfg.nearly_full) != (self.last_fill >= cfg.nearly_full)
                )
            )
        ):
            publish = True
        else:
            publish = t - self.last_pub_t >= cfg.heartbeat_s or t < self.last_pub_t
        if publish:
            ts = t
            if self.clock_unset_left > 0:
                flags |= _CLOCK_UNSET
                ts = 0
                self.clock_unset_left -= 1
                self.counters.clock_unset += 1
            rssi = min(0, max(-127, self.rssi_base + rng.randint(-3, 3)))
            fields: _Fields = (self.boot, self.seq, ts, d_mm, fill, temp, battery, rssi, flags, 0)
            self.seq += 1
            self.counters.readings += 1
            self.has_last = True
            self.last_fill = f_now
            self.last_flags = flags
            self.last_pub_t = t
            self.battery -= 0.05  # radio time
            if self._is(FaultKind.OFFLINE):
                if not self.offline:
                    self.offline = True
                    # What the broker's last will announces, time-stamped for replays.
                    self._status(t, "offline", "connection_lost", out)
                self.buffer.append(fields)
                self.counters.buffered += 1
                if len(self.buffer) > cfg.buffer_capacity:
                    self.buffer.popleft()
                    self.drop += 1
                    self.counters.dropped += 1
            else:
                if self.offline:
                    self._reconnect(t, out)
                payload = self._payload(fields, self.drop, 0)
                out.append((t, self.topic, payload, False, self.index))
                self.recent.append(payload)
                self.counters.published += 1

        if flags & _FIRE:
            interval = min(60, cfg.nearly_full_interval_s)
        elif flags & _OVERFULL or (fill is not None and fill >= cfg.nearly_full):
            interval = cfg.nearly_full_interval_s
        else:
            interval = cfg.report_interval_s
        return t + interval + rng.randint(0, 1)

    def _reconnect(self, t: int, out: list[Emission]) -> None:
        self.offline = False
        self._status(t, "online", "reconnect", out)
        if self.recent and self.rng.random() < self.rates.duplicate_per_reconnect:
            n = self.rng.randint(1, len(self.recent))
            for payload in list(self.recent)[-n:]:
                out.append((t, self.topic, payload, False, self.index))
            self.counters.duplicates += n
            self.resends.append((t, n))
        while self.buffer:
            fields = self.buffer.popleft()
            out.append(
                (t, self.topic, self._payload(fields, self.drop, _BUFFERED), False, self.index)
            )
            self.counters.published += 1

    def _flush_unsent(self) -> None:
        self.counters.unsent += len(self.buffer)
        self.buffer.clear()

    def finish(self) -> None:
        """End of the simulation: whatever is still buffered was never sent."""
        self._flush_unsent()

    def _payload(self, f: _Fields, drop: int, extra_flags: int) -> bytes:
        boot, seq, ts, d_mm, fill, temp, bat, rssi, fl, _ = f
        return (
            f'{{"v":1,"id":"{self.device_id}","boot":{boot},"seq":{seq},"ts":{ts},'
            f'"d_mm":{"null" if d_mm is None else d_mm},"fill":{_num(fill)},"t_c":{temp!r},'
            f'"bat_mv":{bat},"rssi":{rssi},"fl":{fl | extra_flags},"drop":{drop}}}'
        ).encode()
