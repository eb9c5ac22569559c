"""The simulator's one root error and the few kinds a user can act on."""

from __future__ import annotations

__all__ = ["CityDataError", "PlanSourceError", "PublishError", "SimulatorError"]


class SimulatorError(Exception):
    """Anything the simulator cannot do; the message says what to change.

    The CLI prints it as one line (exit 1) instead of a traceback.
    """


class CityDataError(SimulatorError):
    """A city data file is unusable; ``str()`` names the file, the line (CSV) or
    feature (GeoJSON), the field, and what to do."""

    def __init__(self, path: str, where: str | None, field: str | None, problem: str) -> None:
        place = path if where is None else f"{path}, {where}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{place}:{what} {problem}")
        self.path = path
        self.where = where
        self.field = field
        self.problem = problem


class PlanSourceError(SimulatorError):
    """Route plans exist but cannot be read in the shape this simulator expects."""


class PublishError(SimulatorError):
    """The MQTT broker refused, dropped or stopped acknowledging our messages."""
