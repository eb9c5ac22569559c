"""Road distances and driving times between the places of one planning problem.

Three sources behind one small protocol, so the planner never knows which it got:

* :class:`HaversineMatrix` (default): great-circle distance times a road factor
  (1.3, the same assumption the simulator drives by), durations left to each
  truck's average speed. Needs nothing but coordinates, so a fresh install
  plans routes on day one.
* :class:`CsvMatrix`: a precomputed ``from_id,to_id,distance_m[,duration_s]``
  file (from a GIS or a one-off OSRM run), for a city with no routing server.
* :class:`OsrmTable`: any OSRM-compatible ``/table/v1`` service (OSRM,
  Valhalla's OSRM mode, a hosted clone), queried in blocks so that no request
  exceeds the server's table-size limit. Optional: only contacted when its URL
  is given.

Distances are whole metres and durations whole seconds (rounded up), because
the solver works on integers and rounding travel times down would let a plan
promise ETAs the trucks cannot keep.
"""

from __future__ import annotations

import csv
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from wastewatch.processors.routing.errors import DistanceError

__all__ = [
    "DEFAULT_ROAD_FACTOR",
    "CsvMatrix",
    "DistanceSource",
    "HaversineMatrix",
    "Matrix",
    "OsrmTable",
    "Place",
    "haversine_km",
    "source_from_spec",
]

DEFAULT_ROAD_FACTOR: Final = 1.3
"""Road over straight-line distance in a grid-like Thai town (the simulator's assumption)."""

IntMatrix = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Place:
    """A point the trucks drive to: a bin, the depot or a landfill."""

    place_id: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Matrix:
    """Square matrices over the places, in the order they were given."""

    distance_m: IntMatrix
    duration_s: IntMatrix | None
    """None: no measured times; the planner derives them from each truck's speed."""


