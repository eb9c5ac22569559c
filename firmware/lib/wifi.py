"""Wi-Fi station mode, isolated here so the rest never imports ``network``."""

import network
from compat import sleep_ms, ticks_diff, ticks_ms

_wlan: network.WLAN | None = None


def _station() -> network.WLAN:
    global _wlan
    if _wlan is None:
        _wlan = network.WLAN(network.STA_IF)
    return _wlan


def connect(ssid: str, password: str, timeout_ms: int) -> bool:
    """Join ``ssid``; True once an IP address is assigned, False after ``timeout_ms``."""
    wlan = _station()
    wlan.active(True)
    if wlan.isconnected():
        return True
    wlan.connect(ssid, password)
    start = ticks_ms()
    while not wlan.isconnected():
        if ticks_diff(ticks_ms(), start) > timeout_ms:
            wlan.disconnect()
            return False
        sleep_ms(50)
    return True


def rssi() -> int | None:
    """RSSI of the association in dBm, None if unknown."""
    try:
        return int(_station().status("rssi"))
    except (OSError, ValueError, TypeError):
        return None


def off() -> None:
    """Disconnect and power the radio down."""
    wlan = _station()
    try:
        wlan.disconnect()
    except OSError:
        pass
    wlan.active(False)
