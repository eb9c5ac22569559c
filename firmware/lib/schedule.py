"""When to publish and how long to sleep: the reporting rules, as pure functions.

Each wake the node measures; it publishes only when something is worth the
radio time (``publish_reason``):

* the first reading after a cold boot;
* an alarm flag set or cleared (over-full, no echo, tilted, fire, low battery,
  sensor faults, lid), and every wake while FIRE is set;
* fill moved by ``large_change_threshold`` since the last published reading,
  became known or unknown, or crossed ``nearly_full_threshold``;
* the heartbeat is due (``heartbeat_interval_s`` since the last publish).

It then sleeps ``report_interval_s``, or ``nearly_full_interval_s`` once the
bin is nearly full (so collection is seen promptly), or a minute while FIRE is
set.  Readings that could not be sent stay in the flash buffer; a wake with
nothing new retries the buffer with back-off (every 1, 2, 4, 8 wakes).
"""

import flags
from micropython import const

NONE = const(0)
FIRST = const(1)
ALARM = const(2)
CHANGE = const(3)
HEARTBEAT = const(4)

FIRE_INTERVAL_S = const(60)
MAX_RETRY_SPACING = const(8)


def publish_reason(
    has_last: bool,
    last_fill: int,
    last_flags: int,
    last_pub_s: int,
    fill: int,
    fl: int,
    now_s: int,
    heartbeat_s: int,
    large_change_e4: int,
    nearly_full_e4: int,
) -> int:
    """Why this reading must be published now, or NONE.  Fills are in 1/10000, -32768 = unknown."""
    if not has_last:
        return FIRST
    if fl & flags.FIRE or (fl ^ last_flags) & flags.ALARMS:
        return ALARM
    if _fill_changed(last_fill, fill, large_change_e4, nearly_full_e4):
        return CHANGE
    if now_s - last_pub_s >= heartbeat_s or now_s < last_pub_s:
        return HEARTBEAT
    return NONE


def _fill_changed(last_fill: int, fill: int, large_change_e4: int, nearly_full_e4: int) -> bool:
    if (last_fill < 0) != (fill < 0):
        return True
    if fill < 0:
        return False
    if abs(fill - last_fill) >= large_change_e4:
        return True
    return (fill >= nearly_full_e4) != (last_fill >= nearly_full_e4)


def sleep_s(fill: int, fl: int, report_s: int, nearly_full_s: int, nearly_full_e4: int) -> int:
    """Seconds until the next wake."""
    if fl & flags.FIRE:
        return min(FIRE_INTERVAL_S, nearly_full_s)
    if fill >= nearly_full_e4 or fl & flags.OVERFULL:
        return nearly_full_s
    return report_s


def retry_due(fail_streak: int, wakes_since_fail: int) -> bool:
    """Whether a wake with nothing new should try to empty the buffer (exponential back-off)."""
    spacing = 1 << min(fail_streak, 3)
    return wakes_since_fail >= min(spacing, MAX_RETRY_SPACING)
