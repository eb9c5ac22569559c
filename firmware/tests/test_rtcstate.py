import rtcstate
from util import eq


def test_roundtrip():
    s = rtcstate.RtcState(17)
    s.seq = 4242
    s.drop = 3
    s.last_pub_s = 1767225600
    s.last_fill = 4200
    s.last_flags = 40
    s.has_last = True
    s.last_t_dc = -35
    s.rssi = -71
    s.clock_set = True
    s.fail_streak = 2
    got = rtcstate.unpack(s.pack())
    assert got is not None
    for name in ("boot", "seq", "drop", "last_pub_s", "last_fill", "last_flags", "has_last", "last_t_dc", "rssi", "clock_set", "fail_streak", "connected_once"):
        eq(getattr(got, name), getattr(s, name), name)


def test_empty_or_corrupt_is_a_cold_boot():
    eq(rtcstate.unpack(b""), None)
    data = bytearray(rtcstate.RtcState(1).pack())
    data[5] ^= 1
    eq(rtcstate.unpack(bytes(data)), None)
    eq(rtcstate.unpack(bytes(64)), None)
