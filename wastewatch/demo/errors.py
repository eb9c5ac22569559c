"""The demo's one root error: a message that says what failed and where to look."""

from __future__ import annotations


class DemoError(Exception):
    """The demo could not start or a component failed; the message names the log."""
