"""A made-up but Kalasin-shaped service day, for the benchmark and the tests.

Bins scattered over the town's ~5 km x 5 km, the municipal depot and the
landfill 4.5 km north-west of it (coordinates of the shipped Kalasin data),
general-waste compactor trucks as in ``trucks.csv``. Deterministic per seed.
Nothing here touches the database, so solver behaviour can be measured alone.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time

from wastewatch.processors.routing.distances import Place
from wastewatch.processors.routing.problem import BinInput, DayInputs, TruckInput, access_closed
from wastewatch.schema import WasteStream

__all__ = ["DEPOT", "LANDFILL", "kalasin_day"]

DEPOT = Place("kls-depot-1", 16.4351, 103.5098)
LANDFILL = Place("kls-landfill-1", 16.4705, 103.4862)
_CENTRE = (16.4340, 103.5060)


def kalasin_day(
    *,
    bins: int = 500,
    trucks: int = 6,
    seed: int = 1,
    service_date: date = date(2026, 3, 2),
    streams: tuple[WasteStream, ...] = (WasteStream.GENERAL,),
    due_share: float = 0.8,
    market_share: float = 0.0,
) -> DayInputs:
    """``bins`` bins (``due_share`` of them at or near threshold), ``trucks`` trucks per stream.

    ``market_share`` of the bins stand at markets: named so (their access hours apply),
    refilling in 6-12 h (so they are visited twice) and urgent.
    """
    rng = random.Random(f"routes-synthetic:{seed}")  # noqa: S311 - reproducible test data
    as_of = datetime.combine(service_date, time(0, 0), tzinfo=UTC)  # 07:00 Bangkok
    out_bins = []
    for i in range(bins):
        stream = streams[i % len(streams)]
        volume = rng.choices([240.0, 660.0, 1100.0], weights=[6, 3, 1])[0]
        due = rng.random() < due_share
        fill = rng.uniform(0.75, 1.0) if due else rng.uniform(0.05, 0.45)
        market = rng.random() < market_share
        if market:
            fill = rng.uniform(0.8, 1.0)
        name = f"ตลาด จุดที่ {i + 1}" if market else ""
        out_bins.append(
            BinInput(
                bin_id=f"syn-{i + 1:04d}",
                latitude=_CENTRE[0] + rng.uniform(-0.022, 0.022),
                longitude=_CENTRE[1] + rng.uniform(-0.023, 0.023),
                stream=stream,
                volume_l=volume,
                fill_level=round(fill, 3),
                rate_per_h=round(rng.uniform(0.005, 0.03), 4),
                threshold=0.8,
                as_of=as_of,
                urgency="urgent" if fill >= 0.8 else None,
                name=name,
                refill_h=rng.uniform(6.0, 12.0) if market else None,
                closed=access_closed(name),
            )
        )
    out_trucks = [
        TruckInput(
            truck_id=f"syn-truck-{stream.value[:3]}-{k + 1:02d}",
            name=f"Truck {k + 1} ({stream.value})",
            stream=stream,
            capacity_l=25_000.0,
            capacity_kg=7_000.0,
            depot_id=DEPOT.place_id,
            site_id=LANDFILL.place_id,
            shift_start=time(5, 0),
            service_days=frozenset(range(7)),
            speed_kmh=18.0,
        )
        for stream in streams
        for k in range(trucks)
    ]
    return DayInputs(
        service_date=service_date,
        bins=tuple(out_bins),
        trucks=tuple(out_trucks),
        depots={DEPOT.place_id: DEPOT},
        sites={LANDFILL.place_id: LANDFILL},
        fill_source="synthetic",
    )
