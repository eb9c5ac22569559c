"""What the node remembers across deep sleep, kept in RTC memory.

RTC slow memory survives deep sleep (and soft resets) but not a power cut, so
it holds only what a cold boot may forget: the sequence number of this boot
(a cold boot starts a new boot number, so keys stay unique), what was last
published (for the change and heartbeat rules), the last temperature (for the
fire rate), and the retry back-off.  A CRC guards it; a bad CRC is a cold boot.
"""

import struct

from compat import crc32
from micropython import const

_MAGIC = const(0x5352)
_FMT = "<HHIIIIIhHhIhHHBB"

NULL = const(-32768)


class RtcState:
    """Plain fields; ``pack()`` / ``unpack()`` convert to the RTC memory bytes."""

    def __init__(self, boot: int) -> None:
        self.boot = boot
        self.seq = 0  # next sequence number in this boot
        self.drop = 0  # readings dropped since boot (buffer full)
        self.last_pub_s = 0  # clock reading at the last recorded publish
        self.last_fill = NULL  # fill (1/10000) of the last published reading
        self.last_flags = 0
        self.has_last = False
        self.last_t_dc = NULL  # last measured temperature, for the fire rate
        self.last_t_s = 0
        self.rssi = NULL  # RSSI of the last association, reported with readings
        self.wakes = 0
        self.fail_streak = 0  # consecutive failed connection attempts
        self.wakes_since_fail = 0
        self.clock_set = False
        self.connected_once = False

    def pack(self) -> bytes:
        """RTC memory image with a CRC."""
        body = struct.pack(
            _FMT,
            _MAGIC,
            1,
            self.boot,
            self.seq,
            self.drop,
            self.last_pub_s,
            self.last_t_s,
            self.last_fill,
            self.last_flags,
            self.last_t_dc,
            self.wakes,
            self.rssi,
            self.fail_streak,
            self.wakes_since_fail,
            (1 if self.has_last else 0) | (2 if self.clock_set else 0) | (4 if self.connected_once else 0),
            0,
        )
        return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def unpack(data: bytes) -> "RtcState | None":
    """The state in ``data``, or None when it is missing, from other firmware or corrupt."""
    size = struct.calcsize(_FMT)
    if len(data) < size + 4:
        return None
    body = data[:size]
    if struct.unpack("<I", data[size : size + 4])[0] != crc32(body) & 0xFFFFFFFF:
        return None
    v = struct.unpack(_FMT, body)
    if v[0] != _MAGIC or v[1] != 1:
        return None
    s = RtcState(v[2])
    s.seq = v[3]
    s.drop = v[4]
    s.last_pub_s = v[5]
    s.last_t_s = v[6]
    s.last_fill = v[7]
    s.last_flags = v[8]
    s.last_t_dc = v[9]
    s.wakes = v[10]
    s.rssi = v[11]
    s.fail_streak = v[12]
    s.wakes_since_fail = v[13]
    s.has_last = bool(v[14] & 1)
    s.clock_set = bool(v[14] & 2)
    s.connected_once = bool(v[14] & 4)
    return s
