"""Board entry point: one wake of the bin sensor, then deep sleep.

Copied to the ESP32's flash root (``mpremote cp main.py :``) with ``lib/`` in
``/lib``.  Hold the BOOT button (GPIO0) while the board wakes to stay awake
at the REPL for maintenance (flashing, editing wastewatch.json).
"""

import machine
import hal_esp32
import node
import store
from wwerr import CONFIG, WWError

ROOT = "/ww"
LOCAL_CONFIG = "/wastewatch.json"
FALLBACK_SLEEP_S = 900


def run() -> None:
    """Wake, measure, publish, sleep; never stays awake on an error (battery)."""
    if machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0:
        print("maintenance mode: BOOT button held, staying awake")
        return
    wdt = machine.WDT(timeout=120000)  # a hung wake resets instead of draining the battery
    sleep_s = FALLBACK_SLEEP_S
    hal = None
    try:
        store.ensure_dir(ROOT)
        local = store.read_json(LOCAL_CONFIG, open)
        if local is None:
            raise WWError(CONFIG, LOCAL_CONFIG + " missing or not JSON")
        s = node.load_settings(local, ROOT, open)
        pins = s.pins
        hal = hal_esp32.Esp32Hal(pins)
        sleep_s = node.Node(hal, s, ROOT).wake()
    except Exception as exc:  # noqa: BLE001 - any failure still ends in sleep
        print("wake failed:", exc)
    wdt.feed()
    if hal is None:
        machine.deepsleep(sleep_s * 1000)
    else:
        hal.deep_sleep(sleep_s * 1000)


run()
