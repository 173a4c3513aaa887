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
    """Every ``pingu`` module ``path`` imports, lazily or not, for types only
    (``if TYPE_CHECKING:``) or not: a circle of types is a circle all the same."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("pingu")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & modules.keys() - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected parts of more than one module (Tarjan's):
    each a set of modules that import one another in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for dep in sorted(graph[name]):
            if dep not in index:
                visit(dep)
                low[name] = min(low[name], low[dep])
            elif dep in stack:
                low[name] = min(low[name], index[dep])
        if low[name] == index[name]:
            part = set()
            while True:
                top = stack.pop()
                part.add(top)
                if top == name:
                    break
            if len(part) > 1:
                found.add(frozenset(part))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


#: Circles known and not undone yet, each to leave this list with its fix
#: (none: the last, request <-> tools, went with the tool registry).
KNOWN: set[frozenset[str]] = set()


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    new = [sorted(c) for c in cycles - KNOWN]
    assert not new, f"import cycles: {new}"
    gone = [sorted(c) for c in KNOWN - cycles]
    assert not gone, f"no longer circles: take them off KNOWN: {gone}"


def test_a_circle_of_type_only_imports_is_found(tmp_path: Path) -> None:
    """The test reads ``if TYPE_CHECKING:`` imports too."""
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from pingu.b import B\n")
    (tmp_path / "b.py").write_text("from pingu.a import A\n")
    graph = {"pingu.a": _imports(tmp_path / "a.py"), "pingu.b": _imports(tmp_path / "b.py")}
    graph = {name: deps & {"pingu.a", "pingu.b"} for name, deps in graph.items()}
    assert _cycles(graph) == {frozenset({"pingu.a", "pingu.b"})}


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
