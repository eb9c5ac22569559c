import flags
import measure
import micropython
from array import array
from measure import NULL
from util import eq


def test_sound_factor_follows_temperature():
    # c(20 °C) = 343.42 m/s: a 1000 mm target echoes after 5823.8 µs.
    k = measure.sound_factor(20.0)
    eq((5824 * k) >> 16, 1000, "distance at 20 C")
    k35 = measure.sound_factor(35.0)
    assert k35 > k
    eq(measure.sound_factor(None), measure.sound_factor(measure.DEFAULT_TEMP_C), "default")


def test_echo_roundtrip():
    k = measure.sound_factor(31.5)
    for d in (250, 612, 1000, 4999):
        got = (measure.echo_us_for(d, k) * k) >> 16
        assert abs(got - d) <= 1, (d, got)


def _pings(distances, temp=25.0):
    k = measure.sound_factor(temp)
    buf = array("i", [0] * measure.MAX_PINGS)
    for i, d in enumerate(distances):
        buf[i] = 0 if d is None else measure.echo_us_for(d, k)
    return buf, len(distances), k


def test_median_of_good_pings():
    buf, n, k = _pings([700, 705, 698, 702, 699, 701, 703])
    eq(measure.reduce_pings(buf, n, k, 250, 6000, 60), 701, "median")


def test_outliers_rejected():
    buf, n, k = _pings([700, None, 702, 7000, 701, 699, None])
    eq(measure.reduce_pings(buf, n, k, 250, 6000, 60), 700, "median of 4 good")


def test_dead_zone_is_overfull_not_a_number():
    buf, n, k = _pings([120, 130, 180, 90, 700, 150, 140])
    r = measure.reduce_pings(buf, n, k, 250, 6000, 60)
    eq(r, measure.DEAD_ZONE)
    eq(measure.distance_flags(r), flags.OVERFULL)
    eq(measure.reading_fill(r, 1050, 800), 10000, "over-full counts as full")


def test_no_echo():
    buf, n, k = _pings([None] * 7)
    r = measure.reduce_pings(buf, n, k, 250, 6000, 60)
    eq(r, measure.NO_ECHO)
    eq(measure.distance_flags(r), flags.NO_ECHO)
    eq(measure.reading_fill(r, 1050, 800), NULL)


def test_unstable_is_a_sensor_fault():
    buf, n, k = _pings([400, 900, 600, 1200, 700, 300, 1000])
    r = measure.reduce_pings(buf, n, k, 250, 6000, 60)
    eq(r, measure.UNSTABLE)
    eq(measure.distance_flags(r), flags.SENSOR_FAULT)
    buf, n, k = _pings([700, 702, 701, None, None, None, None])
    eq(measure.reduce_pings(buf, n, k, 250, 6000, 60), measure.UNSTABLE, "too few good")


def test_measuring_does_not_allocate():
    buf, n, k = _pings([700, 705, 698, 702, 699, 701, 703])
    micropython.heap_lock()
    try:
        r = measure.reduce_pings(buf, n, k, 250, 6000, 60)
        f = measure.fill_e4(r, 1050, 800)
    finally:
        micropython.heap_unlock()
    eq(r, 701)
    eq(f, 4363)


def test_fill_clamped():
    eq(measure.fill_e4(1050, 1050, 800), 0, "empty")
    eq(measure.fill_e4(1400, 1050, 800), 0, "below the floor")
    eq(measure.fill_e4(250, 1050, 800), 10000, "full line")
    eq(measure.fill_e4(100, 1050, 800), 10000, "above the full line")
    eq(measure.fill_e4(612, 1050, 800), 5475, "rounded")


def test_temperature_tenths():
    eq(measure.temp_dc(31.54), 315)
    eq(measure.temp_dc(-3.25), -33)
    eq(measure.temp_dc(None), NULL)
    eq(measure.temp_dc(300.0), 1500, "clamped to the schema range")


def test_fire_by_threshold_and_rate():
    assert measure.fire(700, NULL, 0, 70.0, 5.0)
    assert not measure.fire(690, NULL, 0, 70.0, 5.0)
    assert measure.fire(600, 300, 300, 70.0, 5.0)  # +30 °C in 5 min = 6 °C/min
    assert not measure.fire(400, 300, 300, 70.0, 5.0)  # 2 °C/min
    assert not measure.fire(600, 300, 10, 70.0, 5.0)  # too short an interval to judge
    assert not measure.fire(NULL, 300, 300, 70.0, 5.0)


def test_battery():
    eq(measure.battery_flags(3300, 3400), flags.LOW_BATTERY)
    eq(measure.battery_flags(3400, 3400), 0)
    eq(measure.battery_flags(NULL, 3400), 0)
