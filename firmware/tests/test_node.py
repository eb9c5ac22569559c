"""The wake cycle on the simulated board with the network down (no broker needed)."""

import flags
import node
from hal_sim import SimHal
from util import eq, tmpdir

LOCAL = {
    "device_id": "kls-bin-0009",
    "broker": {"host": "127.0.0.1", "port": 1},
    "calibration": {"mounting_height_mm": 1050, "usable_depth_mm": 800, "dead_zone_mm": 250},
    "ring_capacity": 8,
}


def _run(hal, root, wakes):
    n = None
    for _ in range(wakes):
        n = node.Node(hal, node.load_settings(LOCAL, root, open), root)
        sleep_s = n.wake()
        hal.deep_sleep(sleep_s * 1000)
    return n, sleep_s


def test_offline_readings_are_buffered_and_dropped_when_full():
    root = tmpdir()
    hal = SimHal({"distance_mm": [400, 900], "link": 0})
    n, _ = _run(hal, root, 11)
    eq(n.st.seq, 11, "every wake published (large changes)")
    eq(n.pending(), 8, "ring capacity")
    eq(n.st.drop, 3)
    n = node.Node(hal, node.load_settings(LOCAL, root, open), root)
    rec = n.ring.oldest_record()
    eq(rec[2], 3, "oldest kept is seq 3")
    eq(rec[10], 0, "drop as of that reading")
    n.ring.close()


def test_cold_boot_gets_a_new_boot_number():
    root = tmpdir()
    n, _ = _run(SimHal({"link": 0}), root, 1)
    eq((n.st.boot, n.st.seq), (0, 1))
    n, _ = _run(SimHal({"link": 0}), root, 1)  # new process: RTC memory gone
    eq((n.st.boot, n.st.seq), (1, 1))
    assert n.cold_boot


def test_deep_sleep_keeps_the_boot():
    root = tmpdir()
    hal = SimHal({"distance_mm": [400, 900], "link": 0})
    n, _ = _run(hal, root, 3)
    eq((n.st.boot, n.st.seq), (0, 3))
    assert not n.cold_boot


def test_flags_and_intervals():
    root = tmpdir()
    hal = SimHal({"distance_mm": [150], "temp_c": [None], "battery_mv": [3300], "tilt": [1], "link": 0})
    n, sleep_s = _run(hal, root, 1)
    want = flags.OVERFULL | flags.TEMP_FAULT | flags.LOW_BATTERY | flags.TILTED | flags.CLOCK_UNSET
    eq(n.fl, want, "flags")
    eq(sleep_s, 300, "over-full: nearly-full interval")


def test_fire_reported_every_wake():
    root = tmpdir()
    hal = SimHal({"distance_mm": [700], "temp_c": [32.0, 45.0, 75.0, 75.0], "link": 0})
    n, sleep_s = _run(hal, root, 4)
    assert n.fl & flags.FIRE
    eq(sleep_s, 60)
    eq(n.st.seq, 3, "first, fire (rate), fire again; the 45 °C wake was quiet")


def test_quiet_bin_publishes_on_heartbeat_only():
    root = tmpdir()
    hal = SimHal({"distance_mm": [700], "link": 0})
    n, _ = _run(hal, root, 9)  # 900 s apart: heartbeat 3600 s -> every 4th wake
    eq(n.st.seq, 3)
