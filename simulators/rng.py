"""Named random streams: the only way the simulator draws random numbers.

Each stream is ``random.Random`` seeded with a string naming its owner, e.g.
``stream(seed, "kls-0001", "fill")``. String seeds go through SHA-512 in
CPython (independent of ``PYTHONHASHSEED``), so a stream gives the same numbers
on every run and machine, and adding a draw to one stream never shifts another.
This is simulation noise, not cryptography.
"""

from __future__ import annotations

import random

__all__ = ["stream"]


def stream(*parts: object) -> random.Random:
    """A deterministic random stream named by ``parts`` joined with ``:``."""
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311
