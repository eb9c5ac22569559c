"""Which stretch of event time the demo replays, so that a second run continues the first.

The simulated fleet is one deterministic simulation (seed, bins, city) that
starts at an *anchor* time.  The first run replays ``days`` of history from the
anchor and then goes live.  A later run with the same fleet re-creates the
simulation from the same anchor, generates (without publishing) everything up
to the newest reading the database already holds, replays only the gap from
there to the live start, and goes live: the bins' fill levels, batteries and
boot counters carry on where they were, so the processors see no jump.

What it never does: back-fill before data that is already stored.  The
processors work forward in event time (a device's readings older than the
newest one they processed are skipped), so older readings would be stored but
never processed.  A database that holds less history than asked keeps what it
has; drop it (``make clean-state``) to start over with more.

``plan_history`` is pure; the anchor is kept in a small JSON file beside the
demo's outputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

HOUR_S: Final = 3600
DAY_S: Final = 86_400
CATCH_UP_MAX_S: Final = 2 * HOUR_S
"""Live starts this far behind the clock (at most) and catches up at the live speed."""
CATCH_UP_WALL_S: Final = 120.0
"""...in about this much wall time, so the first minutes show an accelerated fleet."""
MAX_FAST_FORWARD_DAYS: Final = 45.0
"""Past this, re-creating the simulation from its anchor costs more than a jump is worth."""

Mode = Literal["first", "continue", "new-fleet", "gap-too-long", "up-to-date"]


@dataclass(frozen=True, slots=True)
class FleetKey:
    """What makes two runs the same simulated fleet."""

    database: str
    city: str
    seed: int
    bins: int
    interval_s: int


@dataclass(frozen=True, slots=True)
class SavedFleet:
    """The anchor of a fleet a previous run started."""

    key: FleetKey
    anchor: int

    def to_json(self) -> str:
        return json.dumps({**asdict(self.key), "anchor": self.anchor}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SavedFleet | None:
        try:
            raw: dict[str, Any] = json.loads(text)
            key = FleetKey(
                database=str(raw["database"]),
                city=str(raw["city"]),
                seed=int(raw["seed"]),
                bins=int(raw["bins"]),
                interval_s=int(raw["interval_s"]),
            )
            return cls(key=key, anchor=int(raw["anchor"]))
        except (ValueError, KeyError, TypeError):
            return None


def load_saved(path: Path) -> SavedFleet | None:
    try:
        return SavedFleet.from_json(path.read_text(encoding="utf-8"))
    except OSError:
        return None


def save(path: Path, fleet: SavedFleet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(fleet.to_json(), encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """The simulation's anchor, what is published as history, where live begins."""

    anchor: int
    """First simulated second."""
    publish_from: int
    """First second whose messages are published; earlier ones are generated silently."""
    live_from: int
    """The replay ends here and the paced live fleet takes over (the clock's time at most)."""
    mode: Mode
    note: str

    @property
    def replay_s(self) -> int:
        return max(0, self.live_from - self.publish_from)

    @property
    def skip_s(self) -> int:
        return max(0, self.publish_from - self.anchor)


def catch_up_s(speed: float) -> int:
    """How far behind the clock live starts: about ``CATCH_UP_WALL_S`` of accelerated
    time at ``speed`` (none at real time), at most ``CATCH_UP_MAX_S``."""
    return int(min(CATCH_UP_MAX_S, max(0.0, speed - 1.0) * CATCH_UP_WALL_S)) // 60 * 60


def plan_history(
    *,
    now: int,
    days: float,
    speed: float,
    newest: int | None,
    saved: SavedFleet | None,
    key: FleetKey,
) -> HistoryPlan:
    """Decide the window (all times UTC epoch seconds).

    ``newest`` is the newest stored reading of the fleet's devices (None: none).
    """
    live_from = (now - catch_up_s(speed)) // 60 * 60
    want = math.ceil(days * DAY_S)
    if newest is None:
        anchor = live_from - want
        return HistoryPlan(anchor, anchor, live_from, "first", f"{_days(want)} of history")
    if live_from - newest > want:
        anchor = live_from - want
        return HistoryPlan(
            anchor,
            anchor,
            live_from,
            "gap-too-long",
            f"the newest stored reading is more than {_days(want)} old: a new fleet "
            f"replays {_days(want)} (the database keeps a gap before it)",
        )
    start = newest + 1
    same = (
        saved is not None
        and saved.key == key
        and saved.anchor <= newest
        and newest - saved.anchor <= MAX_FAST_FORWARD_DAYS * DAY_S
    )
    if same and saved is not None:
        anchor = saved.anchor
        mode: Mode = "continue"
        what = "the same fleet continues"
    else:
        anchor = start
        mode = "new-fleet"
        what = "a new fleet (other seed or bins, or its anchor is unknown) starts"
    if start >= live_from:
        return HistoryPlan(
            anchor, start, start, "up-to-date" if same else mode, f"{what}; no gap to replay"
        )
    return HistoryPlan(
        anchor,
        start,
        live_from,
        mode,
        f"{what} after the newest stored reading; replaying the {_days(live_from - start)} gap",
    )


def _days(seconds: int) -> str:
    if seconds >= DAY_S:
        return f"{seconds / DAY_S:.3g} days"
    return f"{seconds / HOUR_S:.3g} hours"
