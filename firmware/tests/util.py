"""Helpers for the firmware unit tests (MicroPython has no pytest)."""

import os

BASE = "/tmp"
_count = [0]


def tmpdir() -> str:
    """A new empty directory under BASE."""
    _count[0] += 1
    path = "%s/t%d" % (BASE, _count[0])
    os.mkdir(path)
    return path


def eq(got: object, want: object, what: str = "") -> None:
    """assert with both values in the message."""
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def raises(code: int, fn: "object", *args: object) -> None:
    """fn(*args) must raise WWError with ``code``."""
    from wwerr import WWError

    try:
        fn(*args)  # type: ignore[operator]
    except WWError as exc:
        eq(exc.code, code, "error code")
        return
    raise AssertionError("no WWError raised")