class DistanceSource(Protocol):
    """Anything that turns places into a distance (and maybe duration) matrix."""

    @property
    def name(self) -> str:
        """Short description for plan summaries ("haversine x1.3", "osrm http://...")."""
        ...

    def matrix(self, places: Sequence[Place]) -> Matrix:
        """Matrices over ``places``; raises :class:`DistanceError` when it cannot."""
        ...


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, km (mean Earth radius 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12_742.0 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class HaversineMatrix:
    """Straight line times ``road_factor``; no durations (they come from truck speeds)."""

    road_factor: float = DEFAULT_ROAD_FACTOR

    @property
    def name(self) -> str:
        return f"haversine x{self.road_factor:g}"

    def matrix(self, places: Sequence[Place]) -> Matrix:
        lat = np.radians(np.array([p.latitude for p in places], dtype=np.float64))
        lon = np.radians(np.array([p.longitude for p in places], dtype=np.float64))
        dlat = lat[:, None] - lat[None, :]
        dlon = lon[:, None] - lon[None, :]
        h = (
            np.sin(dlat / 2) ** 2
            + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
        )
        km = 12_742.0 * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        metres = np.ceil(km * 1000.0 * self.road_factor).astype(np.int64)
        np.fill_diagonal(metres, 0)
        return Matrix(distance_m=metres, duration_s=None)


@dataclass(frozen=True, slots=True)
class CsvMatrix:
    """A precomputed matrix: ``from_id,to_id,distance_m[,duration_s]`` with a header.

    Every ordered pair of the places asked for must be in the file (the
    diagonal excepted): a silently invented distance would make a plan look
    better or worse than it is, so a gap is an error naming the pair.
    """

    path: Path

    @property
    def name(self) -> str:
        return f"csv {self.path}"

    def matrix(self, places: Sequence[Place]) -> Matrix:
        wanted = {p.place_id: i for i, p in enumerate(places)}
        n = len(places)
        dist = np.full((n, n), -1, dtype=np.int64)
        dur = np.full((n, n), -1, dtype=np.int64)
        has_duration = False
        try:
            with self.path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                fields = set(reader.fieldnames or ())
                if not {"from_id", "to_id", "distance_m"} <= fields:
                    raise DistanceError(
                        f"{self.path}: the header must have from_id,to_id,distance_m[,duration_s]"
                    )
                has_duration = "duration_s" in fields
                for line, row in enumerate(reader, start=2):
                    i, j = wanted.get(row["from_id"]), wanted.get(row["to_id"])
                    if i is None or j is None:
                        continue
                    try:
                        dist[i, j] = math.ceil(float(row["distance_m"]))
                        if has_duration:
                            dur[i, j] = math.ceil(float(row["duration_s"]))
                    except (TypeError, ValueError) as exc:
                        raise DistanceError(f"{self.path}:{line}: not a number ({exc})") from exc
        except OSError as exc:
            raise DistanceError(f"cannot read the distance matrix {self.path}: {exc}") from exc
        np.fill_diagonal(dist, 0)
        np.fill_diagonal(dur, 0)
        missing = np.argwhere(dist < 0)
        if has_duration and not missing.size:
            missing = np.argwhere(dur < 0)
        if missing.size:
            i, j = (int(v) for v in missing[0])
            raise DistanceError(
                f"{self.path} has no row from {places[i].place_id} to {places[j].place_id} "
                f"({len(missing)} pairs missing); regenerate it for the current registry"
            )
        return Matrix(distance_m=dist, duration_s=dur if has_duration else None)


@dataclass(frozen=True, slots=True)
class OsrmTable:
    """An OSRM-compatible table service, e.g. ``http://127.0.0.1:5000`` (profile ``driving``).

    Queried in blocks of at most ``max_locations`` coordinates per request
    (OSRM's ``--max-table-size`` defaults to 100) using ``sources`` and
    ``destinations``, so any number of bins works against a stock server.
    """

    base_url: str
    profile: str = "driving"
    timeout_s: float = 30.0
    max_locations: int = 100

    @property
    def name(self) -> str:
        return f"osrm {self.base_url}"

    def _get(self, places: Sequence[Place], src: range, dst: range) -> dict[str, object]:
        idx = list(src) + [j for j in dst if j not in src]
        pos = {k: n for n, k in enumerate(idx)}
        coords = ";".join(f"{places[k].longitude:.6f},{places[k].latitude:.6f}" for k in idx)
        query = urllib.parse.urlencode(
            {
                "sources": ";".join(str(pos[k]) for k in src),
                "destinations": ";".join(str(pos[k]) for k in dst),
                "annotations": "distance,duration",
            }
        )
        url = f"{self.base_url.rstrip('/')}/table/v1/{self.profile}/{coords}?{query}"
        if not url.startswith(("http://", "https://")):
            raise DistanceError(f"distance service URL must be http(s): {self.base_url}")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:  # noqa: S310
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise DistanceError(
                f"distance service {self.base_url} answered HTTP {exc.code}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DistanceError(f"distance service {self.base_url} failed: {exc}") from exc
        if not isinstance(body, dict) or body.get("code") != "Ok":
            code = body.get("code") if isinstance(body, dict) else body
            raise DistanceError(f"distance service {self.base_url} answered {code!r}")
        return body

    def matrix(self, places: Sequence[Place]) -> Matrix:
        n = len(places)
        block = max(1, self.max_locations // 2)
        dist = np.zeros((n, n), dtype=np.int64)
        dur = np.zeros((n, n), dtype=np.int64)
        for a in range(0, n, block):
            for b in range(0, n, block):
                src, dst = range(a, min(n, a + block)), range(b, min(n, b + block))
                body = self._get(places, src, dst)
                for key, out in (("distances", dist), ("durations", dur)):
                    rows = body.get(key)
                    if not isinstance(rows, list) or len(rows) != len(src):
                        raise DistanceError(f"distance service answer lacks {key}")
                    for i, row in zip(src, rows, strict=True):
                        if not isinstance(row, list) or len(row) != len(dst):
                            raise DistanceError(f"distance service {key} row has a wrong size")
                        for j, value in zip(dst, row, strict=True):
                            if value is None:
                                raise DistanceError(
                                    f"no road from {places[i].place_id} to {places[j].place_id} "
                                    "according to the distance service"
                                )
                            out[i, j] = math.ceil(float(value))
        return Matrix(distance_m=dist, duration_s=dur)


def source_from_spec(spec: str | None, road_factor: float = DEFAULT_ROAD_FACTOR) -> DistanceSource:
    """``None`` -> haversine; ``http(s)://...`` -> OSRM table; anything else -> a CSV path."""
    if not spec:
        return HaversineMatrix(road_factor)
    if spec.startswith(("http://", "https://")):
        return OsrmTable(spec)
    path = Path(spec)
    if not path.is_file():
        raise DistanceError(f"distance matrix {spec} is neither an http(s) URL nor a file")
    return CsvMatrix(path)
