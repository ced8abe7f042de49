"""The layers of envtrust point one way, and no two modules import each other.

    entry points (envtrust.cli, envtrust.commands)  the CLI starts the server, so it sits on top
      -> dashboard/                                  UI: the internal app and the public embeds
      -> envtrust/                                   the application: settings and services
      -> data/                                       the store: schema, SQL, ingest, HJ 212, generators
      -> analytics/                                  pure functions and detectors
      -> geo/                                        pure geometry

Every ``import`` counts, also one inside a function (that is how arrows against the order used to
hide). Run ``python tests/test_layers.py [REPO]`` to print the cross-layer imports as a table
(of this checkout, or of another one, e.g. an older commit in a worktree).
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES: tuple[str, ...] = ("dashboard", "envtrust", "data", "analytics", "geo")
ENTRY_MODULES: tuple[str, ...] = ("envtrust.cli", "envtrust.commands", "envtrust.__main__")
#: top to bottom; a module may import only from its own layer or a layer below
LAYERS: tuple[str, ...] = ("entry", "dashboard", "envtrust", "data", "analytics", "geo")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    if any(module == e or module.startswith(e + ".") for e in ENTRY_MODULES):
        return "entry"
    return module.split(".")[0]


def our_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imported_modules(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """Our modules that ``path`` imports (absolute and relative, at any depth of the file)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            hit = resolve(target)
            if hit is not None and hit != module:
                found.add(hit)
    return found


def import_graph() -> dict[str, set[str]]:
    known = our_modules()
    return {mod: imported_modules(path, mod, known) for mod, path in known.items()}


def arrows_against_the_order(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted(f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
                  for a, targets in graph.items() for b in targets
                  if rank[layer_of(a)] > rank[layer_of(b)])


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def cross_layer_counts(graph: dict[str, set[str]]) -> dict[tuple[str, str], int]:
    counts: collections.Counter = collections.Counter()
    for a, targets in graph.items():
        for b in targets:
            if layer_of(a) != layer_of(b):
                counts[(layer_of(a), layer_of(b))] += 1
    return dict(sorted(counts.items(), key=lambda kv: (LAYERS.index(kv[0][0]), LAYERS.index(kv[0][1]))))


def test_every_import_points_down_the_layers():
    assert arrows_against_the_order(import_graph()) == []


def test_no_two_modules_import_each_other():
    assert import_cycles(import_graph()) == []


def test_the_walker_sees_an_arrow_against_the_order_and_a_circle():
    graph = {"analytics.x": {"data.y"}, "data.y": {"analytics.x"}, "geo.z": set()}
    assert arrows_against_the_order(graph) == ["analytics.x (analytics) imports data.y (data)"]
    assert import_cycles(graph) == [["analytics.x", "data.y"]]


def test_pure_layers_read_no_environment():
    """analytics/ and geo/ take arguments; settings are read once at the top."""
    offenders = [f"{path.relative_to(REPO)}" for pkg in ("analytics", "geo")
                 for path in (REPO / pkg).rglob("*.py")
                 if "os.environ" in path.read_text(encoding="utf-8") or "getenv" in path.read_text(encoding="utf-8")]
    assert offenders == []


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        REPO = Path(sys.argv[1]).resolve()
    g = import_graph()
    print("importer  -> imported   modules")
    for (a, b), n in cross_layer_counts(g).items():
        print(f"{a:9s} -> {b:10s} {n:4d}")
    print("against the order:", arrows_against_the_order(g) or "none")
    print("circles:", import_cycles(g) or "none")
