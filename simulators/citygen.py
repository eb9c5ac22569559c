"""Generate the shipped Kalasin default city files (``simulators/data/kalasin/``).

Run once to (re)create the files; they are committed and then edited by hand or
replaced by the city's real registry, so nothing reads this module at run
time. Deterministic (fixed seed), so regenerating gives the same bytes::

    .venv/bin/python -m wastewatch.workbench.simulators.citygen --out simulators/data/kalasin

Every value is a plausible assumption (documented in the data folder's
README), not survey data.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from wastewatch.workbench.simulators.kalasin import DEFAULT_CITY_DIR
from wastewatch.workbench.simulators.rng import stream

__all__ = ["generate", "main"]

CENTER: Final = (16.4322, 103.5061)
"""Kalasin Town Municipality office area, roughly; the town spans about ±2.5 km."""
LAT_RANGE: Final = (16.410, 16.455)
LON_RANGE: Final = (103.485, 103.530)
LAT_SPLIT: Final = 16.4325
LON_SPLITS: Final = (103.485, 103.496, 103.5075, 103.519, 103.530)

_ZONE_NAMES: Final = (
    ("north-west", "ตะวันตกเฉียงเหนือ"),
    ("north, west of centre", "เหนือ ฝั่งตะวันตกของใจกลางเมือง"),
    ("north, east of centre", "เหนือ ฝั่งตะวันออกของใจกลางเมือง"),
    ("north-east (Lam Pao side)", "ตะวันออกเฉียงเหนือ (ฝั่งลำปาว)"),
    ("south-west", "ตะวันตกเฉียงใต้"),
    ("south, west of centre", "ใต้ ฝั่งตะวันตกของใจกลางเมือง"),
    ("south, east of centre", "ใต้ ฝั่งตะวันออกของใจกลางเมือง"),
    ("south-east", "ตะวันออกเฉียงใต้"),
)

_PLACES: Final = (  # kind, share of bins, Thai label
    ("residential", 0.45, "ชุมชน"),
    ("commercial", 0.17, "ย่านการค้า"),
    ("market", 0.10, "ตลาด"),
    ("school", 0.07, "โรงเรียน"),
    ("temple", 0.06, "วัด"),
    ("park", 0.05, "สวนสาธารณะ"),
    ("office", 0.07, "สถานที่ราชการ"),
    ("hospital", 0.03, "โรงพยาบาล/คลินิก"),
)

_STREAMS: Final = {  # place -> (stream, weight)
    "market": (("organic", 0.45), ("general", 0.40), ("recyclable", 0.15)),
    "hospital": (("hazardous", 0.40), ("general", 0.40), ("recyclable", 0.20)),
    "school": (("general", 0.55), ("recyclable", 0.35), ("organic", 0.07), ("hazardous", 0.03)),
    "office": (("general", 0.55), ("recyclable", 0.38), ("hazardous", 0.07)),
}
_DEFAULT_STREAMS: Final = (("general", 0.65), ("recyclable", 0.25), ("organic", 0.10))

_CONTAINERS: Final = {  # model -> (volume_l, mounting_height_mm, usable_depth_mm)
    "wheelie-120": (120.0, 950, 700),
    "wheelie-240": (240.0, 1050, 800),
    "euro-660": (660.0, 1250, 1000),
    "euro-1100": (1100.0, 1450, 1150),
}
_CONTAINER_BY_STREAM: Final = {
    "general": (("wheelie-240", 0.6), ("euro-660", 0.3), ("euro-1100", 0.1)),
    "recyclable": (("euro-660", 0.6), ("wheelie-240", 0.4)),
    "organic": (("wheelie-240", 0.7), ("wheelie-120", 0.3)),
    "hazardous": (("wheelie-120", 1.0),),
}


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in options]
    weights = [w for _, w in options]
    return rng.choices(names, weights=weights)[0]


def _zone_of(lat: float, lon: float) -> int:
    col = 0
    for i in range(4):
        if LON_SPLITS[i] <= lon < LON_SPLITS[i + 1]:
            col = i
    row = 0 if lat >= LAT_SPLIT else 1
    return row * 4 + col + 1


def _csv(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def generate(bins: int = 600, seed: int = 2026) -> dict[str, str]:
    """File name -> text of the default city (bins, zones, depot, trucks, landfill)."""
    rng = stream("citygen", seed)
    files: dict[str, str] = {}

    features = []
    for i, (en, th) in enumerate(_ZONE_NAMES, start=1):
        row, col = divmod(i - 1, 4)
        lat0, lat1 = (LAT_SPLIT, LAT_RANGE[1]) if row == 0 else (LAT_RANGE[0], LAT_SPLIT)
        lon0, lon1 = LON_SPLITS[col], LON_SPLITS[col + 1]
        ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "kind": "zone",
                    "zone_id": f"kls-z{i:02d}",
                    "name_en": f"Zone {i} ({en})",
                    "name_th": f"เขต {i} ({th})",
                },
            }
        )
    files["zones.geojson"] = (
        json.dumps(
            {"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1
        )
        + "\n"
    )

    installed = datetime(2025, 11, 3, 2, 0, tzinfo=UTC)
    bin_rows: list[list[object]] = []
    places = [(k, w) for k, w, _ in _PLACES]
    labels = {k: th for k, _, th in _PLACES}
    counters: dict[str, int] = {}
    for n in range(1, bins + 1):
        place = _pick(rng, tuple(places))
        spread = 0.006 if place == "market" else 0.013
        lat = min(max(rng.gauss(CENTER[0], spread), LAT_RANGE[0] + 1e-4), LAT_RANGE[1] - 1e-4)
        lon = min(max(rng.gauss(CENTER[1], spread), LON_RANGE[0] + 1e-4), LON_RANGE[1] - 1e-4)
        waste = _pick(rng, _STREAMS.get(place, _DEFAULT_STREAMS))
        model = _pick(rng, _CONTAINER_BY_STREAM[waste])
        if place == "market" and waste == "general" and rng.random() < 0.5:
            model = "euro-1100"
        volume, mount, usable = _CONTAINERS[model]
        counters[place] = counters.get(place, 0) + 1
        zone = _zone_of(lat, lon)
        threshold = 0.7 if waste == "organic" else 0.8
        bin_rows.append(
            [
                f"kls-{n:04d}",
                f"kls-bin-{n:04d}",
                f"{lat:.6f}",
                f"{lon:.6f}",
                f"kls-z{zone:02d}",
                waste,
                f"{volume:.0f}",
                model,
                mount,
                usable,
                threshold,
                f"{labels[place]} จุดที่ {counters[place]} (เขต {zone})",
                f"เขต {zone} ต.กาฬสินธุ์ อ.เมืองกาฬสินธุ์ จ.กาฬสินธุ์ 46000",
                (installed + timedelta(minutes=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                place,
            ]
        )
    files["bins.csv"] = _csv(
        [
            "bin_id",
            "device_id",
            "latitude",
            "longitude",
            "zone",
            "waste_stream",
            "volume_l",
            "container_model",
            "mounting_height_mm",
            "usable_depth_mm",
            "collection_threshold",
            "name",
            "address",
            "installed_at",
            "place",
        ],
        bin_rows,
    )
    files["depots.csv"] = _csv(
        ["depot_id", "name", "latitude", "longitude"],
        [["kls-depot-1", "โรงรถงานรักษาความสะอาด เทศบาลเมืองกาฬสินธุ์", 16.4351, 103.5098]],
    )
    files["landfill_sites.csv"] = _csv(
        [
            "site_id",
            "name",
            "latitude",
            "longitude",
            "capacity_m3",
            "used_m3",
            "surveyed_on",
            "compacted_density_kg_m3",
        ],
        [
            [
                "kls-landfill-1",
                "บ่อฝังกลบขยะเทศบาลเมืองกาฬสินธุ์",
                16.4705,
                103.4862,
                250000,
                221000,
                "2025-12-15",
                750,
            ]
        ],
    )
    files["landfill_densities.csv"] = _csv(
        ["site_id", "waste_stream", "compacted_density_kg_m3"],
        [
            ["kls-landfill-1", "general", 750],
            ["kls-landfill-1", "organic", 900],
            ["kls-landfill-1", "recyclable", 350],
            ["kls-landfill-1", "hazardous", 1000],
        ],
    )
    every_day = "mon;tue;wed;thu;fri;sat;sun"
    all_zones = ";".join(f"kls-z{i:02d}" for i in range(1, 9))
    truck_rows: list[list[object]] = [
        [
            f"kls-truck-0{i}",
            f"รถอัดขยะ 10 ลบ.ม. คันที่ {i}",
            "kls-depot-1",
            "kls-landfill-1",
            "general",
            25000,
            7000,
            9500,
            f"kls-z{2 * i - 1:02d};kls-z{2 * i:02d}",
            every_day,
            "05:00",
            18,
            7500,
        ]
        for i in range(1, 5)
    ]
    truck_rows += [
        [
            "kls-truck-05",
            "รถเก็บขยะอินทรีย์ 6 ล้อ",
            "kls-depot-1",
            "kls-landfill-1",
            "organic",
            9600,
            4000,
            6500,
            all_zones,
            every_day,
            "04:30",
            20,
            1500,
        ],
        [
            "kls-truck-06",
            "รถเก็บขยะรีไซเคิล 6 ล้อ",
            "kls-depot-1",
            "kls-landfill-1",
            "recyclable",
            12000,
            3000,
            6000,
            all_zones,
            "mon;thu",
            "08:00",
            20,
            300,
        ],
        [
            "kls-truck-07",
            "รถกระบะเก็บขยะอันตราย",
            "kls-depot-1",
            "kls-landfill-1",
            "hazardous",
            1500,
            800,
            2000,
            all_zones,
            "wed",
            "09:00",
            25,
            0,
        ],
    ]
    files["trucks.csv"] = _csv(
        [
            "truck_id",
            "name",
            "depot_id",
            "site_id",
            "waste_stream",
            "capacity_l",
            "capacity_kg",
            "tare_kg",
            "zones",
            "service_days",
            "shift_start",
            "speed_kmh",
            "unmetered_kg_per_day",
        ],
        truck_rows,
    )
    return files


def main(argv: list[str] | None = None) -> int:
    """``python -m wastewatch.workbench.simulators.citygen [--out DIR] [--bins N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m wastewatch.workbench.simulators.citygen", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_CITY_DIR)
    parser.add_argument("--bins", type=int, default=600)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generate(args.bins).items():
        (out / name).write_text(text, encoding="utf-8", newline="\n")
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
