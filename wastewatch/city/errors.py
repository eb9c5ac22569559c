"""Errors of the city data: a bad file, row or reference, or a database that refuses."""

from __future__ import annotations

from wastewatch.errors import WastewatchError

__all__ = ["CityDataError", "CityError"]


class CityError(WastewatchError):
    """The city data cannot be read, checked or stored; the message says what to change."""


class CityDataError(CityError):
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
