"""Benchmarks: commands that measure and print figures (never asserted in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.workbench.bench.dashboards import DashBenchOptions, run_dashboards_bench
    from wastewatch.workbench.bench.eval_processors import EvalOptions, run_eval
    from wastewatch.workbench.bench.eval_routes import (
        DEFAULT_START,
        EvalRoutesOptions,
        run_eval_routes,
    )
    from wastewatch.workbench.bench.failover import FailoverOptions, run_failover_bench
    from wastewatch.workbench.bench.ingest import BenchOptions, run_ingest_bench
    from wastewatch.workbench.bench.simulate import SimBenchOptions, run_simulate_bench

__all__ = [
    "DEFAULT_START",
    "BenchOptions",
    "DashBenchOptions",
    "EvalOptions",
    "EvalRoutesOptions",
    "FailoverOptions",
    "SimBenchOptions",
    "run_dashboards_bench",
    "run_eval",
    "run_eval_routes",
    "run_failover_bench",
    "run_ingest_bench",
    "run_simulate_bench",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
