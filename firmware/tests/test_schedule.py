import flags
import schedule
from measure import NULL
from util import eq

HB = 3600
LARGE = 1000
NEAR = 7500


def reason(last_fill, last_flags, last_pub, fill, fl, now, has_last=True):
    return schedule.publish_reason(has_last, last_fill, last_flags, last_pub, fill, fl, now, HB, LARGE, NEAR)


def test_first_reading_of_a_boot():
    eq(reason(NULL, 0, 0, 4000, 0, 10, has_last=False), schedule.FIRST)


def test_quiet_bin_waits_for_heartbeat():
    eq(reason(4000, 0, 0, 4500, 0, 900), schedule.NONE)
    eq(reason(4000, 0, 0, 4500, 0, 3599), schedule.NONE)
    eq(reason(4000, 0, 0, 4500, 0, 3600), schedule.HEARTBEAT)


def test_clock_jump_back_forces_heartbeat():
    eq(reason(4000, 0, 5000, 4000, 0, 100), schedule.HEARTBEAT)


def test_large_change():
    eq(reason(4000, 0, 0, 5000, 0, 900), schedule.CHANGE)
    eq(reason(4000, 0, 0, 3000, 0, 900), schedule.CHANGE)
    eq(reason(4000, 0, 0, NULL, 0, 900), schedule.CHANGE, "became unknown")
    eq(reason(NULL, 0, 0, 4000, 0, 900), schedule.CHANGE, "became known")


def test_crossing_nearly_full():
    eq(reason(7000, 0, 0, 7600, 0, 900), schedule.CHANGE)
    eq(reason(7600, 0, 0, 7700, 0, 900), schedule.NONE)


def test_alarms_at_once():
    eq(reason(4000, 0, 0, 4000, flags.TILTED, 900), schedule.ALARM, "set")
    eq(reason(4000, flags.TILTED, 0, 4000, 0, 900), schedule.ALARM, "cleared")
    eq(reason(4000, flags.FIRE, 0, 4000, flags.FIRE, 900), schedule.ALARM, "fire keeps reporting")
    eq(reason(4000, flags.CLOCK_UNSET, 0, 4000, flags.CLOCK_UNSET, 900), schedule.NONE, "not an alarm")


def test_sleep_intervals():
    eq(schedule.sleep_s(4000, 0, 900, 300, NEAR), 900)
    eq(schedule.sleep_s(8000, 0, 900, 300, NEAR), 300, "nearly full")
    eq(schedule.sleep_s(NULL, flags.OVERFULL, 900, 300, NEAR), 300, "over-full")
    eq(schedule.sleep_s(4000, flags.FIRE, 900, 300, NEAR), 60, "fire")


def test_retry_back_off():
    assert schedule.retry_due(0, 1)
    assert schedule.retry_due(1, 2) and not schedule.retry_due(1, 1)
    assert schedule.retry_due(5, 8) and not schedule.retry_due(5, 7)
