"""The board as the node sees it: one class to implement per board.

``hal_esp32.Esp32Hal`` drives the real pins; ``hal_sim.SimHal`` plays a
scenario on the unix port.  Nothing else in the node touches hardware, so the
node's logic is the same code in both.
"""

MYPY = False
if MYPY:  # annotations only; MicroPython has no typing module
    from typing import Callable, Protocol

    class FlashFile(Protocol):
        """What the node needs of an open flash file (MicroPython's file objects)."""

        def read(self, size: int = -1) -> bytes: ...
        def readinto(self, buf: bytearray) -> int | None: ...
        def write(self, data: "bytes | bytearray | memoryview") -> int | None: ...
        def seek(self, offset: int, whence: int = 0) -> int: ...
        def flush(self) -> None: ...
        def close(self) -> None: ...

    Opener = Callable[[str, str], FlashFile]


class Hal:
    """Pins, sensors, RTC memory, clock, radio and sleep of one board."""

    def open_flash(self, path: str, mode: str) -> "FlashFile":
        """Open a file on the flash file system (``open`` on a real board)."""
        raise NotImplementedError

    def rtc_read(self) -> bytes:
        """RTC memory as left by the previous wake (empty after a power cut)."""
        raise NotImplementedError

    def rtc_write(self, data: bytes) -> None:
        """Save RTC memory for the next wake."""
        raise NotImplementedError

    def now_s(self) -> int:
        """RTC seconds since 1970; meaningless until sync_clock() succeeded once."""
        raise NotImplementedError

    def sync_clock(self, host: str) -> bool:
        """Set the RTC from NTP (network up); True on success."""
        raise NotImplementedError

    def sensors_on(self) -> None:
        """Power the sensors and wait until they are ready."""
        raise NotImplementedError

    def sensors_off(self) -> None:
        """Cut sensor power."""
        raise NotImplementedError

    def temperature_c(self) -> float | None:
        """Temperature in the bin, None when the sensor fails."""
        raise NotImplementedError

    def ping_into(self, buf: "Buffer", n: int) -> None:
        """``n`` ultrasonic pings: echo times in µs into ``buf[:n]``, 0 for no echo. No allocation."""
        raise NotImplementedError

    def battery_mv(self) -> int | None:
        """Battery voltage under load, None when not wired."""
        raise NotImplementedError

    def tilted(self) -> bool:
        """Container not upright."""
        raise NotImplementedError

    def lid_open(self) -> bool:
        """Lid switch open (False where no switch is fitted)."""
        raise NotImplementedError

    def net_up(self, ssid: str, password: str, timeout_ms: int) -> bool:
        """Join Wi-Fi; True when the node has an IP address."""
        raise NotImplementedError

    def rssi(self) -> int | None:
        """Signal strength of the current association in dBm."""
        raise NotImplementedError

    def net_down(self) -> None:
        """Radio off."""
        raise NotImplementedError

    def deep_sleep(self, ms: int) -> None:
        """Sleep; on a real board this never returns (the next wake is a reset)."""
        raise NotImplementedError


if MYPY:
    from measure import Buffer
