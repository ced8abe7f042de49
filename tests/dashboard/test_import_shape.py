"""The dashboard's imports point one way: server on top, request_state at the bottom, no circles.

``dashboard.server`` builds the Flask app and installs :mod:`dashboard.request_state`; pages, auth
and callbacks read the request's cursor and user from there and never import the server. Every
import is at module level, so a missing module fails at start-up instead of inside a request.
Run with ``-s`` to see the dashboard's import graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "dashboard"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
            for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """module -> the dashboard modules it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name] |= {t for t in _targets(node) if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_inside_the_dashboard():
    graph = _graph(_modules())
    for name in sorted(graph):
        print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    assert _cycles(graph) == []


def test_nothing_in_the_dashboard_imports_the_server():
    graph = _graph(_modules())
    assert sorted(name for name, targets in graph.items() if "dashboard.server" in targets) == []


def test_request_state_and_auth_sit_at_the_bottom():
    graph = _graph(_modules())
    assert graph["dashboard.request_state"] == set()
    assert graph["dashboard.auth"] == {"dashboard.request_state"}


def test_public_embeds_never_import_the_internal_app():
    graph = _graph(_modules())
    leaks = {name: sorted(t for t in targets if t.startswith("dashboard.internal"))
             for name, targets in graph.items() if name.startswith("dashboard.public")}
    assert {name: t for name, t in leaks.items() if t} == {}


def test_every_import_is_at_module_level():
    hidden = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [f"{name}.{node.name}: {', '.join(_targets(inner)[:1])}" for inner in ast.walk(node)
                           if isinstance(inner, (ast.Import, ast.ImportFrom))]
    assert hidden == []
