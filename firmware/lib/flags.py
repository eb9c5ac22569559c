"""Bits of the telemetry ``fl`` field: a copy of ``schema.common.TelemetryFlag``.

The numbering is wire format (a bit keeps its meaning forever).  MicroPython
cannot import the server's enum, so the values are repeated here and
``tests/test_firmware_units.py`` checks them against ``TelemetryFlag`` on every
test run, so the two can never drift.
"""

from micropython import const

OVERFULL = const(1)  # echo inside the dead zone: above the full line or blocked
NO_ECHO = const(2)  # no echo before timeout: lid open, sensor dislodged, out of range
TILTED = const(4)  # container not upright
FIRE = const(8)  # temperature over the threshold or rising too fast
LOW_BATTERY = const(16)  # battery under the configured threshold
CLOCK_UNSET = const(32)  # RTC never synchronised since boot; ts is 0
SENSOR_FAULT = const(64)  # distance sensor unstable or implausible
BUFFERED = const(128)  # held in the flash buffer, published in a later wake
LID_OPEN = const(256)  # lid switch open (bins that have one)
TEMP_FAULT = const(512)  # temperature sensor failed; t_c null

# Flags that describe the bin or the device rather than the delivery: a change
# in any of them (set or cleared) is reported at once.
ALARMS = const(OVERFULL | NO_ECHO | TILTED | FIRE | LOW_BATTERY | SENSOR_FAULT | LID_OPEN | TEMP_FAULT)

NAMES = (
    ("OVERFULL", OVERFULL),
    ("NO_ECHO", NO_ECHO),
    ("TILTED", TILTED),
    ("FIRE", FIRE),
    ("LOW_BATTERY", LOW_BATTERY),
    ("CLOCK_UNSET", CLOCK_UNSET),
    ("SENSOR_FAULT", SENSOR_FAULT),
    ("BUFFERED", BUFFERED),
    ("LID_OPEN", LID_OPEN),
    ("TEMP_FAULT", TEMP_FAULT),
)
