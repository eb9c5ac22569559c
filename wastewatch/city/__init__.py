"""wastewatch/city"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.city.citydata import CityData, SimBin, load_city
    from wastewatch.city.errors import CityDataError
    from wastewatch.city.importer import import_city, list_bins

__all__ = ["CityData", "CityDataError", "SimBin", "import_city", "list_bins", "load_city"]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
