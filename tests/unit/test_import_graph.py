"""Imports point down only, and no modules import each other in a circle.

Every ``import`` statement of the package is read with :mod:`ast`, lazy ones inside
functions and ``TYPE_CHECKING`` blocks included: a lazy import still ties the two modules
together. ``from package import name`` counts as importing ``package.name`` when that is a
module, else as importing the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "audio_service"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

#: Layer of each top-level module or subpackage; a module may import only lower layers
#: (or its own package). The leaves (layer 0) may import each other.
LAYERS = {
    "protocol": 0,
    "models": 0,
    "errors": 0,
    "config": 0,
    "metrics": 0,
    "netguard": 0,
    "origins": 0,
    "analysis": 1,
    "backends": 1,
    #: The page's routes and static files: imported by api, imports nothing of ours.
    "web": 1,
    "jobs": 2,
    "api": 3,
    "websocket": 3,
    "main": 4,
    "commands": 5,
    "cli": 6,
    #: A client program's library: imported by nothing of the service.
    "client": 6,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = (PACKAGE, *path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    return {name for name in found if name in known and name != module}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {module: _imports(module, path, known) for module, path in known.items()}


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_part_has_a_layer() -> None:
    groups = {_group(module) for module in _modules()} - {""}
    assert groups == set(LAYERS), "give new top-level modules a layer in LAYERS"


def test_imports_point_down() -> None:
    upward = []
    for module, targets in _graph().items():
        source = _group(module)
        for target in sorted(targets):
            into = _group(target)
            if into == source or "" in (source, into):
                continue
            if LAYERS[into] > LAYERS[source] or (
                LAYERS[into] == LAYERS[source] and LAYERS[source] != 0
            ):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_reader_sees_lazy_imports_and_modules_imported_from_packages() -> None:
    graph = _graph()
    # jobs/process.py imports the analysis and the guard inside functions.
    lazy = {"audio_service.analysis", "audio_service.netguard"}
    assert lazy <= graph["audio_service.jobs.process"]
    # ``from audio_service.analysis import features as ft`` is the module, not the package.
    assert "audio_service.analysis.features" in graph["audio_service.analysis.segment"]
    assert "audio_service.analysis" not in graph["audio_service.analysis.segment"]
