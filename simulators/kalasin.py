"""Where the workbench's Kalasin city data lives (``simulators/data/kalasin``).

The product reads city data from whatever folder an operator names (`bins import`);
only the workbench (simulator, demo, benchmarks, tests) defaults to this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["DEFAULT_CITY_DIR"]

DEFAULT_CITY_DIR: Final = Path(__file__).resolve().parent / "data" / "kalasin"
