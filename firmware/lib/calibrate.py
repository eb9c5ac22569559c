"""Installation helper for technicians: what the sensor sees, with the node's own filter.

At the REPL (maintenance mode, BOOT button held at wake) or over USB::

    mpremote exec "import calibrate; calibrate.run()"

Prints five readings of distance (median of 15 pings), temperature, battery,
tilt, and the fill level that the current calibration in wastewatch.json gives.
"""

import measure
import store
from array import array
from compat import sleep_ms

MYPY = False
if MYPY:  # annotations only
    from hal import Hal


def reading(hal: "Hal", dead_zone_mm: int, pings: int = 15) -> tuple[int, float | None]:
    """(result of reduce_pings, temperature) for one burst of pings."""
    buf = array("i", [0] * measure.MAX_PINGS)
    hal.sensors_on()
    try:
        temp_c = hal.temperature_c()
        hal.ping_into(buf, pings)
    finally:
        hal.sensors_off()
    k = measure.sound_factor(temp_c)
    return measure.reduce_pings(buf, pings, k, dead_zone_mm, 6000, 60), temp_c


def run(times: int = 5) -> None:
    """Print ``times`` readings using the board and calibration in /wastewatch.json."""
    import hal_esp32
    import node

    local = store.read_json("/wastewatch.json", open)
    if local is None:
        print("/wastewatch.json missing: write it first (see README)")
        return
    s = node.load_settings(local, "/ww", open)
    hal = hal_esp32.Esp32Hal(s.pins)
    names = {measure.DEAD_ZONE: "DEAD ZONE (over-full or blocked)", measure.NO_ECHO: "NO ECHO", measure.UNSTABLE: "UNSTABLE"}
    for _ in range(times):
        result, temp_c = reading(hal, s.dead_zone_mm)
        fill = measure.reading_fill(result, s.mounting_height_mm, s.usable_depth_mm)
        print(
            "distance %s mm  temp %s C  battery %s mV  tilted %s  fill %s"
            % (
                result if result >= 0 else names.get(result, result),
                temp_c,
                hal.battery_mv(),
                hal.tilted(),
                "-" if fill == measure.NULL else "%d.%02d" % (fill // 10000, fill % 10000 // 100),
            )
        )
        sleep_ms(500)
