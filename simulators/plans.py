"""The simulated trucks' route-plan reader: the latest plan per truck for a day.

The route planner stores plans in ``route_plans`` / ``route_stops``;
:class:`DbPlanSource` reads the latest plan per truck for a service date and
answers None when the tables do not exist (yet) or hold no plan for that day,
so the simulated trucks fall back to the fixed schedule.  Columns it expects
(from :class:`wastewatch.schema.routes.RoutePlanV2`):
``route_plans(plan_id, service_date, truck_id, waste_stream, created_at)`` and
``route_stops(plan_id, sequence, bin_id, eta)``.  Every stop comes back in sequence
order, a bin's repeat visit (``route_stops.visit`` 2, migration 0012) included, so a
truck that the plan sends to a market bin twice goes twice.

:class:`QuietPlanSource` wraps it for a simulator run that should not need the
database unless plans are really there: an unreachable database means the fixed
schedule (said once), tables in the wrong shape (:class:`PlanShapeError`) are
still an error.  The decision is on the error's class, never its text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import psycopg

from wastewatch.schema import WasteStream
from wastewatch.workbench.simulators.errors import PlanShapeError, PlanSourceError
from wastewatch.workbench.simulators.trucks import PlannedRoute, PlanSource

__all__ = ["DbPlanSource", "QuietPlanSource"]


class DbPlanSource:
    """Latest route plan per truck for a day, from ``route_plans`` / ``route_stops``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def plans_for(self, service_date: date) -> Sequence[PlannedRoute] | None:
        try:
            with psycopg.connect(self.dsn, connect_timeout=10) as conn:
                row = conn.execute(
                    "select to_regclass('route_plans') is not null "
                    "and to_regclass('route_stops') is not null"
                ).fetchone()
                if row is None or not row[0]:
                    return None
                plans = conn.execute(
                    """select distinct on (truck_id) plan_id, truck_id, waste_stream
                    from route_plans where service_date = %s
                    order by truck_id, created_at desc, plan_id desc""",
                    [service_date],
                ).fetchall()
                if not plans:
                    return None
                out: list[PlannedRoute] = []
                for plan_id, truck_id, stream in plans:
                    stops = conn.execute(
                        """select bin_id, extract(epoch from eta)::bigint from route_stops
                        where plan_id = %s order by sequence""",
                        [plan_id],
                    ).fetchall()
                    out.append(
                        PlannedRoute(
                            truck_id=str(truck_id),
                            waste_stream=WasteStream(stream),
                            stops=tuple((str(b), int(eta)) for b, eta in stops),
                            plan_id=str(plan_id),
                        )
                    )
                return out
        except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable) as exc:
            raise PlanShapeError(
                f"route_plans/route_stops exist but not in the expected shape: {exc}; "
                "see simulators/plans.py for the columns the simulator reads"
            ) from exc
        except psycopg.Error as exc:
            raise PlanSourceError(f"cannot read route plans: {exc}") from exc


class QuietPlanSource:
    """A plan source whose unreachable database means the fixed schedule.

    A :class:`PlanSourceError` (the database did not answer or refused) is told once
    through ``warn`` and answered with None, so the trucks keep their fixed rounds; a
    :class:`PlanShapeError` (plan tables in the wrong shape) is raised: that is a
    mistake to fix, not a database to wait for.
    """

    def __init__(self, inner: PlanSource, warn: Callable[[PlanSourceError], None]) -> None:
        self.inner = inner
        self.warn = warn
        self.warned = False

    def plans_for(self, service_date: date) -> Sequence[PlannedRoute] | None:
        try:
            return self.inner.plans_for(service_date)
        except PlanShapeError:
            raise
        except PlanSourceError as exc:
            if not self.warned:
                self.warned = True
                self.warn(exc)
            return None
