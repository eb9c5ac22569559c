"""The layers of wastewatch, read from the imports themselves.

The tree is layered (see wastewatch/README.md):

0. ``wastewatch.errors``: the one error root; imports nothing of the project;
1. contracts: ``wastewatch.schema`` (the top-level ``schema/`` folder);
2. foundation: ``wastewatch.core`` (settings, logging, metrics, service skeleton,
   connections);
3. pipeline: ``wastewatch.ingest``, ``wastewatch.processors`` (routing included),
   ``wastewatch.city`` (the city's registry data);
4. apps: ``wastewatch.cli``, ``wastewatch.api``, ``wastewatch.reports``,
   ``wastewatch.queries``, ``wastewatch.security``, ``wastewatch.grafana``;
5. workbench, beside the apps: ``wastewatch.workbench`` (local stack, demo,
   simulators, benchmarks, their commands).  The product (0-4) never imports it;
   the CLI finds the workbench's commands through an entry point.

A module may import its own layer or any layer below; units may not import each
other in a cycle.  Every ``import`` statement counts, those inside functions too.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wastewatch"
OLD_TOP_LEVEL = {"schema", "ingest", "processors", "grafana", "simulators", "bench"}

LAYERS: dict[str, int] = {
    "wastewatch.errors": 0,
    "wastewatch.faces": 0,
    "wastewatch.schema": 1,
    "wastewatch.core": 2,
    "wastewatch.ingest": 3,
    "wastewatch.processors": 3,
    "wastewatch.processors.routing": 3,
    "wastewatch.city": 3,
    "wastewatch.cli": 4,
    "wastewatch.api": 4,
    "wastewatch.reports": 4,
    "wastewatch.queries": 4,
    "wastewatch.security": 4,
    "wastewatch.grafana": 4,
    "wastewatch.workbench": 5,
}
WORKBENCH = 5
# The package itself: `python -m wastewatch` and its docstring; above everything.
ENTRY = {"wastewatch", "wastewatch.__main__"}


def unit_of(module: str) -> str | None:
    """The unit a module belongs to: the longest prefix named in LAYERS, or for the
    workbench its sub-package (stack, demo, simulators, bench, commands)."""
    if module in ENTRY:
        return module
    parts = module.split(".")
    if parts[:2] == ["wastewatch", "workbench"]:
        return ".".join(parts[:3]) if len(parts) > 2 else "wastewatch.workbench"
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix
    return None


def layer_of(unit: str) -> int:
    if unit in ENTRY:
        return WORKBENCH + 1
    if unit.startswith("wastewatch.workbench"):
        return WORKBENCH
    return LAYERS[unit]


def modules() -> Iterable[tuple[str, Path]]:
    """Every module of the package, named as it is imported (the linked folders too)."""
    paths = [
        Path(folder, name)
        for folder, _, names in os.walk(PACKAGE, followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    for path in sorted(paths):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names a module imports (relative imports resolved)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            # `from wastewatch.x import y` may name a submodule y
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def unit_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges between units, and every import that breaks the layering."""
    edges: dict[str, set[str]] = {}
    wrong: list[str] = []
    for module, path in modules():
        src = unit_of(module)
        assert src is not None, f"{module}: not in any layer; add its package to LAYERS"
        seen: set[str] = set()
        for name in sorted(imports_of(path, module)):
            top = name.split(".")[0]
            if top in OLD_TOP_LEVEL:
                wrong.append(f"{module} imports {name}: use wastewatch.{name}")
                continue
            if top != "wastewatch":
                continue
            dst = unit_of(name)
            if dst is None or dst == src or dst in seen:
                continue
            seen.add(dst)
            edges.setdefault(src, set()).add(dst)
            if layer_of(dst) > layer_of(src):
                wrong.append(
                    f"{module} (layer {layer_of(src)}) imports {name} (layer "
                    f"{layer_of(dst)}, above it)"
                )
            if layer_of(dst) == WORKBENCH and layer_of(src) < WORKBENCH:
                wrong.append(f"{module} (product) imports the workbench: {name}")
    return edges, wrong


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_goes_down_the_layers_and_never_into_the_workbench() -> None:
    _, wrong = unit_graph()
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_two_units_import_each_other() -> None:
    edges, _ = unit_graph()
    assert not cycles(edges), f"import cycles between units: {cycles(edges)}"


