"""The package reads bottom-up: each layer imports only the layers below it, and nothing imports in a circle.

The layer order is written down once, here (docs/authoring.md, "Map of the package", explains it).
Imports are read with :mod:`ast`, at module level and inside functions alike: an import
placed inside a function to dodge a cycle still points where it points.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vae_course"

#: Each module's layer, by its dotted name below ``vae_course`` (a package's entry covers its submodules;
#: the longest matching entry wins). 1 foundations, 2 the model, 3 what the notebooks use, 4 the
#: exercise checks, 5 the notebook generator and the grader, 6 the command line.
LAYERS = {
    # 1 foundations: import nothing of the package
    "data": 1, "numerics": 1, "stats": 1, "_kernel_startup": 1, "references": 1, "results": 1, "conventions": 1,
    # 2 the model
    "losses": 2, "models": 2, "train": 2, "checkpoints": 2, "posteriors": 2, "diagnostics": 2,
    # 3 what the notebooks use (the package root's `doctor` reports on layer 2)
    "": 3, "latent": 3, "estimators": 3, "applications": 3, "evaluation": 3, "zoo": 3, "molecules": 3,
    "plotting": 3, "widgets": 3, "claims": 3, "metrics": 3, "exercises": 3,
    # 4 the exercise checks
    "checks": 4,
    # 5 the student-notebook generator, the course website built from it, the comparison of stored
    #   outputs (nbval, the notebook runner), and the grader
    "notebooks": 5, "book": 5, "nbcompare": 5, "grading": 5, "exports": 5,
    # 6 the command line
    "cli": 6, "__main__": 6,
}


def module_name(path: Path) -> str:
    """``vae_course/checks/_run.py`` -> ``"checks._run"``; the package root is ``""``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    for name in (module.split(".")[:n] for n in range(module.count(".") + 1, -1, -1)):
        if ".".join(name) in LAYERS:
            return LAYERS[".".join(name)]
    raise KeyError(module)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, modules: dict[str, Path], source: str | None = None) -> set[str]:
    """The package's modules that ``path`` (or ``source`` read as that file) imports anywhere in it."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()

    def add(name: str) -> None:
        if name == "vae_course" or name.startswith("vae_course."):
            name = name.removeprefix("vae_course").removeprefix(".")
            while name not in modules:  # an attribute of a module, or a module not written yet
                name = name.rpartition(".")[0]
            found.add(name)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8") if source is None else source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["vae_course"] + [p for p in package.split(".") if p]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import checks` imports a module, not a name
                full = f"{target}.{alias.name}"
                add(full if full.removeprefix("vae_course.") in modules else target)
    found.discard(me)
    return found


def graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports(path, modules) for name, path in modules.items()}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
                  for a, targets in edges.items() for b in targets if layer(b) > layer(a))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer():
    unplaced = []
    for name in package_modules():
        try:
            layer(name)
        except KeyError:
            unplaced.append(name)
    assert not unplaced, f"add these modules to LAYERS in tests/test_layers.py: {unplaced}"


def test_no_import_points_up_a_layer():
    assert upward_imports(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_never_import_the_grader():
    edges = graph()
    assert not [(a, b) for a, targets in edges.items() if layer(a) == 4 for b in targets if b.startswith("grading")]


@pytest.mark.parametrize("source", [
    "from .grading.integrity import nonce\n",                         # the model reaching into the grader
    "import vae_course.checks\n",                                      # ... written absolutely
    "def f():\n    from .checks import REGISTRY\n",                   # hidden inside a function: still seen
])
def test_the_test_sees_an_upward_import(source):
    edges = graph()
    edges["losses"] = imports(PACKAGE / "losses.py", package_modules(), source)
    assert [line for line in upward_imports(edges) if line.startswith("losses (layer 2)")]


def test_the_test_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
