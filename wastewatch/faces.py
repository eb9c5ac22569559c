"""Package faces that cost nothing until used.

Each package's ``__init__`` is its face: ``__all__`` lists what other units may
import from it, and an ``if TYPE_CHECKING:`` block says where each name lives, which
is what mypy and a reader see.  At run time the name is imported on first use
(PEP 562 ``__getattr__``), so importing one contract model does not import every
module of its package (the bridge starts in a fraction of a second, the CLI
answers ``--help`` without loading PyVRP or FastAPI).

Like `wastewatch.errors`, this module imports nothing of the project, so every
layer can use it.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["face_sources", "lazy_face"]


def face_sources(init_file: str, package: str) -> dict[str, str]:
    """Name → module, read from the ``if TYPE_CHECKING:`` imports of a face.

    Reading the block itself keeps one list: what mypy checks is what runs.
    """
    tree = ast.parse(Path(init_file).read_text(), init_file)
    sources: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and _is_type_checking(node.test)):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module is not None:
                module = stmt.module
                if stmt.level:
                    base = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                    module = ".".join([*base, stmt.module])
                for alias in stmt.names:
                    sources[alias.asname or alias.name] = f"{module}:{alias.name}"
    return sources


def lazy_face(namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The ``__getattr__`` of a face: import a listed name from its module on first use.

    Call it last in the face, so names the face defines itself count as present.
    """
    package = namespace["__name__"]
    sources = face_sources(namespace["__file__"], package)
    missing = set(namespace.get("__all__", ())) - sources.keys() - namespace.keys()
    if missing:  # a face that lists a name it does not import is a bug of the face
        raise ImportError(f"{package}.__all__ names {sorted(missing)} without importing them")

    def __getattr__(name: str) -> Any:  # noqa: N807 (PEP 562)
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = source.partition(":")
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value  # later lookups skip this function
        return value

    return __getattr__


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
