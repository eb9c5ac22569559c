"""The one way a :class:`~wastewatch.workbench.simulators.engine.Simulation` is put together.

City data, calendar, options, plan source and ground truth: the simulate command,
the demo's fleet, the benchmarks and evaluations and the tests all build theirs
with :func:`build_simulation`, which fills in the Kalasin data and calendar
shipped with the simulator unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path

from wastewatch.city import CityData, load_city
from wastewatch.workbench.simulators.calendar import Calendar, load_calendar
from wastewatch.workbench.simulators.devices import ReportingConfig
from wastewatch.workbench.simulators.engine import SimOptions, Simulation
from wastewatch.workbench.simulators.faults import FaultRates
from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.trucks import PlanSource
from wastewatch.workbench.simulators.truth import GroundTruth

__all__ = ["build_simulation", "default_calendar", "default_city", "reporting_every"]


def default_city() -> CityData:
    """The Kalasin city data shipped with the simulator."""
    return load_city([DEFAULT_CITY_DIR])


def default_calendar() -> Calendar:
    """The Kalasin calendar shipped with the simulator."""
    return load_calendar(DEFAULT_CITY_DIR / "calendar.json")


def reporting_every(interval_s: int, heartbeat_s: int | None = None) -> ReportingConfig:
    """Devices reporting every ``interval_s`` (every 5 min at most when nearly full), a
    heartbeat every ``heartbeat_s`` (default: the interval)."""
    return ReportingConfig(
        report_interval_s=interval_s,
        nearly_full_interval_s=min(300, interval_s),
        heartbeat_s=heartbeat_s or interval_s,
    )


def build_simulation(
    city: str,
    *,
    seed: int,
    start: int,
    end: int | None = None,
    bins: int | None = None,
    data: CityData | None = None,
    calendar: Calendar | Path | None = None,
    reporting: ReportingConfig | None = None,
    faults: FaultRates | None = None,
    truth_interval_s: int = 3600,
    collections: bool = True,
    plans: PlanSource | None = None,
    truth: GroundTruth | Path | None = None,
) -> Simulation:
    """A simulation of ``city`` (its slug in topics) from ``start`` to ``end`` (None: live).

    ``data`` and ``calendar`` default to the shipped Kalasin ones (``calendar`` may
    be a path); ``truth`` is a writer or the folder to write the ground truth to.
    """
    options = SimOptions(
        seed=seed,
        start=start,
        end=end,
        city=city,
        bins=bins,
        reporting=reporting or ReportingConfig(),
        faults=faults or FaultRates(),
        truth_interval_s=truth_interval_s,
        collections=collections,
    )
    if calendar is None:
        calendar = default_calendar()
    elif isinstance(calendar, Path):
        calendar = load_calendar(calendar)
    if isinstance(truth, Path):
        truth = GroundTruth(truth)
    return Simulation(
        data if data is not None else default_city(),
        calendar,
        options,
        plans=plans,
        truth=truth,
    )
