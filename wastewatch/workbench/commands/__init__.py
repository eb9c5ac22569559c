"""The workbench's CLI commands: `services`, `simulate`, `demo`, `eval`, `bench`.

The product CLI (`wastewatch.cli`) finds each module's ``register`` through the
``wastewatch.commands`` entry points in pyproject.toml.  A module first calls
:func:`require` with the workbench packages its commands need (imported lazily in
the handlers, to keep the CLI quick to start): in an installation without them
(the Docker image leaves out the local stack, the demo and the benchmarks) loading
the entry point fails, and the CLI answers that command with one line instead of
a ModuleNotFoundError at run time.
"""

from __future__ import annotations

from importlib.util import find_spec

__all__ = ["require"]


def require(*packages: str) -> None:
    """Raise ImportError, naming the first of ``packages`` this installation lacks."""
    for package in packages:
        try:
            found = find_spec(package) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise ImportError(f"{package} is not installed here", name=package)
