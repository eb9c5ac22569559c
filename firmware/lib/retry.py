"""Retries in one thin wrapper, so the rest of the code states each attempt once."""

from compat import sleep_ms
from wwerr import WWError

MYPY = False
if MYPY:  # annotations only
    from typing import Callable, TypeVar

    T = TypeVar("T")


def retry(action: "Callable[[], T]", attempts: int, delay_ms: int) -> "T":
    """Call ``action`` until it does not raise WWError, at most ``attempts`` times.

    The wait doubles after each failure; the last failure is re-raised.
    """
    for i in range(attempts - 1):
        try:
            return action()
        except WWError as exc:
            print("retry %d: %s" % (i + 1, exc.detail))
            sleep_ms(delay_ms << i)
    return action()
