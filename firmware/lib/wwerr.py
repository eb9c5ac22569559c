"""The firmware's one exception class.

Every failure the node can recover from (network down, broker refused, flash
trouble, a bad config message) is a ``WWError`` whose ``code`` says which
stage failed, so the wake cycle decides what to do (keep the reading in the
buffer, try again next wake) without matching on message text.
"""

from micropython import const

NET = const(1)  # Wi-Fi, DNS or socket failure
MQTT = const(2)  # broker refused us or broke the protocol
TIMEOUT = const(3)  # no answer (CONNACK, PUBACK, SUBACK) in time
FLASH = const(4)  # file system trouble
CONFIG = const(5)  # a config document that does not validate


class WWError(Exception):
    """A recoverable failure; ``code`` is one of the constants above."""

    code: int
    detail: str

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
