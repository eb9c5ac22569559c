"""processors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.processors.alerts import DeviceAlerts
    from wastewatch.processors.collections import CollectionDetector
    from wastewatch.processors.errors import ConfigError
    from wastewatch.processors.forecast import FillForecaster, from_u, to_u
    from wastewatch.processors.landfill import (
        DayVolume,
        Projection,
        SiteInfo,
        parse_divert,
        project,
    )
    from wastewatch.processors.landfill_stage import load_days, load_sites
    from wastewatch.processors.readings import decode_reading
    from wastewatch.processors.service import (
        READING_STAGES,
        STAGES,
        consumer_groups,
        parse_only,
        serve,
    )

__all__ = [
    "READING_STAGES",
    "STAGES",
    "CollectionDetector",
    "ConfigError",
    "DayVolume",
    "DeviceAlerts",
    "FillForecaster",
    "Projection",
    "SiteInfo",
    "consumer_groups",
    "decode_reading",
    "from_u",
    "load_days",
    "load_sites",
    "parse_divert",
    "parse_only",
    "project",
    "serve",
    "to_u",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
