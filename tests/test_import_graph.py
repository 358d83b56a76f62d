"""The import graph of the `commonplace` package, read from the source with `ast`.

Every `import` and `from ... import` naming a module of the package is an
edge, of one of three kinds: `top` (runs when the module is imported), `lazy`
(inside a function: runs when it is called) and `typing` (under
`if TYPE_CHECKING:`: never runs). A cycle through `top` or `lazy` edges is a
cycle, whether Python happens to survive it today or not; `typing` edges are
left out, since they never execute.

LAYERS is the layer rule, lowest layer first: a module may import its own
layer and those below it. Today only three of its consequences are asserted
(no cycle; no library module imports `cli`; only the store imports sqlite3);
when the packages move into their own folders, the prefixes change and
`test_layers_only_point_down` is switched on.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "commonplace"

# (layer, module prefixes), lowest first. A prefix names a module or a package
# and everything under it; the longest matching prefix decides.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "commonplace.errors",
            "commonplace.clock",
            "commonplace.markdown",
            "commonplace.frontmatter",
            "commonplace.redaction",
            "commonplace.safe_files",
            "commonplace.process",
            "commonplace.git",
            "commonplace.config",
            "commonplace.settings",
            "commonplace.choices",
            "commonplace.kb",
            "commonplace.owners",  # processes: who owns a run, is it alive
            "commonplace.capped",  # the one size cap on reviewer output
            "commonplace.local_cache",  # derived facts kept in the git folder
            # Where a store is (a path or a URL, masked): parsed with the
            # settings, it knows nothing of the backends below it.
            "commonplace.store.location",
        ),
    ),
    ("store", ("commonplace.store",)),
    ("protocol", ("commonplace.protocol",)),
    ("lifecycle", ("commonplace.lifecycle",)),
    ("runners", ("commonplace.runners",)),
    ("services", ("commonplace.workspace", "commonplace.services")),
    ("reports", ("commonplace.reports",)),
    ("cli", ("commonplace.cli",)),
)
# The only modules that may import a database driver (STYLE 5).
DATABASE_OWNERS = ("commonplace.store",)
DATABASE_DRIVERS = ("sqlite3",)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # a module of the package, or any other imported module
    kind: str  # "top", "lazy" or "typing"
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind, however deeply nested."""

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "typing")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "typing" if kind == "typing" else "lazy")
            else:
                yield from walk(child, kind)

    yield from walk(tree, "top")


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules a statement imports: for `from X import y`, `X.y` when that
    is a module of the package, else `X`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        parts = module.split(".")
        if modules()[module].name != "__init__.py":
            parts = parts[:-1]
        anchor = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    found = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        found.append(submodule if submodule in modules() else base)
    return found


@cache
def edges() -> tuple[Edge, ...]:
    found = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in _imports(tree):
            for target in _targets(module, node):
                found.append(Edge(module, target, kind, node.lineno))
    return tuple(found)


def internal(edge: Edge) -> bool:
    return edge.target == PACKAGE or edge.target.startswith(PACKAGE + ".")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that starts and ends at the same module."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def runtime_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for edge in edges():
        if edge.kind != "typing" and internal(edge) and edge.target != edge.source:
            graph[edge.source].add(edge.target)
    return graph


def layer_of(module: str) -> str | None:
    """The layer of the longest prefix naming `module`, or None."""
    matches = [
        (len(prefix), layer)
        for layer, prefixes in LAYERS
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


# --- the reader itself -----------------------------------------------------------


def test_the_reader_sees_every_kind_of_import() -> None:
    source = (
        "import os\n"
        "from commonplace import errors\n"
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from commonplace.lifecycle.targets import Plan\n"
        "else:\n"
        "    import json\n"
        "def f():\n"
        "    from commonplace.review.lifecycle import RunStatus\n"
        "    class C:\n"
        "        import commonplace.git\n"
        "    return RunStatus\n"
        "class K:\n"
        "    def m(self):\n"
        "        from ..store import Store\n"
    )
    found = [
        (target, kind)
        for node, kind in _imports(ast.parse(source))
        for target in _targets("commonplace.services.sweeps", node)
    ]
    assert found == [
        ("os", "top"),
        ("commonplace.errors", "top"),
        ("commonplace.lifecycle.targets", "typing"),
        ("json", "top"),
        ("commonplace.review.lifecycle", "lazy"),
        ("commonplace.git", "lazy"),
        ("commonplace.store", "lazy"),
    ]


def test_find_cycle_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": set(), "c": {"c2"}, "c2": {"c"}}) == [
        "c",
        "c2",
        "c",
    ]


def test_the_graph_is_read_from_the_real_package() -> None:
    assert len(modules()) > 50
    lazy = [e for e in edges() if e.kind == "lazy" and internal(e)]
    typing = [e for e in edges() if e.kind == "typing" and internal(e)]
    assert lazy and typing  # the package has both, so the reader must find both
    assert all(e.target in modules() or e.target == PACKAGE for e in edges() if internal(e))


# --- the rules ---------------------------------------------------------------------


def test_no_import_cycle_lazy_imports_included() -> None:
    cycle = find_cycle(runtime_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_no_library_module_imports_the_cli() -> None:
    offenders = [
        f"{e.source}:{e.line} ({e.kind}) imports {e.target}"
        for e in edges()
        if internal(e) and layer_of(e.target) == "cli" and layer_of(e.source) != "cli"
    ]
    assert offenders == []


def test_only_the_store_imports_a_database_driver() -> None:
    offenders = [
        f"{e.source}:{e.line} imports {e.target}"
        for e in edges()
        if e.target.split(".")[0] in DATABASE_DRIVERS
        and not any(e.source == o or e.source.startswith(o + ".") for o in DATABASE_OWNERS)
    ]
    assert offenders == []
    assert any(e.target == "sqlite3" for e in edges())  # the owner is seen importing it


def test_layers_only_point_down() -> None:
    rank = {layer: i for i, (layer, _) in enumerate(LAYERS)}
    unplaced = sorted(m for m in modules() if m != PACKAGE and layer_of(m) is None)
    assert unplaced == [], "modules in no layer of LAYERS"
    offenders = [
        f"{e.source} ({layer_of(e.source)}) imports {e.target} ({layer_of(e.target)})"
        for e in edges()
        if internal(e)
        and e.target != PACKAGE
        and e.kind != "typing"
        and rank[str(layer_of(e.target))] > rank[str(layer_of(e.source))]
    ]
    assert offenders == []
