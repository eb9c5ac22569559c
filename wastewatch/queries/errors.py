"""Errors of the planning layer: a parameter a person gave is wrong, and how."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class PlanningError(WastewatchError):
    """Root of the planning errors."""


class BadParameterError(PlanningError):
    """A filter, period or option that cannot be used; the message says what is wrong.

    ``param`` names the parameter as the person wrote it (``--zone`` on the command
    line, ``zone`` in the API), so each front end can point at it.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
