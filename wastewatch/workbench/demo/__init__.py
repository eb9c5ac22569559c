"""`wastewatch demo`: the whole Kalasin pipeline on one machine, as `make demo` runs it.

The demo is the product running on the developer's local stack: the standard
database, topics and consumer groups.  Modules:

* ``history`` (pure, plus a small state file): which event-time window to replay
  so that a second run continues the first;
* ``fleet``: the simulated fleet as a process of its own (``python -m
  wastewatch.workbench.demo.sim_process``): history replay, then live;
* ``components``: the bridge, sink, processors and fleet as subprocesses, each
  stopped by pid in reverse order;
* ``figures``: the summary's figures from the database (reader role) and
  /metrics;
* ``summary`` (pure): figures as a rich renderable, plain text or JSON;
* ``run``: the orchestration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face
from wastewatch.workbench.demo.errors import DemoError

__all__ = ["DemoError"]

if TYPE_CHECKING:
    from wastewatch.workbench.demo.errors import DemoError
    from wastewatch.workbench.demo.run import DemoOptions, run_demo

__all__ = ["DemoError", "DemoOptions", "run_demo"]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
