"""No import cycles between automl's modules, counting imports inside functions too.

Every module of the package is parsed (not imported), so the test covers modules whatever
their import cost, and sees `import` statements at any depth: module level, in functions,
under `if TYPE_CHECKING:`. `from automl.x import y` is an edge to automl.x.y when that is a
module, else to automl.x; a package's __init__ is the module named by the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import automl

ROOT = Path(automl.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _namespaces() -> set[str]:
    """Folders without an __init__.py: importing them runs no code."""
    return {
        ".".join(d.relative_to(ROOT.parent).parts)
        for d in ROOT.rglob("*")
        if d.is_dir() and not (d / "__init__.py").exists() and any(d.glob("*.py"))
    }


def _imports(tree: ast.AST):
    """Every import statement, at any depth, but those under `if TYPE_CHECKING:` (never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_imports(child)])
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """module -> the automl modules it imports (anywhere in its code)."""
    modules, namespaces = _modules(), _namespaces()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        own = _package_of(name, path)
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, `level - 1` up
                    package = own.split(".")
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, *([base] if base else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in modules and target not in namespaces:
                    target = target.rpartition(".")[0]  # `import automl.a.b.name`
                # Importing automl.a.b runs automl.a's __init__ first: an edge to each package
                # above the target too, but the importer's own (running already by then).
                if target in modules and target != name:
                    graph[name].add(target)
                parts = target.split(".")
                for i in range(2, len(parts)):
                    above = ".".join(parts[:i])
                    if above in modules and not (own + ".").startswith(above + "."):
                        graph[name].add(above)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "automl.study.search" in graph and "automl.models" in graph
    assert "automl.errors" in graph["automl.study.record"]  # module level
    assert "automl.study.storage" in graph["automl.reporting.build"]  # inside a function
    assert "automl.exporting" in graph["automl.inference"]  # the package of exporting.formats
    assert "automl.data" not in graph["automl.data.sources"]  # its own package: running
    assert not graph["automl"]  # `if TYPE_CHECKING:` imports never run


def test_find_cycle_names_the_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_point_one_way():
    """reporting reads studies, exporting reads model files, a model registers itself in the
    registry module: never the other way round."""
    graph = import_graph()

    def importers(prefix: str, target: str) -> list[str]:
        return sorted(
            m
            for m, targets in graph.items()
            if m.startswith(prefix)
            and any(t == target or t.startswith(target + ".") for t in targets)
        )

    assert importers("automl.study", "automl.reporting") == []
    assert importers("automl.exporting", "automl.inference") == []
    assert [
        m for m in importers("automl.models.", "automl.models") if "automl.models" in graph[m]
    ] == []
