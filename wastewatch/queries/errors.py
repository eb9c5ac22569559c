"""Errors of the planning layer: a parameter a person gave is wrong, and how; or the
database the planners read could not be read."""

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


class DatabaseReadError(PlanningError):
    """The read-only database role could not read what a planner asked for: the
    database is down, not migrated, or refused the role; the message says which."""

    hint = "is the database up and migrated? `wastewatch db migrate`"

    @classmethod
    def because(cls, exc: BaseException) -> DatabaseReadError:
        """``cannot read the database: `` and the first line of the driver's error."""
        text = str(exc).strip()
        return cls(
            f"cannot read the database: {text.splitlines()[0] if text else type(exc).__name__}"
        )
