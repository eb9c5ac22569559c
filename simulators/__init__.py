"""simulators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.workbench.simulators.build import build_simulation, reporting_every
    from wastewatch.workbench.simulators.calendar import Calendar, load_calendar, local_day_and_hour
    from wastewatch.workbench.simulators.devices import Emission, ReportingConfig
    from wastewatch.workbench.simulators.dynamics import FillModel
    from wastewatch.workbench.simulators.engine import _WAKE, Simulation, select_bins
    from wastewatch.workbench.simulators.errors import PublishError, SimulatorError
    from wastewatch.workbench.simulators.faults import FaultRates
    from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
    from wastewatch.workbench.simulators.plans import DbPlanSource, QuietPlanSource
    from wastewatch.workbench.simulators.publish import (
        DEFAULT_BACKOFF,
        DEFAULT_WINDOW,
        Backoff,
        MqttTarget,
        PublisherPool,
        Sender,
        configure_worker,
        connect,
        loop_once,
        new_client,
        stop_processes,
        target_from_env,
        worker_logging,
    )
    from wastewatch.workbench.simulators.run import LiveOptions, run_live, run_replay
    from wastewatch.workbench.simulators.trucks import PlannedRoute
    from wastewatch.workbench.simulators.truth import GroundTruth

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_CITY_DIR",
    "DEFAULT_WINDOW",
    "_WAKE",
    "Backoff",
    "Calendar",
    "DbPlanSource",
    "Emission",
    "FaultRates",
    "FillModel",
    "GroundTruth",
    "LiveOptions",
    "MqttTarget",
    "PlannedRoute",
    "PublishError",
    "PublisherPool",
    "QuietPlanSource",
    "ReportingConfig",
    "Sender",
    "Simulation",
    "SimulatorError",
    "build_simulation",
    "configure_worker",
    "connect",
    "load_calendar",
    "local_day_and_hour",
    "loop_once",
    "new_client",
    "reporting_every",
    "run_live",
    "run_replay",
    "select_bins",
    "stop_processes",
    "target_from_env",
    "worker_logging",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
