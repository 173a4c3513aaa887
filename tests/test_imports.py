"""No module of the package imports another in a circle, and the domain
stays free of the reactor, Autobahn and the faces."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pingu"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``pingu`` module ``path`` imports, lazily or not, but for
    ``if TYPE_CHECKING:`` blocks (types only, never run)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("pingu")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & modules.keys() - {name} for name, path in modules.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_domain_imports_no_face_no_reactor_no_autobahn() -> None:
    domain = ["events", "limits", "refusal", "clients", "hosts", "special", "tools"]
    faces = ("pingu.websocket", "pingu.wamp", "pingu.site", "pingu.tap", "pingu.cli")
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if not any(name == f"pingu.{d}" or name.startswith(f"pingu.{d}.") for d in domain):
            continue
        text = path.read_text()
        assert "twisted.internet import reactor" not in text, name
        assert "autobahn" not in text, name
        assert not any(
            dep == face or dep.startswith(face + ".") for dep in _imports(path) for face in faces
        ), name
