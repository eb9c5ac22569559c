"""Turning raw sensor values into a distance, a fill level and flags.

Pure functions, no ``machine``: they run unchanged on the unix port, where the
unit tests exercise them.  The ping loop works on a preallocated integer array
with small-integer arithmetic only, so a measurement allocates nothing on the
heap (floats are heap objects on the ESP32 port).

Ultrasonic rules (JSN-SR04T class): several pings per reading; a ping with no
echo, beyond range or inside the dead zone is not a distance; the median of
the good pings is kept when most pings agree.  Echoes inside the dead zone mean
waste above the full line or a blocked sensor (OVERFULL), never a number.
"""

import flags
from micropython import const

MAX_PINGS = const(15)
"""Size of the ping buffer; a reading uses ``pings`` (default 7) of it."""

# reduce_pings() returns a distance (>= 0) or one of these.
DEAD_ZONE = const(-1)
NO_ECHO = const(-2)
UNSTABLE = const(-3)

NULL = const(-32768)
"""Stands for JSON null in the integer fields of a reading (and in flash)."""

DEFAULT_TEMP_C = 30.0
"""Air temperature assumed for the speed of sound when the sensor failed (Kalasin)."""


def sound_factor(temp_c: float | None) -> int:
    """Integer k such that ``distance_mm = (echo_us * k) >> 16``.

    Speed of sound c = 331.3 + 0.606 T m/s; the echo travels there and back, so
    d = echo_us * c / 2e6 mm.  k = c_mm_per_s * 65536 / 2e6 keeps every product
    below 2**30, a small int on 32-bit ports (no bignum allocation).
    """
    if temp_c is None:
        temp_c = DEFAULT_TEMP_C
    temp_c = min(max(temp_c, -40.0), 150.0)
    return int((331300.0 + 606.0 * temp_c) * 0.032768 + 0.5)


def echo_us_for(distance_mm: int, k: int) -> int:
    """Round-trip echo time for a distance: the inverse of the conversion above."""
    return ((distance_mm << 16) + k // 2) // k


def _sort(buf: "Buffer", n: int) -> None:
    # Insertion sort in place: n <= MAX_PINGS, no allocation.
    for i in range(1, n):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


def reduce_pings(buf: "Buffer", n: int, k: int, dead_zone_mm: int, max_mm: int, max_spread_mm: int) -> int:
    """Median distance of the good pings in ``buf[:n]`` (echo times in µs, 0 = none).

    Overwrites ``buf`` with the good distances.  Returns the median in mm, or
    DEAD_ZONE when the echoes say "closer than the sensor can see", NO_ECHO when
    nothing came back, UNSTABLE when the good pings are too few or disagree.
    """
    good = 0
    dead = 0
    for i in range(n):
        us = buf[i]
        if us <= 0:
            continue
        d = (us * k) >> 16
        if d < dead_zone_mm:
            dead += 1
        elif d <= max_mm:
            buf[good] = d
            good += 1
    if good * 2 > n:
        _sort(buf, good)
        quarter = good // 4
        if buf[good - 1 - quarter] - buf[quarter] > max_spread_mm:
            return UNSTABLE
        return (buf[(good - 1) // 2] + buf[good // 2]) // 2
    if dead and dead >= good:
        return DEAD_ZONE
    if not good:
        return NO_ECHO
    return UNSTABLE


def distance_flags(result: int) -> int:
    """Flag bits for a reduce_pings() result."""
    if result == DEAD_ZONE:
        return flags.OVERFULL
    if result == NO_ECHO:
        return flags.NO_ECHO
    if result == UNSTABLE:
        return flags.SENSOR_FAULT
    return 0


def fill_e4(distance_mm: int, mounting_height_mm: int, usable_depth_mm: int) -> int:
    """Fill in 1/10000 of usable depth, clamped to 0..10000 (schema's formula, rounded).

    ``fill = (mounting_height_mm - d_mm) / usable_depth_mm``, the same formula as
    ``schema.config.Calibration.fill_from_distance``.
    """
    if distance_mm >= mounting_height_mm:
        return 0
    f = ((mounting_height_mm - distance_mm) * 10000 + usable_depth_mm // 2) // usable_depth_mm
    return f if f < 10000 else 10000


def reading_fill(result: int, mounting_height_mm: int, usable_depth_mm: int) -> int:
    """Fill for a reduce_pings() result: a number, 10000 when over-full, else NULL."""
    if result >= 0:
        return fill_e4(result, mounting_height_mm, usable_depth_mm)
    if result == DEAD_ZONE:
        return 10000
    return NULL


def temp_dc(temp_c: float | None) -> int:
    """Temperature in tenths of a degree, clamped to the schema's -40..150 °C; NULL if unknown."""
    if temp_c is None:
        return NULL
    t = int(temp_c * 10 + (0.5 if temp_c >= 0 else -0.5))
    return min(max(t, -400), 1500)


def fire(t_dc: int, prev_t_dc: int, elapsed_s: int, fire_temp_c: float, rise_c_per_min: float) -> bool:
    """Fire heuristic: hot, or heating faster than ``rise_c_per_min``.

    The rate needs a previous temperature from at least 30 s earlier, so a
    quick re-measure cannot turn sensor noise into an alarm.
    """
    if t_dc == NULL:
        return False
    if t_dc >= fire_temp_c * 10:
        return True
    if prev_t_dc == NULL or elapsed_s < 30:
        return False
    return (t_dc - prev_t_dc) * 6 >= rise_c_per_min * elapsed_s


def battery_flags(battery_mv: int, low_battery_mv: int) -> int:
    """LOW_BATTERY when the voltage under load is below the threshold."""
    if battery_mv != NULL and battery_mv < low_battery_mv:
        return flags.LOW_BATTERY
    return 0


MYPY = False
if MYPY:  # MicroPython has no typing module; annotations are not evaluated there
    from array import array

    Buffer = array[int] | bytearray | list[int]
