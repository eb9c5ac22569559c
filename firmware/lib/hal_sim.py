"""A simulated board for the unix port: sensors, radio and clock play a scenario.

Used by ``host_run.py`` so the real node code runs against a real broker.
What is simulated: sensor values (from the scenario, one entry per wake,
cycled), the Wi-Fi link (``link`` 0 = no network this wake), RTC memory (kept
in RAM, so it survives simulated deep sleep and is lost when the process
ends, like a power cut), the clock (unset unless the scenario says
``"clock": true``) and deep sleep (returns at once, advancing the simulated
clock; ``pace_ms`` adds a real pause).  What is real: the file system under the
state directory (the flash), sockets and the MQTT broker.

A power cut can be injected into the ring file: ``"power_cut": {"write": K,
"after_bytes": B}`` writes only the first B bytes of the K-th ring write, then
ends the process with exit status 75, leaving a torn slot behind.
"""

import time

import measure
from hal import Hal

POWER_CUT_EXIT = 75

MYPY = False
if MYPY:  # annotations only
    from hal import FlashFile
    from measure import Buffer

    Scenario = dict[str, object]

_NOISE_MM = (0, 3, -2, 5, -4, 1, -1, 2, -3, 4, 0, -2, 1, 3, -1)


class _CutFile:
    """A ring file whose K-th write is torn and kills the process (power cut)."""

    def __init__(self, f: "FlashFile", hal: "SimHal") -> None:
        self._f = f
        self._hal = hal

    def read(self, size: int = -1) -> bytes:
        return self._f.read(size)

    def readinto(self, buf: bytearray) -> int | None:
        return self._f.readinto(buf)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def write(self, data: "bytes | bytearray | memoryview") -> int | None:
        hal = self._hal
        hal.ring_writes += 1
        if hal.ring_writes == hal.cut_at_write:
            self._f.write(memoryview(data)[: hal.cut_after_bytes])
            self._f.flush()
            self._f.close()
            print("power cut: ring write %d torn after %d bytes" % (hal.ring_writes, hal.cut_after_bytes))
            raise SystemExit(POWER_CUT_EXIT)
        return self._f.write(data)


class SimHal(Hal):
    """The scenario-driven board."""

    def __init__(self, scenario: "Scenario", pace_ms: int = 0) -> None:
        self.sc = scenario
        self.pace_ms = pace_ms
        self.wake = 0
        self.uptime_s = 0
        self.rtc = b""
        self.epoch_at_start = 0
        self.ring_writes = 0
        cut = scenario.get("power_cut")
        self.cut_at_write = -1
        self.cut_after_bytes = 0
        if isinstance(cut, dict):
            self.cut_at_write = int(cut.get("write", -1))
            self.cut_after_bytes = int(cut.get("after_bytes", 0))

    def _at(self, key: str, default: object) -> object:
        # This wake's value of a scenario series (a list is cycled, a scalar is constant).
        value = self.sc.get(key, default)
        if isinstance(value, list):
            return value[self.wake % len(value)] if value else default
        return value

    def _int(self, key: str, default: int | None) -> int | None:
        value = self._at(key, default)
        return None if value is None else int(value)  # type: ignore[call-overload]

    def open_flash(self, path: str, mode: str) -> "FlashFile":
        f: FlashFile = open(path, mode)
        if "+" in mode and path.endswith("ring.bin") and self.cut_at_write > 0:
            return _CutFile(f, self)
        return f

    def rtc_read(self) -> bytes:
        return self.rtc

    def rtc_write(self, data: bytes) -> None:
        self.rtc = data

    def now_s(self) -> int:
        return self.epoch_at_start + self.uptime_s

    def sync_clock(self, host: str) -> bool:
        if not self.sc.get("clock", False):
            return False
        if not self.epoch_at_start:
            self.epoch_at_start = int(time.time()) - self.uptime_s
        return True

    def sensors_on(self) -> None:
        pass

    def sensors_off(self) -> None:
        pass

    def temperature_c(self) -> float | None:
        value = self._at("temp_c", 31.5)
        return None if value is None else float(value)  # type: ignore[arg-type]

    def ping_into(self, buf: "Buffer", n: int) -> None:
        distance = self._int("distance_mm", 700)
        air = self._at("air_c", None)
        if air is None:
            air = self._at("temp_c", 31.5)
        k = measure.sound_factor(None if air is None else float(air))  # type: ignore[arg-type]
        noise = self.sc.get("noise", True)
        for i in range(n):
            if distance is None:
                buf[i] = 0
            else:
                buf[i] = measure.echo_us_for(distance + (_NOISE_MM[i % len(_NOISE_MM)] if noise else 0), k)

    def battery_mv(self) -> int | None:
        return self._int("battery_mv", 3900)

    def tilted(self) -> bool:
        return bool(self._at("tilt", 0))

    def lid_open(self) -> bool:
        return bool(self._at("lid", 0))

    def net_up(self, ssid: str, password: str, timeout_ms: int) -> bool:
        return bool(self._at("link", 1))

    def rssi(self) -> int | None:
        return self._int("rssi", -67)

    def net_down(self) -> None:
        pass

    def deep_sleep(self, ms: int) -> None:
        self.wake += 1
        self.uptime_s += ms // 1000 + 2  # the sleep plus about two seconds awake
        if self.pace_ms:
            time.sleep_ms(self.pace_ms)
