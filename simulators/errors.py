"""The simulator's one root error and the few kinds a user can act on."""

from __future__ import annotations

from wastewatch.city import CityDataError
from wastewatch.errors import WastewatchError

__all__ = [
    "BrokerUnreachableError",
    "CityDataError",
    "LoginRefusedError",
    "PlanShapeError",
    "PlanSourceError",
    "PublishError",
    "SimulatorError",
]


class SimulatorError(WastewatchError):
    """Anything the simulator cannot do; the message says what to change.

    The CLI prints it as one line (exit 2) instead of a traceback.
    """


class PlanSourceError(SimulatorError):
    """Route plans cannot be read: the database did not answer, or refused."""


class PlanShapeError(PlanSourceError):
    """Route plan tables exist but not in the shape this simulator reads.

    Unlike an unreachable database (which means the fixed schedule), this is a
    mistake to fix, so :class:`~wastewatch.workbench.simulators.plans.QuietPlanSource`
    lets it through.
    """

    hint = "see simulators/plans.py for the columns the simulator reads"


class PublishError(SimulatorError):
    """The MQTT broker refused, dropped or stopped acknowledging our messages.

    ``retriable``: whether connecting again may help (a reconnecting publisher retries
    only those, with back-off).
    """

    retriable: bool = False


class BrokerUnreachableError(PublishError):
    """No connection to the broker: TCP refused or cut, no CONNACK in time, or (from a
    reconnecting publisher) no reconnect within its back-off limit. Retriable."""

    retriable = True


class LoginRefusedError(PublishError):
    """The broker answered and refused the login (credentials, client id, ACL): retrying
    the same login cannot help, so a first connection fails at once."""

    retriable = False
