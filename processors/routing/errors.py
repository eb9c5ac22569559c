"""The route planner's errors: one root under :class:`wastewatch.processors.errors.ProcessorError`.

Each names what the operator can act on (a bad instance file, a distance
service that did not answer, a day whose must-collect bins do not fit the
fleet), so the CLI prints one sentence instead of a traceback and never an
empty plan in place of a failure.
"""

from __future__ import annotations

from wastewatch.processors.errors import ProcessorError

__all__ = [
    "DistanceError",
    "InstanceError",
    "NoFleetError",
    "PlanStoreError",
    "RoutingError",
    "SolverError",
]


class RoutingError(ProcessorError):
    """Root of every error raised by ``wastewatch.processors.routing``."""


class InstanceError(RoutingError, ValueError):
    """A VRPLIB file (or planning input) cannot be read or makes no sense."""


class DistanceError(RoutingError):
    """The distance/duration matrix could not be built (CSV gap, service down, bad answer)."""


class NoFleetError(RoutingError):
    """Bins of a stream are due but no truck of that stream is on duty that day."""


class SolverError(RoutingError):
    """The solver found no feasible plan within its time limit."""

    cut_by_time: bool = False
    """True when an iteration budget was asked for and the time limit ended the search
    first (so another run of the same inputs might have found a plan)."""

    def __init__(self, *args: object, hint: str | None = None, cut_by_time: bool = False):
        super().__init__(*args, hint=hint)
        self.cut_by_time = cut_by_time


class PlanStoreError(RoutingError):
    """Plans could not be read from or written to the database, or published."""