def test_the_layers_are_all_there() -> None:
    """A unit that vanished (or a package outside every layer) would make the
    checks above vacuous for it."""
    units = {unit_of(module) for module, _ in modules()}
    assert set(LAYERS) - {"wastewatch.workbench"} <= units
    assert {
        "wastewatch.workbench.stack",
        "wastewatch.workbench.demo",
        "wastewatch.workbench.simulators",
        "wastewatch.workbench.bench",
        "wastewatch.workbench.commands",
    } <= units


def test_tests_use_the_namespace_not_the_folders() -> None:
    """The folders are on sys.path while testing; importing them by their folder name
    would load a second copy of each module."""
    wrong = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "firmware" in path.parts:
            continue
        for name in imports_of(path, "tests." + path.stem):
            if name.split(".")[0] in OLD_TOP_LEVEL:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    edges: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(edges) == expected


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker flags what it should: an import from the foundation into the CLI."""
    module = tmp_path / "bad.py"
    module.write_text("from wastewatch.cli import main\nimport schema.wire\n")
    names = imports_of(module, "wastewatch.core.bad")
    assert "wastewatch.cli" in names
    assert "schema.wire" in names
    src = unit_of("wastewatch.core.bad")
    dst = unit_of("wastewatch.cli")
    assert src is not None
    assert dst is not None
    assert layer_of(dst) > layer_of(src)
    assert unit_of("wastewatch.workbench.simulators.engine") == "wastewatch.workbench.simulators"


FACES = [
    "wastewatch.schema",
    "wastewatch.core",
    "wastewatch.ingest",
    "wastewatch.processors",
    "wastewatch.processors.routing",
    "wastewatch.city",
    "wastewatch.api",
    "wastewatch.queries",
    "wastewatch.reports",
    "wastewatch.security",
    "wastewatch.grafana",
    "wastewatch.cli",
    "wastewatch.workbench.stack",
    "wastewatch.workbench.demo",
    "wastewatch.workbench.simulators",
    "wastewatch.workbench.bench",
]


@pytest.mark.parametrize("package", FACES)
def test_every_name_a_face_lists_is_there(package: str) -> None:
    """A package's face (`__all__` + its TYPE_CHECKING imports, loaded on first use)
    resolves every name it promises, to the object its module defines."""
    import importlib

    face = importlib.import_module(package)
    assert face.__all__, f"{package} has an empty face"
    folder = Path(face.__file__).parent
    shadowed = [n for n in face.__all__ if (folder / f"{n}.py").exists() or (folder / n).is_dir()]
    # `wastewatch.schema.migrate` the module would replace `migrate` the function
    # on the package as soon as the module is imported.
    assert not shadowed, f"{package} lists names that are also its submodules: {shadowed}"
    for name in face.__all__:
        assert getattr(face, name) is not None, f"{package}.{name}"


def test_other_units_import_through_the_faces() -> None:
    """An import from another unit names that unit's face, not one of its modules
    (a module itself may still be imported by name, e.g. `from x import submodule`)."""
    wrong = []
    for module, path in modules():
        src = unit_of(module)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            face = max((f for f in FACES if node.module.startswith(f + ".")), key=len, default=None)
            if face is None or unit_of(face) == src or module.startswith(face + "."):
                continue
            target = ROOT.joinpath(*node.module.split("."))
            if any(
                target.joinpath(a.name).with_suffix(".py").exists()
                or target.joinpath(a.name).is_dir()
                for a in node.names
            ):
                continue
            names = {a.name for a in node.names}
            promised = set(importlib_face(face).__all__)
            if names <= promised:
                wrong.append(f"{module}: from {node.module} import {sorted(names)} (use {face})")
    assert not wrong, "\n".join(wrong)


def importlib_face(package: str) -> object:
    import importlib

    return importlib.import_module(package)
