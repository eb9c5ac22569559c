"""The real board: a generic ESP32 with the wiring in firmware/README.md.

Default pins (override any in ``wastewatch.json`` under ``"pins"``):

=============  ====  =====================================================
sensor power    25   high = sensors powered (load switch / P-MOSFET gate)
JSN-SR04T trig  26   10 µs pulse starts a ping
JSN-SR04T echo  27   echo pulse, through a 1k/2k divider when the sensor runs on 5 V
DS18B20 data     4   one-wire, 4.7 kΩ pull-up to 3V3
tilt switch     33   RTC pin; high = tilted (ball switch to GND, 1 MΩ pull-up); wakes the board
lid switch      -1   optional reed switch (RTC pin, e.g. 32); -1 = not fitted
battery ADC     34   ADC1 channel; divider 1 MΩ / 1 MΩ (ratio 2)
=============  ====  =====================================================
"""

import time

import esp32
import machine
import ntptime
import onewire
import wifi
from ds18x20 import DS18X20
from hal import Hal

_ECHO_TIMEOUT_US = 30000  # ~5 m there and back; longer means no echo
_PING_GAP_MS = 60  # let the last echo die out
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0  # ports with a 2000 epoch

MYPY = False
if MYPY:  # annotations only
    from hal import FlashFile
    from measure import Buffer


class Esp32Hal(Hal):
    """Pins and peripherals; construct once per boot."""

    def __init__(self, pins: "dict[str, object]") -> None:
        def pin(name: str, default: int) -> int:
            value = pins.get(name, default)
            return value if isinstance(value, int) else default

        Pin = machine.Pin
        self._power = Pin(pin("sensor_power", 25), Pin.OUT, value=0)
        self._trig = Pin(pin("trig", 26), Pin.OUT, value=0)
        self._echo = Pin(pin("echo", 27), Pin.IN)
        self._ow = onewire.OneWire(Pin(pin("onewire", 4)))
        self._tilt = Pin(pin("tilt", 33), Pin.IN)
        lid = pin("lid", -1)
        self._lid = Pin(lid, Pin.IN) if lid >= 0 else None
        self._adc = machine.ADC(Pin(pin("battery_adc", 34)), atten=machine.ADC.ATTN_11DB)
        ratio = pins.get("battery_ratio", 2.0)
        self._ratio = float(ratio) if isinstance(ratio, (int, float)) else 2.0
        self._rtc = machine.RTC()

    def open_flash(self, path: str, mode: str) -> "FlashFile":
        f: FlashFile = open(path, mode)
        return f

    def rtc_read(self) -> bytes:
        return bytes(self._rtc.memory())

    def rtc_write(self, data: bytes) -> None:
        self._rtc.memory(data)

    def now_s(self) -> int:
        return int(time.time()) + _EPOCH_OFFSET

    def sync_clock(self, host: str) -> bool:
        try:
            ntptime.host = host
            ntptime.settime()
            return True
        except (OSError, OverflowError, IndexError):
            return False

    def sensors_on(self) -> None:
        self._power.value(1)
        time.sleep_ms(150)  # JSN-SR04T needs ~100 ms after power-up

    def sensors_off(self) -> None:
        self._power.value(0)

    def temperature_c(self) -> float | None:
        try:
            ds = DS18X20(self._ow)
            roms = ds.scan()  # type: ignore[no-untyped-call]
            if not roms:
                return None
            for _ in range(2):  # 85.0 is the power-on value, not a reading: convert again
                ds.convert_temp()
                time.sleep_ms(750)
                value = float(ds.read_temp(roms[0]))  # type: ignore[no-untyped-call]
                if value != 85.0 and value > -55.0:
                    return value
            return None if value <= -55.0 else value
        except (OSError, onewire.OneWireError):
            return None

    def ping_into(self, buf: "Buffer", n: int) -> None:
        trig = self._trig
        echo = self._echo
        for i in range(n):  # no allocation: ints into the caller's array
            trig.value(1)
            time.sleep_us(20)
            trig.value(0)
            us = machine.time_pulse_us(echo, 1, _ECHO_TIMEOUT_US)
            buf[i] = us if us > 0 else 0
            time.sleep_ms(_PING_GAP_MS)

    def battery_mv(self) -> int | None:
        total = 0
        for _ in range(8):
            total += self._adc.read_uv()
        return int(total / 8 * self._ratio / 1000)

    def tilted(self) -> bool:
        return bool(self._tilt.value())

    def lid_open(self) -> bool:
        return bool(self._lid.value()) if self._lid is not None else False

    def net_up(self, ssid: str, password: str, timeout_ms: int) -> bool:
        return wifi.connect(ssid, password, timeout_ms)

    def rssi(self) -> int | None:
        return wifi.rssi()

    def net_down(self) -> None:
        wifi.off()

    def deep_sleep(self, ms: int) -> None:
        # An upright bin wakes early when it tips over; a tipped one must not
        # wake continuously, so the tilt pin only arms while it reads upright.
        if not self._tilt.value():
            esp32.wake_on_ext0(self._tilt, esp32.WAKEUP_ANY_HIGH)
        self._power.value(0)
        machine.deepsleep(ms)
