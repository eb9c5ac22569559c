"""Names that differ between MicroPython ports, resolved once.

Older ports and some builds only have the ``u``-prefixed modules; everything
else in the firmware imports ``socket``, ``select``, ticks and ``crc32`` from
here.
"""

try:
    import socket
except ImportError:  # pragma: no cover - old ports
    import usocket as socket  # type: ignore[no-redef]
try:
    import select
except ImportError:  # pragma: no cover - old ports
    import uselect as select  # type: ignore[no-redef]
import time

try:
    from binascii import crc32
except ImportError:  # pragma: no cover - ports built without it

    def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int:  # type: ignore[misc]
        """Bitwise CRC-32 (IEEE), slow but only used on a few dozen bytes."""
        crc = value ^ 0xFFFFFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF


ticks_ms = time.ticks_ms
ticks_diff = time.ticks_diff
ticks_add = time.ticks_add
sleep_ms = time.sleep_ms

__all__ = ["crc32", "select", "sleep_ms", "socket", "ticks_add", "ticks_diff", "ticks_ms"]
